"""Settings of the Celery workers the self-training integration tests start: the local settings on Redis. A task
whose worker died goes back to the queue AVS_TEST_VISIBILITY_TIMEOUT seconds after it was delivered (default 600:
longer than a test's round, so no second delivery while a live worker runs it), checked every second by a waiting
worker (production: CELERY_VISIBILITY_TIMEOUT, 4 h, checked about every 100 s)."""

import os

from server.config.settings.local import *  # noqa: F403

VISIBILITY_TIMEOUT = int(os.environ.get("AVS_TEST_VISIBILITY_TIMEOUT", "600"))

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
# Far below the training task's time limit on purpose (a test worker): the start-up check would refuse it.
SILENCED_SYSTEM_CHECKS = ["jobs.E001"]
