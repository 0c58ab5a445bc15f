"""A real Label Studio 1.23.2 server for the bridge's tests (pytest plugin, registered in tests/conftest.py).

`labelstudio_server` (session scope) starts `var/labelstudio/bin/label-studio` (built by `make labelstudio`) on a
free 127.0.0.1 port with a fresh data folder and the offline environment of REFERENCES.md §3, waits for `/health`
(the first start migrates its SQLite database: up to LS_START_TIMEOUT seconds) and yields a `LabelStudioServer`
(`url`, `token`). The process group is stopped at the end of the session whatever happens. Without the binary the
fixture skips, naming the make command; with AVS_REQUIRE_SERVICES=1 (CI) it fails instead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.utils import require_service

REPO_ROOT = Path(__file__).resolve().parents[1]
LS_BINARY = REPO_ROOT / "var" / "labelstudio" / "bin" / "label-studio"
LS_START_TIMEOUT = float(os.environ.get("AVS_TEST_LS_START_TIMEOUT", "150"))
LS_USER = "ls-admin@example.com"
LS_PASSWORD = "ls-admin-password"
LS_TOKEN = "avs-test-token-0123456789"
MAKE_COMMAND = "make labelstudio"
# Variables of our own process that must not reach Label Studio's (it is another Django project, in its own venv).
_NOT_INHERITED = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def labelstudio_env(*, data_dir: Path) -> dict[str, str]:
    """The environment of an offline Label Studio on loopback (REFERENCES.md §3)."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED and not k.startswith("LABEL_STUDIO_")}
    files_root = data_dir / "files"
    files_root.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "LABEL_STUDIO_USERNAME": LS_USER,
            "LABEL_STUDIO_PASSWORD": LS_PASSWORD,
            "LABEL_STUDIO_USER_TOKEN": LS_TOKEN,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_ML_BLOCK_LOCAL_IP": "false",
            "LABEL_STUDIO_SSRF_PROTECTION_ENABLED": "false",
            "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(files_root),
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "LATEST_VERSION_CHECK": "false",
            "COLLECT_ANALYTICS": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass
class LabelStudioServer:
    """One running Label Studio; `restart()` stops it and starts it again on the same port and data folder."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    token: str = LS_TOKEN
    process: subprocess.Popen | None = None
    startup_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "label-studio.log"

    def start(self, *, timeout: float = LS_START_TIMEOUT) -> None:
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(LS_BINARY), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.data_dir,
                env=labelstudio_env(data_dir=self.data_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends every child it forked
            )
        try:
            self._wait_healthy(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def _wait_healthy(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Label Studio exited with status {self.process.returncode} while starting:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if json.loads(response.read() or b"{}").get("status") == "UP" and self._token_works():
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Label Studio did not answer /health within {timeout:.0f} s:\n{self.log_tail()}")

    def _token_works(self) -> bool:
        request = urllib.request.Request(f"{self.url}/api/projects/", headers={"Authorization": f"Token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status == 200
        except urllib.error.HTTPError:
            return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def labelstudio_server(tmp_path_factory) -> Iterator[LabelStudioServer]:
    """A real Label Studio 1.23.2 on 127.0.0.1 for this test session (fresh database), stopped at the end."""
    if not os.access(LS_BINARY, os.X_OK):
        require_service("Label Studio", f"{LS_BINARY.relative_to(REPO_ROOT)} is missing: run `{MAKE_COMMAND}`")
    server = LabelStudioServer(data_dir=tmp_path_factory.mktemp("labelstudio"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
