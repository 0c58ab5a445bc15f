"""scripts/check_prereqs.sh: `make run` / `make test` stop first, with one line per missing tool and how to install it.

The script runs with a PATH holding only the tools a test gives it (links to the real ones), so a missing tool is
really missing for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils import require_service

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_prereqs.sh"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def real() -> dict[str, str]:
    """Paths of the real tools the project needs (the browser tests need them too)."""
    found = {name: shutil.which(name) for name in ("node", "npm")}
    for name, path in found.items():
        if path is None:
            require_service(name, f"{name} is not on PATH (Node 20 with npm builds the web app)")
    if not os.access(CHROMIUM, os.X_OK):
        require_service("Chromium", f"{CHROMIUM} is missing")
    return {**{name: str(path) for name, path in found.items()}, "python3": sys.executable, "chromium": CHROMIUM}


def tools(tmp_path: Path, links: dict[str, str]) -> Path:
    """A folder holding only `links` (name -> target), to be the whole PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, target in links.items():
        (folder / name).symlink_to(target)
    return folder


def check(path: Path, *args: str, chromium: str = CHROMIUM, venv: str = "no-such-venv") -> subprocess.CompletedProcess:
    """Run the check as the Makefile does (with an absolute /bin/sh), with PATH = `path` only."""
    env = {"PATH": str(path), "VENV": venv, "CHROMIUM_PATH": chromium, "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        ["/bin/sh", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_everything_present_passes_silently(tmp_path, real):
    result = check(tools(tmp_path, {name: real[name] for name in ("python3", "node", "npm")}), "--browser")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_node_missing_is_one_line_saying_how_to_install_it(tmp_path, real):
    result = check(tools(tmp_path, {"python3": real["python3"], "npm": real["npm"]}), "--browser")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Node.js 20 or newer missing (node not found")
    assert "curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash - && sudo apt-get install -y nodejs" in line
    assert "brew install node@20 (macOS)" in line


def test_an_old_node_is_named_with_its_version(tmp_path, real):
    old_node = tmp_path / "node18"
    old_node.write_text("#!/bin/sh\necho v18.19.0\n")
    old_node.chmod(0o755)
    result = check(tools(tmp_path, {"python3": real["python3"], "npm": real["npm"], "node": str(old_node)}))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Node.js 20 or newer needed (node is v18.19.0). Install: ")


def test_each_missing_thing_gets_its_own_line(tmp_path, real):
    result = check(tools(tmp_path, {"node": real["node"]}), "--browser", chromium=str(tmp_path / "no-chromium"))
    assert result.returncode == 1
    python, npm, chromium = result.stderr.splitlines()
    assert python.startswith("Python 3.11 or newer missing (python3 not found). Install: ")
    assert "sudo apt-get install python3 python3-venv" in python and "brew install python@3.11" in python
    assert npm.startswith("npm missing") and "sudo apt-get install npm" in npm
    assert chromium.startswith("Chromium missing for the browser tests")
    assert "sudo apt-get install chromium" in chromium and "brew install --cask chromium" in chromium


def test_chromium_is_checked_only_for_the_browser_tests(tmp_path, real):
    path = tools(tmp_path, {name: real[name] for name in ("python3", "node", "npm")})
    assert check(path, chromium=str(tmp_path / "no-chromium")).returncode == 0
    assert check(path, "--browser", chromium=str(tmp_path / "no-chromium")).returncode == 1


def test_an_existing_virtual_environment_is_the_python_checked(tmp_path, real):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(real["python3"])
    path = tools(tmp_path, {"node": real["node"], "npm": real["npm"]})  # no python3 on PATH: not needed
    result = check(path, venv=str(venv))
    assert (result.returncode, result.stderr) == (0, "")


def test_make_run_and_make_test_check_first(tmp_path, real):
    make = shutil.which("make")
    if make is None:
        require_service("make", "make is not on PATH")
    assert make is not None
    env = {**os.environ, "PATH": str(tools(tmp_path, {"python3": real["python3"], "npm": real["npm"]}))}
    for target, flags in (("run", ""), ("test", " --browser")):
        planned = subprocess.run(
            [make, "--no-print-directory", "-n", target], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        ).stdout.splitlines()
        assert planned[0].rstrip().endswith(f"scripts/check_prereqs.sh{flags}"), planned[:3]
    # Run for real, the check stops the build before anything is made.
    stopped = subprocess.run(
        [make, "--no-print-directory", "prereqs"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert stopped.returncode != 0
    assert [line for line in stopped.stderr.splitlines() if not line.startswith("make")] == [
        line for line in check(Path(env["PATH"])).stderr.splitlines()
    ]
