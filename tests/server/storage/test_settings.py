"""The object-storage settings fail loudly, naming the setting to fix, when they cannot work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings


def check(**env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AVS_S3_") and k != "AVS_MEDIA_STORAGE"}
    environ.update(DJANGO_SETTINGS_MODULE="server.config.settings.local", **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=django_settings.BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"AVS_MEDIA_STORAGE": "storages.backends.s3.S3Storage"},
            "AVS_MEDIA_STORAGE is storages.backends.s3.S3Storage: set AVS_S3_BUCKET to the media bucket's name",
        ),
        ({"AVS_MEDIA_DELIVERY": "presigned"}, "AVS_MEDIA_DELIVERY must be 'stream' or 'redirect', not 'presigned'."),
        ({"AVS_S3_ADDRESSING_STYLE": "host"}, "AVS_S3_ADDRESSING_STYLE must be 'auto', 'path' or 'virtual'"),
    ],
)
def test_unusable_storage_settings_stop_the_start_with_a_message(env, message):
    result = check(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_a_bucket_configuration_passes_the_checks():
    result = check(
        AVS_MEDIA_STORAGE="storages.backends.s3.S3Storage",
        AVS_S3_BUCKET="avs-media",
        AVS_S3_ENDPOINT_URL="http://127.0.0.1:9",
        AVS_S3_ADDRESSING_STYLE="path",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
