"""Bounds on SAM clicks, which run the model inside the web processes (`POST /api/frames/{id}/sam/`).

- Per user: `SamClickThrottle` allows AVS_SAM_CLICK_RATE clicks (DRF's rate syntax: "10/second", "300/minute"),
  counted in the default cache (AVS_CACHE_URL: share one between web processes, else each counts its own).
  Beyond it: 429 with `Retry-After`.
- Per web process: `sam_slot()` lets at most AVS_SAM_MAX_CONCURRENT predictions run at once (a first click on a
  frame runs SAM's image encoder: seconds of CPU). A click finding every slot taken waits up to
  AVS_SAM_WAIT_SECONDS, then gets 503 with `Retry-After`, so slow clicks cannot take every worker thread.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from rest_framework.throttling import UserRateThrottle

from server.core.errors import TooManyRequestsError

RATE_SETTING = "AVS_SAM_CLICK_RATE"
CONCURRENCY_SETTING = "AVS_SAM_MAX_CONCURRENT"


class SamClickThrottle(UserRateThrottle):
    """AVS_SAM_CLICK_RATE SAM clicks per user (read at each request)."""

    scope = "sam_click"

    def get_rate(self) -> str:
        return settings.AVS_SAM_CLICK_RATE


def sam_click_throttled(wait: float | None) -> TooManyRequestsError:
    """The 429 of a user above AVS_SAM_CLICK_RATE; `wait`: seconds until the next click is allowed."""
    retry_after = max(1, math.ceil(wait or 1))
    return TooManyRequestsError(
        f"Too many SAM clicks: at most {settings.AVS_SAM_CLICK_RATE} per user (setting {RATE_SETTING}). "
        f"Try again in {retry_after} s.",
        {"setting": RATE_SETTING},
        retry_after=retry_after,
    )


class SamBusyError(TooManyRequestsError):
    """Every SAM slot of this web process is taken: 503 with `Retry-After`."""

    status = 503


_slots_lock = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None


def _semaphore() -> threading.BoundedSemaphore:
    """The process's semaphore of AVS_SAM_MAX_CONCURRENT slots (made again if the setting changes)."""
    global _slots
    limit = max(1, int(settings.AVS_SAM_MAX_CONCURRENT))
    with _slots_lock:
        if _slots is None or _slots[0] != limit:
            _slots = (limit, threading.BoundedSemaphore(limit))
        return _slots[1]


@contextmanager
def sam_slot() -> Iterator[None]:
    """Hold one of the process's SAM slots while the block runs; SamBusyError (503) when none frees up within
    AVS_SAM_WAIT_SECONDS."""
    semaphore = _semaphore()  # the one released below, even if the setting changes meanwhile
    if not semaphore.acquire(timeout=max(0.0, float(settings.AVS_SAM_WAIT_SECONDS))):
        limit = settings.AVS_SAM_MAX_CONCURRENT
        raise SamBusyError(
            f"SAM is busy: this server runs at most {limit} SAM click{'s' if limit != 1 else ''} at once "
            f"(setting {CONCURRENCY_SETTING}). Try again in a moment.",
            {"setting": CONCURRENCY_SETTING},
            retry_after=1,
        )
    try:
        yield
    finally:
        semaphore.release()
