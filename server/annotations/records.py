"""The files a proposal keeps besides its masks, in media storage: per frame an 8-bit probability map (PNG), per clip
an evidence file (`.npz`: audio tags, audio and visual embeddings). The ML backend encodes them
(`ml_backend.serving.records`, which documents both formats); this module stores and deletes them.

Layout: `projects/{project}/clips/{clip}/proposals/{run}/probability-{frame index:06d}.png` and `.../evidence.npz`,
where `run` is a fresh random name per proposing run of a clip, so two runs never share a file. The folder is the
proposal's `records_folder`.

Lifecycle:
- a run writes its files while the proposer works (`RecordWriter`, handed to `propose_stored_clip` as its
  `write_file`); when the run stores no proposal (it failed, or another run stored the same model's proposal
  meanwhile) the run deletes them (`RecordWriter.discard`);
- deleting a Proposal, directly or through its clip or project, deletes its folder once the transaction commits
  (a `post_delete` receiver, so cascades are covered); `proposal_store` replacing a proposal whose folder changes
  deletes the old folder the same way;
- a worker killed in the middle of a clip leaves its run's folder behind with no proposal: deleting the clip
  removes every folder under the clip's `proposals/`.
"""

from __future__ import annotations

import logging
import os
import uuid
from functools import partial
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db import transaction

logger = logging.getLogger(__name__)

PROPOSALS_FOLDER = "proposals"


def clip_records_root(*, project_id: int, clip_id: int) -> str:
    """Storage folder holding every proposal run's folder of one clip."""
    return f"projects/{project_id}/clips/{clip_id}/{PROPOSALS_FOLDER}"


class RecordWriter:
    """`write_file` for `ml_backend.serving.propose_stored_clip`: `writer(name, data) -> stored path` saves `data`
    under `folder/name` in `storage`. `names`: what it saved. `discard()` deletes all of it. `kept`: set once a
    stored proposal refers to the files (then they are the proposal's to delete)."""

    def __init__(self, *, project_id: int, clip_id: int, storage: Storage | None = None) -> None:
        self.storage = storage or default_storage
        self.folder = f"{clip_records_root(project_id=project_id, clip_id=clip_id)}/{uuid.uuid4().hex}"
        self.names: list[str] = []
        self.kept = False

    def __call__(self, name: str, data: bytes) -> str:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"a record's name must be a plain file name, not {name!r}")
        stored = self.storage.save(f"{self.folder}/{name}", ContentFile(data))
        self.names.append(stored)
        return stored

    def discard(self) -> None:
        """Delete every file written (now, not on commit: nothing refers to them)."""
        if not self.names:
            return
        records_delete(storage=self.storage, folder=self.folder, names=self.names)
        self.names = []


def records_delete(*, storage: Storage | None = None, folder: str, names: list[str] | None = None) -> None:
    """Delete `names` and every file in `folder` (one level, as written), then the folder if the storage has
    folders; a missing file is no error, other storage errors are logged."""
    storage = storage or default_storage
    if not folder:
        return
    files = list(names or [])
    try:
        _, listed = storage.listdir(folder)
        files += [f"{folder}/{name}" for name in listed]
    except (FileNotFoundError, NotImplementedError):
        pass
    except Exception:
        logger.exception("could not list %s in media storage", folder)
    for name in dict.fromkeys(files):
        try:
            storage.delete(name)
        except FileNotFoundError:
            pass
        except Exception:
            logger.exception("could not delete %s from media storage", name)
    _remove_empty_folder(storage, folder)


def clip_records_delete(*, project_id: int, clip_id: int, storage: Storage | None = None) -> None:
    """Delete every proposal run's folder of a clip (stored proposals' and those a killed worker left behind)."""
    storage = storage or default_storage
    root = clip_records_root(project_id=project_id, clip_id=clip_id)
    try:
        folders, _ = storage.listdir(root)
    except (FileNotFoundError, NotImplementedError):
        return
    except Exception:
        logger.exception("could not list %s in media storage", root)
        return
    for folder in folders:
        records_delete(storage=storage, folder=f"{root}/{folder}")
    _remove_empty_folder(storage, root)


def records_delete_on_commit(*, folder: str) -> None:
    """`records_delete(folder=folder)` once the surrounding transaction commits (at once outside one)."""
    if folder:
        transaction.on_commit(partial(records_delete, folder=folder))


def _remove_empty_folder(storage: Storage, folder: str) -> None:
    try:
        os.rmdir(storage.path(folder))
    except (NotImplementedError, OSError):
        pass


# --- receivers (connected in AnnotationsConfig.ready) --------------------------------------------------


def proposal_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    records_delete_on_commit(folder=instance.records_folder)


def clip_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    transaction.on_commit(partial(clip_records_delete, project_id=instance.project_id, clip_id=instance.pk))
