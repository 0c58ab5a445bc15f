"""The web process tells which proposer a project runs, and queues a pre-annotation, without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json, sys, django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient
from server.accounts.services import project_create
from server.media.models import Clip

call_command("migrate", verbosity=0)
user = get_user_model().objects.create_user("manager", password="pass-word-123")
project = project_create(user=user, name="p")
project.model_config = sys.argv[1]
project.save()
Clip.objects.create(project=project, name="a.mp4", checksum="0" * 64, status="ready", has_audio=True)
client = APIClient(HTTP_HOST="localhost")  # an allowed host of the local settings
client.force_authenticate(user)
proposer = client.get(f"/api/projects/{project.pk}/").json()["proposer"]
queued = client.post(f"/api/projects/{project.pk}/preannotate/", {}, format="json")
heavy = sorted(m for m in ("torch", "transformers", "segment_anything") if m in sys.modules)
print(json.dumps({"proposer": proposer, "status": queued.status_code, "heavy": heavy}))
"""


def test_project_proposer_and_preannotate_request_import_no_torch(tiny_model_config, tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "server.config.settings.local",  # a web process: filesystem broker, SQLite
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "AVS_BROKER_FOLDER": str(tmp_path / "broker"),
        "AVS_MEDIA_ROOT": str(tmp_path / "media"),
        "AVS_LOG_LEVEL": "WARNING",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tiny_model_config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["proposer"]["kind"] == "openavs" and report["proposer"]["reason"] is None
    assert report["status"] == 202
    assert report["heavy"] == [], f"the web process imported {report['heavy']}"
    assert list((tmp_path / "broker").iterdir()), "the task was queued on the broker"
