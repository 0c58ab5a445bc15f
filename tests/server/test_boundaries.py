"""The web process never imports torch: it reaches ml_backend only through `ml_backend.serving`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys, django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # imports every view module
import server.media.services, server.media.tasks
heavy = sorted(m for m in ("torch", "transformers", "segment_anything") if m in sys.modules)
print(",".join(heavy))
"""


def test_web_process_imports_no_torch():
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "server.config.settings.test", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "", f"the web process imported {out.stdout.strip()}"
