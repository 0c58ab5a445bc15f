"""`make screenshots` keeps working: scripts/screenshots.py seeds the demo into a throwaway folder, serves it and
captures the README's four screens with Chromium.

The script runs as `make screenshots` runs it, but writes into the test's temporary folder; its own checks (the
running job is on the project page, every submitted frame on the review page, the round has succeeded) make it
exit non-zero, which fails this test with its output.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.media_files import SHARED_DIR
from tests.utils import require_service

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "screenshots.py"
SCREENS = ("project", "annotator", "review", "models")
TIMEOUT_S = 480  # the scene (ingest, pre-annotation, a tiny training round) and four pages, on a slow machine


def load_script():
    spec = importlib.util.spec_from_file_location("screenshots_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def browser_tools() -> None:
    if shutil.which("node") is None:
        require_service("node", "the screenshots are taken by a playwright-core script run with node (Node 20)")
    if not Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")).is_file():
        require_service("Chromium", "no Chromium at CHROMIUM_PATH (Debian: apt-get install chromium)")
    if not (ROOT / "frontend" / "node_modules" / "playwright-core").is_dir():
        require_service("playwright-core", "frontend/node_modules has no playwright-core: run `make install`")
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        pytest.fail("frontend/dist/index.html is missing: build the web app with `make frontend` first.")


def test_make_screenshots_captures_the_four_screens(browser_tools, tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--out", str(out), "--work", str(work)],
        cwd=ROOT,
        env={**os.environ, "AVS_SHARED_DIR": str(SHARED_DIR)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"scripts/screenshots.py hung and was killed:\n{output[-6000:]}")
    assert process.returncode == 0, f"scripts/screenshots.py failed:\n{output[-6000:]}"
    assert "PASS screenshots" in output

    for name in SCREENS:
        path = out / f"{name}.png"
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (1280, 800), f"{name}: {image.format} {image.size}"
            colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert len(colours) > 200, f"{name}.png looks blank: {len(colours)} colours"
        assert path.stat().st_size <= 300 * 1024, f"{name}.png is {path.stat().st_size // 1024} KB"
    # The demo lived in the work folder, and its server was stopped.
    assert (work / "db.sqlite3").is_file() and (work / "media").is_dir()
    url = re.search(r"serving the demo at (http://127\.0\.0\.1:(\d+))", output)
    assert url, output[-3000:]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(url.group(2))), timeout=2):
        pass


def test_a_folder_that_is_not_its_own_is_never_wiped(tmp_path):
    script = load_script()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "avs_studio.sqlite3").write_bytes(b"someone's data")
    with pytest.raises(RuntimeError, match="is not a screenshots work folder"):
        script.prepare_work(mine)
    assert (mine / "avs_studio.sqlite3").read_bytes() == b"someone's data"

    script.prepare_work(tmp_path / "work")  # a new folder is made and marked; the next run may wipe it
    (tmp_path / "work" / "db.sqlite3").write_bytes(b"old demo")
    script.prepare_work(tmp_path / "work")
    assert [p.name for p in (tmp_path / "work").iterdir()] == [script.MARKER]
