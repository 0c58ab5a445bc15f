"""Start-up check: the broker's visibility timeout must exceed the longest task's hard time limit.

Redis and SQS hand a message that was delivered but not acknowledged to another worker once the visibility
timeout has passed. Tasks are acknowledged late (after they finish), so a task still running when that happens
runs twice at once. It cannot happen when every task is stopped (its hard time limit) before the timeout.

Run by `manage.py check` (a Django system check, `jobs.E001`) and by every worker before it consumes anything
(`server.config.celery_app`: it refuses to start). Other brokers (the embedded filesystem transport, RabbitMQ)
have no visibility timeout and pass.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.core import checks

CHECK_ID = "jobs.E001"
SETTING = "CELERY_VISIBILITY_TIMEOUT"
# kombu's defaults when the transport options give none (kombu.transport.redis / SQS).
DEFAULT_VISIBILITY_TIMEOUT = {"redis": 3600, "rediss": 3600, "sentinel": 3600, "sqs": 1800}


def _broker_kind(url: str) -> str:
    scheme = url.split("://", 1)[0] if "://" in url else url.rstrip(":/")
    return scheme.split("+", 1)[0].lower()  # "redis+socket" -> "redis"


def _hard_limits(app: Any) -> list[tuple[str, float | None]]:
    """(task name, hard time limit in seconds or None) of every task that acknowledges late (the ones a broker
    may deliver twice while they run). Imports the task modules first."""
    app.autodiscover_tasks(force=True)  # each Django app's tasks module (no import_modules signal: no re-entry)
    for module in (*(app.conf.imports or ()), *(app.conf.include or ())):
        importlib.import_module(module)
    default = app.conf.task_time_limit
    limits = []
    for name, task in sorted(app.tasks.items()):
        if name.startswith("celery.") or not getattr(task, "acks_late", False):
            continue
        limit = getattr(task, "time_limit", None) or default
        limits.append((name, float(limit) if limit else None))
    return limits


def broker_visibility_problem(app: Any) -> str | None:
    """Why the broker of Celery `app` could give a running task to a second worker, or None when it cannot."""
    kind = _broker_kind(str(app.conf.broker_url or ""))
    if kind not in DEFAULT_VISIBILITY_TIMEOUT:
        return None
    options = app.conf.broker_transport_options or {}
    timeout = float(options.get("visibility_timeout") or DEFAULT_VISIBILITY_TIMEOUT[kind])
    limits = _hard_limits(app)
    unbounded = [name for name, limit in limits if limit is None]
    if unbounded:
        return (
            f"Tasks without a hard time limit: {', '.join(unbounded)}. With the {kind} broker a task still running "
            f"after the visibility timeout ({timeout:g} s, setting {SETTING}) is handed to a second worker: give "
            "each task a time_limit below it."
        )
    if not limits:
        return None
    name, longest = max(limits, key=lambda pair: pair[1] or 0.0)
    if timeout > longest:
        return None
    return (
        f"The broker's visibility timeout ({timeout:g} s, setting {SETTING}) does not exceed the longest task time "
        f"limit ({longest:g} s, {name}): the {kind} broker would hand a task that is still running to a second "
        f"worker. Set {SETTING} above {longest:g} seconds."
    )


def check_broker_visibility_timeout(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Django system check `jobs.E001` (see the module docstring)."""
    from server.config.celery_app import app

    problem = broker_visibility_problem(app)
    if problem is None:
        return []
    return [checks.Error(problem, hint=f"Raise {SETTING} (seconds) in the environment.", id=CHECK_ID)]
