"""Settings of the Celery worker the poison-loop test starts: the local settings, plus a test-only module that
makes the ingest of clips named "crash*" kill the worker's child process, as the kernel's out-of-memory killer
would (`tests.server.integration.crashing_ingest`). The broker's visibility timeout is a few seconds so that an
unacknowledged message also comes back within seconds (production: CELERY_VISIBILITY_TIMEOUT, hours)."""

from server.config.settings.local import *  # noqa: F403

CELERY_IMPORTS = ["tests.server.integration.crashing_ingest"]
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 5,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
# Far below the tasks' time limits on purpose: the start-up check (jobs.E001) would refuse this worker.
SILENCED_SYSTEM_CHECKS = ["jobs.E001"]
