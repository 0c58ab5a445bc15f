"""The Celery application. Queues: `ingest` (CPU), `inference` and `training` (GPU)."""

import logging
import os

from celery import Celery, signals
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.config.settings.local")

app = Celery("avs_studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = tuple(
    Queue(name, Exchange(name), routing_key=name) for name in ("ingest", "inference", "training")
)
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **_: object) -> None:
    """The filesystem transport needs its folders before the first message."""
    if str(sender.conf.broker_url).startswith("filesystem"):
        options = sender.conf.broker_transport_options or {}
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            if options.get(key):
                os.makedirs(options[key], exist_ok=True)


@signals.worker_init.connect(dispatch_uid="server.config.celery_app.check_visibility_timeout")
def _refuse_unsafe_visibility_timeout(sender: object = None, **_: object) -> None:
    """A worker refuses to start when the broker could hand a running task to a second worker
    (`server.jobs.checks`; silenced like the system check, by SILENCED_SYSTEM_CHECKS = ["jobs.E001"])."""
    import django

    django.setup()
    from django.conf import settings

    from server.jobs.checks import CHECK_ID, broker_visibility_problem

    if CHECK_ID in settings.SILENCED_SYSTEM_CHECKS:
        return
    problem = broker_visibility_problem(getattr(sender, "app", None) or app)
    if problem:
        logging.getLogger(__name__).critical("Refusing to start the worker: %s", problem)
        raise SystemExit(f"Refusing to start the worker ({CHECK_ID}): {problem}")
