"""Synthetic AVSBench datasets (exact masks) and helpers to import, export and compare them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ml_backend.media.synth import generate_dataset
from server.annotations.models import Annotation
from server.annotations.services import proposal_store
from server.media.models import Clip

SIZE = 64  # pixels per side: small frames keep the tests fast, the layouts are the real ones


@pytest.fixture(scope="session")
def datasets(tmp_path_factory):
    """`datasets(protocol)` → the root of a 6-clip synthetic dataset in that layout (written once per session;
    tests that damage a dataset copy it first, see `dataset_copy`)."""
    made: dict[str, Path] = {}

    def get(protocol: str) -> Path:
        if protocol not in made:
            root = tmp_path_factory.mktemp(f"synth_{protocol}")
            generate_dataset(root, clips=6, seed=3, layout=protocol, size=SIZE)
            made[protocol] = root
        return made[protocol]

    return get


@pytest.fixture
def dataset_copy(datasets, tmp_path):
    """`dataset_copy(protocol)` → a private copy of the dataset, free to damage."""
    import shutil

    def copy(protocol: str) -> Path:
        target = tmp_path / f"copy_{protocol}"
        shutil.copytree(datasets(protocol), target)
        return target

    return copy


@pytest.fixture
def import_dataset():
    """`import_dataset(project, root, protocol, *extra)` → (stdout, CommandError or None)."""

    def run(project, root: Path, protocol: str, *extra: str) -> tuple[str, CommandError | None]:
        out = io.StringIO()
        error = None
        try:
            call_command(
                "import_avsbench",
                "--project",
                project.name,
                "--root",
                str(root),
                "--protocol",
                protocol,
                *extra,
                stdout=out,
            )
        except CommandError as exc:
            error = exc
        return out.getvalue(), error

    return run


def stored_files(root: Path) -> list[str]:
    """Every file under the media root, as sorted relative paths."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def proposals_from_ground_truth(*, project, model_version) -> None:
    """A proposal of `model_version` for every clip: exactly its accepted annotations (score 1)."""
    for clip in Clip.objects.filter(project=project):
        frames = [
            {
                "frame_index": a.frame.index,
                "instances": [{"mask": i["mask"], "label": i["label"], "score": 1.0} for i in a.instances],
            }
            for a in Annotation.objects.filter(clip=clip, status=Annotation.Status.ACCEPTED).select_related("frame")
        ]
        proposal_store(clip=clip, model_version=model_version, frames=frames)
