"""The demo data set: a project "Demo" with three users, one ingested clip and a proposal.

`demo_seed` is what `manage.py seed_demo` runs and what the browser tests seed with. It is idempotent:
run again, it finds what exists and adds only what is missing (users keep their passwords unless a
password is given).

    users      manager (manager), annotator (annotator), reviewer (reviewer)
    project    "Demo", labels from DEMO_LABELS
    clip       a demo clip from the team's shared folder (AVS_SHARED_DIR, else ../shared beside the
               checkout), ingested synchronously (no Celery worker needed)
    proposal   the ML backend's weight-free synchrony baseline through `ml_backend.serving.propose_clip`
               under a ModelVersion; if that cannot run, a fixture proposal (a centred ellipse per frame)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from ml_backend.serving import model_info
from server.accounts.models import Membership, Role
from server.accounts.services import label_create, project_create
from server.annotations.models import Proposal
from server.annotations.services import proposal_store
from server.core.errors import ApplicationError
from server.core.masks import rle_encode
from server.jobs.models import Job
from server.jobs.services import job_create
from server.learning.models import ModelVersion
from server.learning.services import model_version_get_or_create
from server.media.models import Clip, Label, Project
from server.media.services import clip_create_from_file, clip_ingest

logger = logging.getLogger(__name__)

DEMO_PROJECT = "Demo"
DEMO_USERS = {"manager": Role.MANAGER, "annotator": Role.ANNOTATOR, "reviewer": Role.REVIEWER}
DEMO_LABELS = ("sounding object", "person", "dog", "car", "guitar", "piano")
DEMO_CLIP = Path("media") / "avsbench-demo" / "0BLiYNtFSjA.mp4"  # 320x240, 5 s, with sound
FIXTURE_PROPOSER = "demo fixture (centred ellipse)"

Proposer = Callable[..., dict[str, Any]]


@dataclass
class DemoData:
    project: Project
    users: dict[str, AbstractBaseUser]
    clip: Clip
    proposal: Proposal


def shared_dir() -> Path:
    """The team's shared folder: AVS_SHARED_DIR, else `shared` beside the checkout."""
    configured = os.environ.get("AVS_SHARED_DIR")
    return Path(configured) if configured else Path(settings.BASE_DIR).parent / "shared"


def demo_clip_path() -> Path:
    """The demo clip's path; ApplicationError naming AVS_SHARED_DIR when it is missing."""
    path = shared_dir() / DEMO_CLIP
    if not path.is_file():
        raise ApplicationError(
            f"The demo clip {path} does not exist: set AVS_SHARED_DIR to the folder holding {DEMO_CLIP}, "
            "or pass a video with --clip."
        )
    return path


def demo_users_ensure(*, password: str | None, keep_existing: bool = False) -> dict[str, AbstractBaseUser]:
    """The demo users, created when missing with `password`, which also becomes the password of existing
    demo users unless `keep_existing` (or `password` is None; then every user must exist already)."""
    user_model = get_user_model()
    users = {}
    for username in DEMO_USERS:
        user = user_model.objects.filter(username=username).first()
        if user is None:
            if password is None:
                raise ApplicationError(f"The demo user '{username}' does not exist yet: give a password.")
            user = user_model(username=username, email=f"{username}@example.com")
        if password is not None and (user.pk is None or not keep_existing):
            user.set_password(password)
        user.is_active = True
        user.save()
        users[username] = user
    return users


def demo_project_ensure(*, users: dict[str, AbstractBaseUser], name: str = DEMO_PROJECT, fps: float = 1.0) -> Project:
    """The demo project with its labels and the demo users as members in their roles."""
    project = Project.objects.filter(name=name).first()
    if project is None:
        project = project_create(
            user=users["manager"], name=name, description="Demo data (manage.py seed_demo).", fps=fps
        )
    for username, role in DEMO_USERS.items():
        Membership.objects.update_or_create(project=project, user=users[username], defaults={"role": role})
    existing = {n.lower() for n in Label.objects.filter(project=project).values_list("name", flat=True)}
    for label in DEMO_LABELS:
        if label.lower() not in existing:
            label_create(project=project, name=label)
    return project


