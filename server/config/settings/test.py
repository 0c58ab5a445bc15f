"""Test settings: PostgreSQL when DATABASE_URL says so, else SQLite; eager Celery for unit tests."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
