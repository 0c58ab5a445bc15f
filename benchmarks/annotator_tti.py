"""Time to interactive of the clip annotator on a 10-frame clip, in headless Chromium.

    .venv/bin/python benchmarks/annotator_tti.py [--runs 5] [--clip VIDEO]

Builds nothing: it needs the built bundle (`make frontend`), node, playwright-core (frontend/node_modules)
and /usr/bin/chromium. In a temporary folder it creates an SQLite database and a media root, seeds them
with `server.core.demo.demo_seed` (the demo users and a project at 2 fps, so the 5-second demo clip
gives 10 frames, plus the synchrony baseline's proposal), then starts its own web server on
127.0.0.1 (`manage.py runserver --noreload --insecure`, DEBUG off, a free port) and stops it at the end.

`frontend/e2e/tti.mjs` signs in once and opens `/clips/{id}?frame=0` `--runs` times, each in a fresh
browser context (cold HTTP cache, the session cookie kept), reading Performance timing from navigation
start to: DOMContentLoaded, the load event, and the annotator's own readiness signal, the root's
`data-ready="true"` (the frame image drawn and the tools enabled). Medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_CLIP = (
    Path(os.environ.get("AVS_SHARED_DIR", ROOT.parent / "shared")) / "media" / "avsbench-demo" / "0BLiYNtFSjA.mp4"
)
PASSWORD = "bench-pass-word"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="Page opens (median kept).")
    parser.add_argument("--clip", type=Path, default=DEMO_CLIP, help="Video to annotate (5 s at 2 fps: 10 frames).")
    parser.add_argument("--fps", type=float, default=2.0, help="Project frame rate.")
    args = parser.parse_args()
    node = shutil.which("node")
    missing = [
        what
        for what, present in (
            ("frontend/dist/index.html (run `make frontend`)", (ROOT / "frontend" / "dist" / "index.html").is_file()),
            ("node", node is not None),
            (
                "frontend/node_modules/playwright-core (run `make install`)",
                (ROOT / "frontend/node_modules/playwright-core").is_dir(),
            ),
            ("/usr/bin/chromium", Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")).is_file()),
            (f"{args.clip} (set AVS_SHARED_DIR or pass --clip)", args.clip.is_file()),
        )
        if not present
    ]
    if missing:
        sys.exit("missing: " + "; ".join(missing))

    work = tempfile.TemporaryDirectory(prefix="avs-bench-tti-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.config.settings.local",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": f"sqlite:///{work.name}/bench.sqlite3",
        "AVS_MEDIA_ROOT": f"{work.name}/media",
        "AVS_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from server.core.demo import demo_seed

    call_command("migrate", verbosity=0)
    demo = demo_seed(password=PASSWORD, clip_path=args.clip, fps=args.fps)
    frames = demo.clip.frames.count()
    frame = demo.clip.frames.first()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server_log = open(Path(work.name) / "server.log", "w")  # closed in finally
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure"],
        cwd=ROOT,
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(f"{base_url}/login")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(
            f"Python {platform.python_version()}, node {subprocess.check_output([node, '--version'], text=True).strip()}, "
            f"{cores} cores, load average {os.getloadavg()[0]:.2f}; runserver (DEBUG off) on {base_url}; "
            f"clip of {frames} frames, {frame.width}x{frame.height}; {args.runs} cold-cache opens"
        )
        result = subprocess.run(
            [node, str(ROOT / "frontend" / "e2e" / "tti.mjs")],
            cwd=ROOT,
            env={
                **env,
                "BASE_URL": base_url,
                "USERNAME": "annotator",
                "PASSWORD": PASSWORD,
                "CLIP_ID": str(demo.clip.pk),
                "RUNS": str(args.runs),
            },
            capture_output=True,
            text=True,
            timeout=120 + 60 * args.runs,
        )
        if result.returncode != 0:
            server_log.flush()
            log = (Path(work.name) / "server.log").read_text()[-4000:]
            sys.exit(f"tti.mjs failed:\n{result.stdout}\n{result.stderr}\n--- server log ---\n{log}")
        rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        runs = [row for row in rows if "run" in row]
        print(f"{'navigation start to':<34}{'median ms':>11}{'min ms':>9}{'max ms':>9}")
        for key, name in (
            ("dom_content_loaded_ms", "DOMContentLoaded"),
            ("load_ms", "load event"),
            ("ready_ms", 'annotator data-ready="true"'),
        ):
            values = [row[key] for row in runs]
            print(f"{name:<34}{statistics.median(values):>11.0f}{min(values):>9.0f}{max(values):>9.0f}")
        print(
            f"requests per open: {statistics.median(r['requests'] for r in runs):.0f}, "
            f"transferred: {statistics.median(r['transfer_kb'] for r in runs):.0f} KiB"
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        server_log.close()
        work.cleanup()


if __name__ == "__main__":
    main()
