"""`make screenshots`: the README's pictures of the main screens, taken from a seeded demo so they stay current.

    python scripts/screenshots.py [--out docs/screenshots] [--work var/screenshots]

Everything runs in a throwaway folder (`--work`, default var/screenshots/: SQLite database, media, broker folder,
training folder), wiped at the start; the data of `make run` under var/ is never read or written.

1. migrate, `manage.py seed_demo` (project "Demo", users manager / annotator / reviewer, a clip and its proposal);
2. stage the rest of the scene with the product's own services (`--stage`, a child process): more demo clips
   ingested, three of them pre-annotated and their corrected proposals accepted by the reviewer, a small
   self-training round run to its end, a pre-annotation job left running (one clip proposed, two still queued:
   no worker runs here), and frames of two clips submitted for review;
3. `manage.py runserver` on 127.0.0.1, on a free port;
4. Chromium, driven by frontend/e2e/screenshots.mjs, writes project.png, annotator.png, review.png and models.png
   (1280×800) into `--out`;
5. the server is stopped, whatever happened; PNGs over 300 KB are re-encoded smaller; each is checked.

Exit status 0 when every screen was captured, 1 otherwise (saying which, with the browser's output).
Needs node with frontend/node_modules (playwright-core), Chromium (CHROMIUM_PATH, default /usr/bin/chromium), the
built web app (frontend/dist) and the shared demo clips (AVS_SHARED_DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCREENS = ("project", "annotator", "review", "models")
VIEWPORT = (1280, 800)
MAX_BYTES = 300 * 1024
MIN_COLOURS = 64  # a blank or half-painted page has far fewer distinct colours than any of these screens
PASSWORD = "demo-pass"
MARKER = ".screenshots-work"  # only a folder carrying it is wiped
SERVER_START_S = 90
NODE_TIMEOUT_S = 240

# Clips of the shared demo folder (media/avsbench-demo/): the split rule (seed 0, 20 % held out) puts
# QYbisnpKlQ on the held-out side, the two others on the train side.
LABELLED_CLIPS = ("GrqTKuk8x4.mp4", "QYbisnpKlQ.mp4", "p04SYXuBSQ.mp4")
LIVE_JOB_CLIPS = ("O7xnnBye7RM.mp4", "0meOlo03O3g.mp4", "YYbShzoZWRo.mp4")
SUBMITTED_FRAMES = (0, 1, 2)  # of the demo clip; the annotator is shown on frame 3, still untouched
ANNOTATOR_FRAME = 3


def child_env(work: Path) -> dict[str, str]:
    """The environment of every child process: the throwaway database, media, broker and training folders."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "server.config.settings.local",
            "DJANGO_DEBUG": "true",  # runserver serves the web app's static files
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
            "AVS_MEDIA_ROOT": str(work / "media"),
            "AVS_TRAINING_DIR": str(work / "training"),
            "CELERY_BROKER_URL": "filesystem://",
            "AVS_BROKER_FOLDER": str(work / "broker"),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "AVS_CACHE_URL": "locmemcache://",
            "AVS_MODEL_CONFIG": "",  # the weight-free baseline proposes: the same pictures on every machine
            "AVS_DEMO_PASSWORD": PASSWORD,
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# --- the scene (runs in a child process with Django set up) ------------------------------------------------


def dilated(mask: Any, steps: int) -> Any:
    """`mask` (H, W) bool grown by `steps` pixels (4-neighbourhood, one pixel per step)."""
    grown = mask.copy()
    for _ in range(steps):
        step = grown.copy()
        step[1:] |= grown[:-1]
        step[:-1] |= grown[1:]
        step[:, 1:] |= grown[:, :-1]
        step[:, :-1] |= grown[:, 1:]
        grown = step
    return grown


