"""A real `celery worker --pool solo` process for integration tests, its log in a file."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Worker:
    """One worker process of the project's Celery app on `queues`, named `<name>@127.0.0.1`. `task` is the task
    whose ids `task_ids` reads from the log."""

    def __init__(self, name: str, env: dict[str, str], log: Path, *, queues: Sequence[str], task: str):
        self.task = task
        self.log_path = log
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "server.config", "worker", "-Q", ",".join(queues)]
            + ["--pool", "solo", "--hostname", f"{name}@127.0.0.1"]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log_path.read_text()

    def task_ids(self, event: str) -> list[str]:
        """Ids of the `task` runs this worker logged as `event` ("received" or "succeeded")."""
        return re.findall(rf"{re.escape(self.task)}\[([0-9a-f-]+)\] {event}", self.text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
