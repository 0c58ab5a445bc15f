"""Helpers shared by tests."""

from __future__ import annotations

import os

import pytest


def require_service(name: str, reason: str) -> None:
    """Skip locally when a real service is missing; fail in CI (AVS_REQUIRE_SERVICES=1)."""
    if os.environ.get("AVS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required in CI but unavailable: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")
