"""Fixtures for pre-annotation: synthetic AV clips (ml_backend.media.synth) ingested into a project for real.

Synthetic clips are 224×224, 5 s at 1 fps with an AAC track; `silent_video` is a small video with no audio
track. Clips are ingested with the ingest service in the test process (frames and audio in the test's media
root), so pre-annotation reads their stored sources exactly as in production.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files import File

from server.media.models import Clip, Project
from server.media.services import clip_create_from_file, clip_ingest
from tests.media_files import make_video

SYNTH_CLIPS = 4
SYNTH_SIZE = 224


@pytest.fixture(scope="session")
def synth_videos(tmp_path_factory) -> list[Path]:
    """Four synthetic mp4s (224×224, 5 s, h264 + AAC mono), generated once per test session."""
    from ml_backend.media.synth import generate_dataset

    out = tmp_path_factory.mktemp("synth")
    dataset = generate_dataset(out, clips=SYNTH_CLIPS, seed=3, layout="s4", frames=5, size=SYNTH_SIZE)
    return [dataset.videos[vid] for vid in sorted(dataset.videos)]


@pytest.fixture(scope="session")
def silent_video(tmp_path_factory) -> Path:
    """A 3 s, 10 fps, 64×48 video without an audio track."""
    return make_video(tmp_path_factory.mktemp("silent") / "no-audio.mp4", seconds=3.0, fps=10)


def ingest(project: Project, path: Path) -> Clip:
    """Upload and ingest `path` into `project` in this process; the clip is ready."""
    with path.open("rb") as handle:
        clip, job, created = clip_create_from_file(
            project=project, file=File(handle, name=path.name), name=path.name, enqueue=False
        )
    assert created and job is not None
    clip_ingest(clip_id=clip.pk, job_id=job.pk)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY, clip.error
    return clip


@pytest.fixture
def ingest_clip():
    return ingest


@pytest.fixture
def synth_clips(project, synth_videos) -> list[Clip]:
    """The first three synthetic videos ingested into `project` (5 frames of 224×224 each)."""
    return [ingest(project, path) for path in synth_videos[:3]]


@pytest.fixture
def tiny_project(project, tiny_model_config) -> Project:
    """`project` configured with the tiny random OpenAVS models (Project.model_config)."""
    project.model_config = str(tiny_model_config)
    project.save(update_fields=["model_config"])
    return project


@pytest.fixture
def no_default_models(settings):
    """AVS_MODEL_CONFIG unset: only Project.model_config can name models."""
    settings.AVS_MODEL_CONFIG = ""
