"""Worker health: which Celery workers answer, which queues each serves, how many messages wait per queue.

One snapshot (`worker_health`) is taken with a single `active_queues` broadcast (a worker that replies within
AVS_WORKER_INSPECT_TIMEOUT seconds is alive) and the broker's own queue sizes (Redis: LLEN of the queue's keys,
all priority levels; the embedded filesystem broker: the queue's message files in the broker folder). The snapshot
is kept in the Django cache for AVS_WORKER_HEALTH_TTL seconds, so the workers API pays for a broadcast at most once
per interval, whatever the traffic; a broker that cannot be reached answers in milliseconds (connection refused)
or after at most the inspect timeout.

The jobs API (a queued job's `waiting_reason`) never waits for a broadcast: it reads the cached snapshot only, and
on a miss starts one refresh in a background thread (one at a time per process) and answers null for now; the
web app re-reads queued jobs every 2 s, so the reason shows on the next read. The jobs list stays at database speed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from server.jobs.models import Job

QUEUES = ("ingest", "inference", "training")
# Which queue runs each kind of job (settings CELERY_TASK_ROUTES). Imports run inside `manage.py import_avsbench`
# itself, on no queue.
KIND_QUEUE: dict[str, str] = {
    Job.Kind.INGEST: "ingest",
    Job.Kind.PREANNOTATE: "inference",
    Job.Kind.PROPAGATE: "inference",
    Job.Kind.EXPORT: "ingest",
    Job.Kind.EVALUATE: "ingest",
    Job.Kind.TRAIN: "training",
    Job.Kind.LABELSTUDIO: "ingest",
}
CACHE_KEY = "avs:worker-health"
_refreshing = threading.Lock()


def _app() -> Any:
    from server.config.celery_app import app

    return app


def _broker_kind(url: str) -> str:
    scheme = url.split("://", 1)[0] if "://" in url else url.rstrip(":/")
    return scheme.split("+", 1)[0].lower() or "unknown"


def start_hint(queue: str) -> str:
    return f"start one with `deploy/start-worker.sh {queue}` (or `make run`, whose worker serves every queue)"


def _queue_lengths(conn: Any) -> tuple[dict[str, int | None], str | None]:
    """Messages waiting (not yet taken by a worker) per queue, or None per queue with the reason."""
    channel = conn.default_channel
    size = getattr(channel, "_size", None)  # kombu's virtual transports: redis (LLEN), filesystem (files), ...
    if size is None:
        return dict.fromkeys(QUEUES), f"queue lengths are not read from the {conn.transport_cls} broker"
    lengths: dict[str, int | None] = {}
    for name in QUEUES:
        try:
            lengths[name] = int(size(name))
        except FileNotFoundError:  # the filesystem broker's folder before its first message
            lengths[name] = 0
    return lengths, None


def _probe() -> dict[str, Any]:
    app = _app()
    url = str(app.conf.broker_url or "")
    timeout = float(settings.AVS_WORKER_INSPECT_TIMEOUT)
    snapshot: dict[str, Any] = {
        "checked_at": timezone.now().isoformat(),
        "mode": "eager" if app.conf.task_always_eager else "workers",
        "broker": {"kind": _broker_kind(url), "reachable": False, "error": ""},
        "workers": [],
        "queues": [],
        "inspect_error": "",
    }
    lengths: dict[str, int | None] = dict.fromkeys(QUEUES)
    lengths_note: str | None = None
    replies: dict[str, Any] | None = None
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, interval_max=0, timeout=timeout)
            snapshot["broker"]["reachable"] = True
            try:
                lengths, lengths_note = _queue_lengths(conn)
            except Exception as exc:  # a transport quirk must not hide the workers' answer
                lengths_note = f"queue lengths unavailable: {exc}"
            try:
                replies = app.control.inspect(timeout=timeout, connection=conn).active_queues() or {}
            except Exception as exc:
                snapshot["inspect_error"] = f"the workers could not be asked: {exc}"
    except Exception as exc:
        snapshot["broker"]["error"] = f"broker unreachable ({snapshot['broker']['kind']}): {exc}"

    serving: dict[str, list[str]] = {name: [] for name in QUEUES}
    for worker in sorted(replies or {}):
        queues = sorted({q.get("name", "") for q in (replies[worker] or []) if isinstance(q, dict)} - {""})
        snapshot["workers"].append({"name": worker, "queues": queues})
        for name in queues:
            serving.setdefault(name, []).append(worker)
    for name in QUEUES:
        snapshot["queues"].append(
            {
                "name": name,
                "length": lengths.get(name),
                "length_note": lengths_note or "",
                "workers": serving[name],
                "served": bool(serving[name]),
            }
        )
    return snapshot


def waiting_reason(snapshot: dict[str, Any], queue: str) -> str | None:
    """Why a job queued on `queue` cannot start now, or None when a worker serves it (or nobody can tell)."""
    if snapshot["mode"] == "eager":
        return None
    if not snapshot["broker"]["reachable"]:
        return f"The task broker is unreachable, so no worker can take this job: {snapshot['broker']['error']}"
    if snapshot["inspect_error"]:
        return None
    for entry in snapshot["queues"]:
        if entry["name"] == queue:
            if entry["served"]:
                return None
            break
    return f"No worker serves the `{queue}` queue: {start_hint(queue)}."


def worker_health(*, refresh: bool = False) -> dict[str, Any]:
    """The cached snapshot (see the module docstring), taken now when older than AVS_WORKER_HEALTH_TTL seconds
    or when `refresh`. Each queue entry carries its `waiting_reason`."""
    snapshot = None if refresh else cache.get(CACHE_KEY)
    if snapshot is None:
        started = time.monotonic()
        snapshot = _probe()
        snapshot["probe_seconds"] = round(time.monotonic() - started, 3)
        for entry in snapshot["queues"]:
            entry["waiting_reason"] = waiting_reason(snapshot, entry["name"])
        cache.set(CACHE_KEY, snapshot, timeout=settings.AVS_WORKER_HEALTH_TTL)
    return snapshot


def cached_worker_health() -> dict[str, Any] | None:
    """The cached snapshot, or None after starting its refresh in the background (never blocks on the broker)."""
    snapshot = cache.get(CACHE_KEY)
    if snapshot is None and _refreshing.acquire(blocking=False):

        def refresh() -> None:
            try:
                worker_health(refresh=True)
            finally:
                _refreshing.release()

        threading.Thread(target=refresh, name="avs-worker-health", daemon=True).start()
    return snapshot


def job_waiting_reason(job: Job, *, memo: dict[str, Any] | None = None) -> str | None:
    """Why a queued `job` sits waiting (no alive worker serves its queue; the broker is down), else None.

    Reads the cached health snapshot (`cached_worker_health`) only for queued jobs on a queue, once per `memo` (one
    per API response); None while there is no snapshot yet.
    """
    if job.status != Job.Status.QUEUED or _app().conf.task_always_eager:  # eager: tasks run in the web process
        return None
    queue = KIND_QUEUE.get(job.kind)
    if queue is None:
        return None
    if memo is None:
        memo = {}
    if "health" not in memo:
        memo["health"] = cached_worker_health()
    if memo["health"] is None:
        return None
    for entry in memo["health"]["queues"]:
        if entry["name"] == queue:
            return entry["waiting_reason"]
    return None
