"""`make run`: embedded defaults (SQLite, filesystem broker, local media)."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# On one's own machine an empty AVS_MODEL_ROOT means model files may be anywhere (production and tests refuse).
AVS_MODEL_ROOT_REQUIRED = False
