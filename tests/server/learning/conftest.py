"""Every learning test keeps its training folders (checkpoints, local copies of students) in its own tmp folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def training_dir(tmp_path, settings):
    settings.AVS_TRAINING_DIR = str(tmp_path / "training")
    return tmp_path / "training"
