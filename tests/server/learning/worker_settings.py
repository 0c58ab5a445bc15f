"""Settings of the Celery worker the self-training integration test starts: the local settings on Redis, with a
visibility timeout longer than the test's round (no second delivery while it runs)."""

from server.config.settings.local import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
# Far below the training task's time limit on purpose (a test worker): the start-up check would refuse it.
SILENCED_SYSTEM_CHECKS = ["jobs.E001"]
