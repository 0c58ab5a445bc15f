"""Test-only, imported by the poison-loop test's worker (CELERY_IMPORTS): the ingest of a clip whose name starts
with "crash" ends its worker process on the spot (`os._exit`, no clean-up, no acknowledgement), as the kernel's
out-of-memory killer would, once the clip is claimed and decoding would begin."""

from __future__ import annotations

import os
from typing import Any

from server.media import services

_decode_into_clip = services._decode_into_clip


def _decode_or_die(*, clip: Any, **kwargs: Any) -> None:
    if clip.name.startswith("crash"):
        os._exit(137)
    _decode_into_clip(clip=clip, **kwargs)


services._decode_into_clip = _decode_or_die