def stage(work: Path) -> dict[str, Any]:
    """Seed the demo and build the scene the screens show; returns the ids the browser script needs."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction

    from ml_backend.students.compact import tiny_config
    from server.accounts.models import Role
    from server.annotations.models import Annotation, Proposal
    from server.annotations.preannotation import clip_preannotate, preannotate_request, preannotate_run
    from server.annotations.services import annotation_update, review_create
    from server.core.demo import DEMO_PROJECT, DEMO_USERS, demo_clip_ensure, shared_dir
    from server.core.masks import rle_decode, rle_encode
    from server.learning.models import LearningSettings
    from server.learning.training import training_round_run, training_round_start
    from server.media.models import Project

    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", password=PASSWORD)
    project = Project.objects.get(name=DEMO_PROJECT)
    users = {u.username: u for u in get_user_model().objects.filter(username__in=DEMO_USERS)}
    manager, annotator, reviewer = users["manager"], users["annotator"], users["reviewer"]
    demo_clip = project.clips.order_by("id").first()
    folder = shared_dir() / "media" / "avsbench-demo"

    def submit(clip: Any, frame_indexes: Any, *, accept: bool) -> None:
        """The annotator corrects the latest proposal on these frames (one mask per label: the proposal's pieces
        joined and grown to the object's outline) and submits; the reviewer accepts when `accept`."""
        proposal = Proposal.objects.filter(clip=clip).order_by("-id").first()
        by_index = {f["frame_index"]: f.get("instances") or [] for f in proposal.frames}
        for frame in clip.frames.filter(index__in=frame_indexes).order_by("index"):
            joined: dict[str, Any] = {}
            for instance in by_index.get(frame.index, []):
                mask = rle_decode(instance["mask"])
                joined[instance["label"]] = joined[instance["label"]] | mask if instance["label"] in joined else mask
            grow = max(2, min(frame.width, frame.height) // 30)
            instances = [{"mask": rle_encode(dilated(m, grow)), "label": label} for label, m in joined.items()]
            annotation = annotation_update(
                frame=frame,
                user=annotator,
                role=Role.ANNOTATOR,
                instances=instances,
                version=None,
                status=Annotation.Status.SUBMITTED,
                time_spent_delta=40.0 + 7 * frame.index,
                source_proposal_id=proposal.pk,
            )
            if accept:
                with transaction.atomic():
                    review_create(
                        annotation_id=annotation.pk,
                        reviewer=reviewer,
                        verdict="accept",
                        comment="",
                        annotation_version=annotation.version,
                    )

    # Three more clips, pre-annotated by a real job, their proposals accepted: the round's training data.
    labelled = [demo_clip_ensure(project=project, path=folder / name, user=manager) for name in LABELLED_CLIPS]
    job = preannotate_request(project=project, user=manager, clip_ids=[c.pk for c in labelled], enqueue=False)
    preannotate_run(job_id=job.pk)
    for clip in labelled:
        submit(clip, clip.frames.values_list("index", flat=True), accept=True)
    submit(demo_clip, SUBMITTED_FRAMES, accept=False)  # waiting on the review page

    # A small self-training round (the compact student's tiny settings: seconds on a CPU), run to its end.
    tiny = {k: v for k, v in vars(tiny_config(epochs=8)).items() if isinstance(v, bool | int | float | str)}
    tiny.pop("kind", None)
    LearningSettings.objects.update_or_create(project=project, defaults={"student_config": tiny})
    training_round = training_round_start(project=project, user=manager, student_kind="compact", enqueue=False)
    training_round = training_round_run(round_id=training_round.pk)
    if training_round is None or training_round.status != "succeeded":
        raise RuntimeError(f"the demo training round did not succeed: {training_round and training_round.error}")

    # A live job: three clips to pre-annotate, the first done, the others queued (no worker takes them).
    live = [demo_clip_ensure(project=project, path=folder / name, user=manager) for name in LIVE_JOB_CLIPS]
    job = preannotate_request(project=project, user=manager, clip_ids=[c.pk for c in live], enqueue=False)
    clip_preannotate(job_id=job.pk, clip_id=live[0].pk)
    submit(live[0], live[0].frames.values_list("index", flat=True), accept=False)
    job.refresh_from_db()
    if job.status != "running":
        raise RuntimeError(f"the demo pre-annotation job is {job.status}, not running: {job.error or job.message}")

    return {
        "project": project.pk,
        "clip": demo_clip.pk,
        "frame": ANNOTATOR_FRAME,
        "live_job": job.pk,
        "round": training_round.pk,
        "submitted": len(SUBMITTED_FRAMES) + live[0].frames.count(),
    }


# --- processes --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_server(server: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the web server exited with code {server.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the web server did not answer {url} within {SERVER_START_S} s")


def stop(process: subprocess.Popen | None) -> None:
    """Stop a child started in its own session (its process group), politely first."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def shrink(path: Path) -> None:
    """Re-encode a PNG over MAX_BYTES: losslessly optimised first, then with a 256-colour palette."""
    from PIL import Image

    if path.stat().st_size <= MAX_BYTES:
        return
    with Image.open(path) as image:
        image.load()
    image.save(path, optimize=True)
    if path.stat().st_size > MAX_BYTES:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def problems_of(path: Path) -> str | None:
    """Why `path` is not a usable screenshot (missing, not a PNG, wrong size, blank), or None."""
    from PIL import Image

    if not path.is_file():
        return "missing"
    try:
        with Image.open(path) as image:
            image.load()
            if image.format != "PNG":
                return f"not a PNG ({image.format})"
            if image.size != VIEWPORT:
                return f"{image.size[0]}×{image.size[1]}, not {VIEWPORT[0]}×{VIEWPORT[1]}"
            colours = image.convert("RGB").getcolors(maxcolors=MIN_COLOURS)
    except OSError as exc:
        return f"unreadable: {exc}"
    if colours is not None:
        return f"nearly blank: {len(colours)} colours"
    return None


def prepare_work(work: Path) -> None:
    if work.exists():
        if any(work.iterdir()) and not (work / MARKER).is_file():
            raise RuntimeError(f"{work} exists and is not a screenshots work folder: choose another --work")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / MARKER).write_text("Throwaway data of scripts/screenshots.py; wiped at each run.\n")


def check_tools() -> str:
    node = shutil.which("node")
    chromium = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
    missing = []
    if node is None:
        missing.append("node (Node.js 20)")
    if not chromium.is_file():
        missing.append(f"Chromium at {chromium} (set CHROMIUM_PATH)")
    if not (ROOT / "frontend" / "node_modules" / "playwright-core").is_dir():
        missing.append("frontend/node_modules/playwright-core (make install)")
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        missing.append("the built web app frontend/dist (make frontend)")
    if missing:
        raise RuntimeError("missing: " + "; ".join(missing))
    assert node is not None
    return node


def capture(out: Path, work: Path) -> list[str]:
    """Steps 1–5 of the module docstring; returns the problems found (empty: every screen was captured)."""
    node = check_tools()
    prepare_work(work)
    env = child_env(work)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--stage", "--work", str(work)], cwd=ROOT, env=env, check=True
    )
    scene = json.loads((work / "scene.json").read_text())
    print(f"scene staged in {time.monotonic() - started:.0f} s: {scene}", flush=True)

    out.mkdir(parents=True, exist_ok=True)
    for name in SCREENS:
        (out / f"{name}.png").unlink(missing_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = node_run = None
    log = (work / "server.log").open("w")
    try:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_server(server, f"{base_url}/login")
        print(f"serving the demo at {base_url}", flush=True)
        node_env = {
            **env,
            "BASE_URL": base_url,
            "OUT_DIR": str(out),
            "SCREENSHOT_DIR": str(work / "failures"),
            "PASSWORD": PASSWORD,
            "PROJECT_ID": str(scene["project"]),
            "CLIP_ID": str(scene["clip"]),
            "FRAME_INDEX": str(scene["frame"]),
            "ROUND_ID": str(scene["round"]),
            "SUBMITTED": str(scene["submitted"]),
            "E2E_TIMEOUT_MS": str((NODE_TIMEOUT_S - 30) * 1000),
        }
        node_run = subprocess.Popen(
            [node, str(ROOT / "frontend" / "e2e" / "screenshots.mjs")], cwd=ROOT, env=node_env, start_new_session=True
        )
        try:
            node_run.wait(timeout=NODE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"the browser script did not finish within {NODE_TIMEOUT_S} s", file=sys.stderr)
    finally:
        stop(node_run)
        stop(server)
        log.close()

    problems = []
    for name in SCREENS:
        path = out / f"{name}.png"
        if path.is_file():
            shrink(path)
        problem = problems_of(path)
        if problem:
            problems.append(f"{path}: {problem}")
        else:
            print(f"{path}: {path.stat().st_size // 1024} KB", flush=True)
    if node_run is not None and node_run.returncode != 0 and not problems:
        problems.append(f"the browser script failed (exit {node_run.returncode})")
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)
    return problems


def _interrupted(*_: object) -> None:
    """SIGTERM (from make, CI) unwinds like Ctrl-C, so the server is stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "screenshots", help="the throwaway folder")
    parser.add_argument("--stage", action="store_true", help=argparse.SUPPRESS)  # step 2, in the child process
    args = parser.parse_args(argv)
    work = args.work.resolve()

    if args.stage:
        sys.path.insert(0, str(ROOT))
        (work / "scene.json").write_text(json.dumps(stage(work)))
        return 0

    signal.signal(signal.SIGTERM, _interrupted)
    try:
        problems = capture(args.out.resolve(), work)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        problems = [str(exc)]
    for problem in problems:
        print(f"screenshots: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
