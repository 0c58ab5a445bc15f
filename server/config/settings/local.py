"""`make run`: embedded defaults (SQLite, filesystem broker, local media)."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
