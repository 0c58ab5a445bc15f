"""`make run`: migrate, create the first admin, then run the web server and one Celery worker.

Embedded defaults: SQLite under var/, kombu's filesystem broker under var/broker, media under
var/media. Ctrl-C stops both processes. AVS_HOST / AVS_PORT choose the address (127.0.0.1:8000).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, check=True)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.config.settings.local")
    (ROOT / "var").mkdir(exist_ok=True)
    host = os.environ.get("AVS_HOST", "127.0.0.1")
    port = os.environ.get("AVS_PORT", "8000")

    _manage("migrate", "--noinput", "-v", "0")
    _manage("ensure_admin")

    web = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "runserver", f"{host}:{port}", "--noreload"], cwd=ROOT
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "server.config",
            "worker",
            "-Q",
            "ingest,inference,training",
            "--concurrency",
            os.environ.get("AVS_WORKER_CONCURRENCY", "1"),
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
    )
    print(f"AVS Studio: http://{host}:{port}/  API docs: http://{host}:{port}/api/docs/  (Ctrl-C stops)", flush=True)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        for name, proc in (("web server", web), ("worker", worker)):
            if proc.poll() is not None:
                print(f"The {name} exited with code {proc.returncode}; stopping.", file=sys.stderr)
                code = proc.returncode or 1
                stopping = True
        time.sleep(0.5)
    for proc in (web, worker):
        if proc.poll() is None:
            proc.terminate()
    for proc in (web, worker):
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
