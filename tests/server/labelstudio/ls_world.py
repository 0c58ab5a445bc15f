"""A connected project as Label Studio sees it: frames of FrameFactory (48×64), a Connection to Label Studio project
`LS_PROJECT`, and Label Studio's own payload shapes (webhook `task` / `annotation` objects, brush results) built
from masks."""

from __future__ import annotations

import numpy as np

from server.core.masks import rle_encode
from server.labelstudio.brush import brush_result
from server.labelstudio.models import Connection

HEIGHT, WIDTH = 48, 64  # FrameFactory's images
LS_PROJECT = 41
LS_CREATED = "1790000000"  # the timestamp half of Label Studio's "<id>.<timestamp>" project reference
ANNOTATOR_EMAIL = "ann@ls.example"


def box(top: int, left: int, bottom: int, right: int, shape: tuple[int, int] = (HEIGHT, WIDTH)) -> dict:
    """COCO RLE of a mask that is 1 on rows [top, bottom) and columns [left, right)."""
    mask = np.zeros(shape, dtype=bool)
    mask[top:bottom, left:right] = True
    return rle_encode(mask)


def connect(project, *, url: str = "http://ls.example:8080", ls_project_id: int = LS_PROJECT, **fields) -> Connection:
    return Connection.objects.create(project=project, url=url, ls_project_id=ls_project_id, **fields)


def ls_task(frame, *, task_id: int | None = None) -> dict:
    """A Label Studio task as `ls_push` sends it and webhooks return it."""
    return {
        "id": task_id or 1000 + frame.pk,
        "project": LS_PROJECT,
        "data": {
            "image": "http://avs.example/ls/media/frame/x",
            "clip_id": frame.clip_id,
            "frame_index": frame.index,
            "frame_id": frame.pk,
            "avs_project": frame.clip.project_id,
        },
    }


def ls_annotation(
    frame,
    *,
    ls_id: int,
    masks: list[tuple[dict, str]],
    updated_at: str = "2026-01-01T10:00:00.000000Z",
    completed_by=None,
) -> dict:
    """A Label Studio annotation of `frame` with one brush result per `(mask, label)`; `completed_by` as an
    export gives it (an object with the email) unless given (webhooks give the user id)."""
    return {
        "id": ls_id,
        "task": 1000 + frame.pk,
        "project": LS_PROJECT,
        "completed_by": completed_by if completed_by is not None else {"id": 3, "email": ANNOTATOR_EMAIL},
        "result": [
            brush_result(mask=mask, label=label, from_name="mask", to_name="image", result_id=f"r{k}")
            for k, (mask, label) in enumerate(masks)
        ],
        "was_cancelled": False,
        "created_at": "2026-01-01T09:00:00.000000Z",
        "updated_at": updated_at,
    }
