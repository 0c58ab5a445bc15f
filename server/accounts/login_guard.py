"""Lockouts after failed sign-ins, per username and per client address.

Covers every way to sign in with a password: POST /api/auth/token/, POST /api/auth/login/ and the admin's
/admin/login/. Each failed `authenticate()` (Django's `user_login_failed` signal) counts against the username
it named and, when the request is known, the client's address, in a fixed window of AVS_LOGIN_LOCKOUT_SECONDS
opened by the first failure. Once a username has AVS_LOGIN_FAILURE_LIMIT failures, or an address
AVS_LOGIN_IP_FAILURE_LIMIT, every further attempt for it is refused with 429 and `Retry-After` until the window
ends, before the password is checked: a locked attempt costs no password hashing and tells nothing about the
password, right or wrong. A successful sign-in clears its username's count, never its address's (so signing in
to one's own account does not reset an address that is guessing others').

The per-username lock also stops a distributed guesser; its price is that anyone can lock a username out for
one window. Client addresses come from DRF's `get_ident` (X-Forwarded-For only behind AVS_NUM_PROXIES
proxies). Counts live in Django's cache (AVS_CACHE_URL): with several web processes use a shared cache (Redis),
or each process counts on its own.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

from server.core.errors import TooManyRequestsError

clock: Callable[[], float] = time.time  # swapped by tests


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For's entry added by the last of AVS_NUM_PROXIES."""
    return BaseThrottle().get_ident(request) or ""


def _keys(*, request: HttpRequest | None, username: str) -> list[tuple[str, int]]:
    """(cache key prefix, failure limit) for the username and, when known, the client address."""
    keys = []
    if username:
        digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
        keys.append((f"avs:login-failures:user:{digest}", settings.AVS_LOGIN_FAILURE_LIMIT))
    address = client_address(request) if request is not None else ""
    if address:
        digest = hashlib.sha256(address.encode()).hexdigest()
        keys.append((f"avs:login-failures:ip:{digest}", settings.AVS_LOGIN_IP_FAILURE_LIMIT))
    return keys


def login_lockout_check(*, request: HttpRequest | None, username: str) -> None:
    """Raise TooManyRequestsError (429, Retry-After) while the username or the client address is locked out."""
    now = clock()
    wait = 0.0
    for key, limit in _keys(request=request, username=username):
        if (cache.get(f"{key}:count") or 0) >= limit:
            window_end = cache.get(f"{key}:until")
            wait = max(wait, (window_end - now) if window_end is not None else settings.AVS_LOGIN_LOCKOUT_SECONDS)
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise TooManyRequestsError(
            f"Too many failed sign-in attempts: try again in {retry_after} seconds.", retry_after=retry_after
        )


def login_failure_record(*, request: HttpRequest | None, username: str) -> None:
    """Count one failed sign-in against the username and the client address."""
    window = settings.AVS_LOGIN_LOCKOUT_SECONDS
    for key, _ in _keys(request=request, username=username):
        if cache.add(f"{key}:count", 1, timeout=window):  # the first failure opens the window
            cache.set(f"{key}:until", clock() + window, timeout=window)
            continue
        try:
            cache.incr(f"{key}:count")
        except ValueError:  # the window closed between add and incr
            cache.add(f"{key}:count", 1, timeout=window)
            cache.set(f"{key}:until", clock() + window, timeout=window)


def login_success_record(*, username: str) -> None:
    """Forget the username's failures (not the client address's)."""
    for key, _ in _keys(request=None, username=username):
        cache.delete_many([f"{key}:count", f"{key}:until"])


@receiver(user_login_failed, dispatch_uid="avs-login-failure-record")
def _on_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any) -> None:
    username = credentials.get(get_user_model().USERNAME_FIELD)
    login_failure_record(request=request, username=username if isinstance(username, str) else "")


@receiver(user_logged_in, dispatch_uid="avs-login-success-record")
def _on_logged_in(sender: Any, user: Any, **_: Any) -> None:
    login_success_record(username=user.get_username())
