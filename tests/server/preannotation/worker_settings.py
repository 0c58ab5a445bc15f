"""Settings of the Celery workers the pre-annotation integration tests start: the local settings, with Redis
handing the unacknowledged task of a dead worker to another one after VISIBILITY_TIMEOUT seconds (more than a
worker's first clip takes: torch import and model loads), checked every second (production:
CELERY_VISIBILITY_TIMEOUT, 4 h, checked about every 100 s)."""

from server.config.settings.local import *  # noqa: F403

VISIBILITY_TIMEOUT = 20

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
# Far below the tasks' time limits on purpose (redelivery within seconds): the start-up check would refuse it.
SILENCED_SYSTEM_CHECKS = ["jobs.E001"]
