"""Test settings: PostgreSQL when DATABASE_URL says so, else SQLite; eager Celery for unit tests.

Integration tests switch eagerness off and talk to a real worker through AVS_TEST_REDIS_URL.
"""

import os
import tempfile

from .base import *  # noqa: F403
from .base import env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = env("AVS_TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
# Tests write their tiny models below the temporary folder: the production rule applies, with that folder as root.
AVS_MODEL_ROOT = os.path.realpath(tempfile.gettempdir())
# Lockout counters and throttles: one in-process cache, emptied before each test (tests/conftest.py).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "avs-tests"}}
# The Label Studio bridge is on in tests, with these credentials.
AVS_LS_BASIC_AUTH_USER = "ls-bridge"
AVS_LS_BASIC_AUTH_PASS = "ls-bridge-secret"