def demo_clip_ensure(*, project: Project, path: Path, user: AbstractBaseUser | None = None) -> Clip:
    """The project's clip of the video at `path`, uploaded and ingested synchronously when missing."""
    with path.open("rb") as handle:
        clip, job, _ = clip_create_from_file(project=project, file=handle, name=path.name, user=user, enqueue=False)
    if clip.status != Clip.Status.READY:
        if job is None:  # an earlier run stopped before its ingest finished
            job = job_create(project_id=project.pk, kind=Job.Kind.INGEST, created_by=user, target=clip)
        clip_ingest(clip_id=clip.pk, job_id=job.pk)
        clip.refresh_from_db()
    if clip.status != Clip.Status.READY:
        raise ApplicationError(f"The demo clip {path} could not be ingested: {clip.error}")
    return clip


def _baseline_proposer(**kwargs: Any) -> dict[str, Any]:
    from ml_backend.serving import propose_clip

    return propose_clip(**kwargs)


def fixture_frames(clip: Clip) -> list[dict[str, Any]]:
    """A centred ellipse (half the frame's width and height) on every frame, labelled "sounding object"."""
    frames = []
    for index, height, width in clip.frames.order_by("index").values_list("index", "height", "width"):
        rows, cols = np.ogrid[:height, :width]
        inside = ((rows - height / 2) / (height / 4)) ** 2 + ((cols - width / 2) / (width / 4)) ** 2 <= 1
        frames.append(
            {
                "frame_index": index,
                "instances": [
                    {
                        "mask": rle_encode(inside),
                        "label": "sounding object",
                        "score": 0.5,
                        "provenance": {"method": FIXTURE_PROPOSER},
                    }
                ],
            }
        )
    return frames


def demo_proposal_ensure(*, clip: Clip, path: Path, proposer: Proposer | None = _baseline_proposer) -> Proposal:
    """The clip's first proposal, or a new one: from `proposer` (`propose_clip`'s signature; None: skip to
    the fixture), or the fixture proposal when the proposer fails or its masks do not fit the frames."""
    existing = Proposal.objects.filter(clip=clip).order_by("id").first()
    if existing is not None:
        return existing
    project = clip.project
    if proposer is not None:
        try:
            result = proposer(
                video_path=path,
                fps=project.fps,
                sample_rate=project.audio_sample_rate,
                max_side=project.frame_max_side,
            )
            model = result["model"]
            kind = model["kind"] if model["kind"] in ModelVersion.Kind.values else ModelVersion.Kind.BASELINE
            # The version pre-annotation would file this proposer under (same configuration, same version): a
            # later "Pre-annotate" with the default proposer skips the demo clip instead of adding a twin version.
            baseline = model_info(None)
            if model["config_hash"] == baseline["config_hash"]:
                config = baseline["config"]
            else:
                config = {"proposer": model["name"], "config_hash": model["config_hash"]}
            with transaction.atomic():
                version, _ = model_version_get_or_create(project=project, kind=kind, name=model["name"], config=config)
                if model.get("reason") and not version.note:
                    version.note = model["reason"]
                    version.save(update_fields=["note", "updated_at"])
                return proposal_store(clip=clip, model_version=version, frames=result["frames"])
        except Exception:  # the demo must come up even when the ML backend cannot run here
            logger.exception("the demo proposal could not come from the ML backend; using the fixture proposal")
    version, _ = model_version_get_or_create(
        project=project, kind=ModelVersion.Kind.BASELINE, name=FIXTURE_PROPOSER, config={"proposer": "demo-fixture"}
    )
    return proposal_store(clip=clip, model_version=version, frames=fixture_frames(clip))


def demo_seed(
    *,
    password: str | None,
    keep_existing_passwords: bool = False,
    clip_path: Path | None = None,
    project_name: str = DEMO_PROJECT,
    fps: float = 1.0,
    proposer: Proposer | None = _baseline_proposer,
) -> DemoData:
    """Create (or complete) the demo data set; see the module docstring. `fps` applies to a new project."""
    path = clip_path or demo_clip_path()
    users = demo_users_ensure(password=password, keep_existing=keep_existing_passwords)
    project = demo_project_ensure(users=users, name=project_name, fps=fps)
    clip = demo_clip_ensure(project=project, path=path, user=users["manager"])
    proposal = demo_proposal_ensure(clip=clip, path=path, proposer=proposer)
    return DemoData(project=project, users=users, clip=clip, proposal=proposal)
