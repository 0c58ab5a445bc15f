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
# Saving learning settings checks the student's settings as a training round would (no database needed here).
import server.learning.services
from server.core.errors import ApplicationError
from server.learning.training import student_settings_check
assert student_settings_check(kind="compact", settings={"epochs": 2}, field="student_config")["epochs"] == 2
try:
    student_settings_check(kind="av2t_sam", settings={"epochs": 0}, field="student_config")
except ApplicationError as exc:
    assert "student_config.epochs must be a positive integer" in exc.message, exc.message
else:
    raise AssertionError("epochs 0 was accepted")
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
