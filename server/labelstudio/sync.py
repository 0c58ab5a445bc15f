"""Push a project to Label Studio and pull its annotations back (label-studio-sdk 2.1.2, Label Studio 1.23.2).

`ls_push` creates or updates the Label Studio project of a `Connection`: title and generated label config, one
image task per ready frame (media by signed URLs, `server.labelstudio.media`), the current proposer's stored
proposals as predictions, the webhook to `AVS_PUBLIC_URL/ls/webhook` with our Basic credentials, and our ML backend
at `AVS_PUBLIC_URL/ls/` (Basic auth, interactive). The webhook goes first: Label Studio 1.23.2 creates an
unauthenticated webhook to `<ml url>/webhook` when an ML backend is added and none exists for that URL.

Re-running updates, never duplicates. The push starts from what Label Studio holds, not from what we remember: it
lists the project's tasks and re-links them by `data.frame_id`, so a push that died after Label Studio created tasks
and before we recorded them is reconciled. A task's data is sent again when it changed or its signed URLs are past a
quarter of their lifetime (renewed; `media.media_url_fresh`): a re-push costs one call per task only where needed.
A prediction is kept when its content (model version, score, result) equals what we would send, else ours are
replaced.

`ls_pull` lists every task with its annotations (paged) and hands each annotation to
`server.labelstudio.imports.annotation_import`; links whose Label Studio annotation vanished are retracted.

Errors are `SyncError`: one line naming what to fix (token refused, server unreachable, configuration refused).
The client is built by `client_factory` (tests pass their own).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from server.annotations.models import Proposal
from server.core.errors import ApplicationError, ConflictError
from server.jobs.models import Job
from server.labelstudio import label_config as config
from server.labelstudio.backend import frame_results, model_version_name, prediction_score
from server.labelstudio.media import audio_media_url, frame_media_url, media_url_fresh, public_url
from server.labelstudio.models import AnnotationLink, Connection, TaskLink
from server.learning.models import AcquisitionScore, ModelVersion
from server.media.models import AudioTrack, Clip, Frame, Project

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
TITLE_MAX = 50  # Label Studio's Project.title max_length
ML_BACKEND_TITLE = "AVS Studio"
TOKEN_HINT = (
    "check --ls-token (Label Studio: Account & Settings → Access Token; a legacy token also needs "
    "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true on that server)"
)

Progress = Callable[[float, str], None]


class SyncError(ApplicationError):
    """A push or pull that could not be done; the message is one line saying what to fix."""


def _one_line(text: Any, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _detail(body: Any) -> str:
    """The readable part of a Label Studio error body."""
    if isinstance(body, dict):
        for key in ("validation_errors", "detail", "message", "error"):
            if body.get(key):
                value = body[key]
                if isinstance(value, dict):
                    return "; ".join(f"{k}: {_one_line(v)}" for k, v in value.items())
                return _one_line(value)
        return _one_line(json.dumps(body))
    if isinstance(body, str) and body.lstrip().startswith("<"):
        return "an HTML page, not Label Studio's API"
    return _one_line(body)


# --- the client ----------------------------------------------------------------------------------------


def default_client_factory(*, url: str, token: str, timeout: float) -> Any:
    """The label-studio-sdk client. No automatic retries: a re-sent import could create tasks twice."""
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=url, api_key=token, timeout=timeout, max_retries=0)


@dataclass
class LabelStudioApi:
    """Calls to one Label Studio with their errors turned into `SyncError`s."""

    url: str
    token: str
    client_factory: Callable[..., Any] = default_client_factory
    timeout: float = field(default_factory=lambda: settings.AVS_LS_TIMEOUT)

    def __post_init__(self) -> None:
        self.client = self.client_factory(url=self.url, token=self.token, timeout=self.timeout)

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)`, where `what` says what it does ("create the project") for the error message."""
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            raise SyncError(self._api_error(exc, what), {"ls_status": exc.status_code}) from exc
        except httpx.TimeoutException as exc:
            raise SyncError(
                f"Label Studio at {self.url} did not answer within {self.timeout:g} s when asked to {what} "
                f"({type(exc).__name__}); run it again, or raise AVS_LS_TIMEOUT."
            ) from exc
        except httpx.ConnectError as exc:
            raise SyncError(
                f"cannot reach Label Studio at {self.url}: {_one_line(exc) or type(exc).__name__} "
                "(check the Label Studio URL, --ls-url, and that Label Studio is running)."
            ) from exc
        except httpx.HTTPError as exc:  # the connection dropped mid-request, a malformed answer
            raise SyncError(
                f"Label Studio at {self.url} stopped answering when asked to {what} "
                f"({_one_line(exc) or type(exc).__name__}); run it again to finish (nothing is duplicated)."
            ) from exc
        except (httpx.InvalidURL, UnicodeError) as exc:  # a URL or token no HTTP request can carry
            raise SyncError(
                f"cannot call Label Studio at {self.url}: {_one_line(exc) or type(exc).__name__} "
                "(check the Label Studio URL and token)."
            ) from exc

    def _api_error(self, exc: Any, what: str) -> str:
        code = exc.status_code
        if code in (401, 403):
            return f"Label Studio at {self.url} refused the token ({code}): {TOKEN_HINT}."
        detail = _detail(exc.body)
        if code == 404 and what == "list its projects":
            return f"{self.url} is not Label Studio's address (404 on its API): check --ls-url (e.g. http://host:8080)."
        if code is not None and code >= 500:
            return f"Label Studio at {self.url} failed to {what} (HTTP {code}): {detail}"
        return f"Label Studio refused to {what} (HTTP {code}): {detail}"

    def pages(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paged listing, as plain dicts."""
        page = 1
        while True:
            try:
                response = self.call(what, fn, page=page, page_size=PAGE_SIZE, **kwargs)
            except SyncError as exc:
                if page > 1 and exc.extra.get("ls_status") == 404:
                    return  # Label Studio answers 404 "Invalid page" past the last page
                raise
            items = list(getattr(response, "items", None) or [])
            for item in items:
                yield _plain(item)
            if len(items) < PAGE_SIZE or not getattr(response, "has_next", False):
                return
            page += 1


def _plain(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    return item.model_dump(mode="json") if hasattr(item, "model_dump") else item.dict()


# --- connections -------------------------------------------------------------------------------------


TOKEN_MAX_LENGTH = Connection._meta.get_field("token").max_length


def _check_url(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SyncError(f"{url or '(empty)'} is no Label Studio URL: give --ls-url as http(s)://host:port.")
    return url


def bridge_credentials() -> tuple[str, str]:
    """The Basic credentials Label Studio presents to us; SyncError while the bridge is off."""
    user, password = settings.AVS_LS_BASIC_AUTH_USER, settings.AVS_LS_BASIC_AUTH_PASS
    if not user or not password:
        raise SyncError(
            "The Label Studio bridge is off on this server: set AVS_LS_BASIC_AUTH_USER and AVS_LS_BASIC_AUTH_PASS "
            "(the credentials Label Studio will present to /ls/)."
        )
    return user, password


def ml_backend_url() -> str:
    """Our ML backend as Label Studio is told to reach it (the trailing slash matters: it urljoins suffixes)."""
    return public_url("/ls/")


def webhook_url() -> str:
    """Where Label Studio sends its events: exactly `<ml backend url>/webhook`, the URL it would create itself."""
    return ml_backend_url().rstrip("/") + "/webhook"


def connection_set(
    *, project: Project, url: str | None = None, token: str | None = None, import_status: str | None = None, user=None
) -> Connection:
    """Create or update the project's connection. A new URL means another Label Studio: the remote ids and the
    task and annotation links of the old one are forgotten (our annotations stay), the next push starts afresh."""
    connection = Connection.objects.filter(project=project).first()
    if connection is None:
        if not url:
            raise SyncError("No Label Studio URL: give --ls-url (Label Studio's base URL, e.g. http://host:8080).")
        connection = Connection(project=project, created_by=user if getattr(user, "pk", None) else None)
    if url is not None:
        url = _check_url(url)
        if connection.pk and url != connection.url:
            with transaction.atomic():
                TaskLink.objects.filter(connection=connection).delete()
                AnnotationLink.objects.filter(connection=connection).delete()
            connection.ls_project_id = connection.ml_backend_id = connection.webhook_id = None
            connection.counts = {}
        connection.url = url
    if token:
        token = token.strip()
        if not token.isascii() or not token.isprintable() or " " in token or len(token) > TOKEN_MAX_LENGTH:
            raise SyncError(
                f"The Label Studio token must be printable ASCII without spaces, at most {TOKEN_MAX_LENGTH} "
                "characters: copy it from Label Studio's Account & Settings.",
                {"field": "token"},
            )
        connection.token = token
    if import_status is not None:
        connection.import_status = import_status
    connection.save()
    return connection


def _fail(connection: Connection, exc: SyncError) -> None:
    connection.last_error = str(exc)
    Connection.objects.filter(pk=connection.pk).update(last_error=connection.last_error, updated_at=timezone.now())


# --- what a push sends ---------------------------------------------------------------------------------


def current_proposals(*, project: Project) -> dict[int, Proposal]:
    """`{clip_id: proposal}` of the project's current proposer (the version /ls/predict answers with)."""
    from server.learning.training import current_proposer_version

    version = current_proposer_version(project=project)
    proposals = Proposal.objects.filter(clip__project=project, model_version=version).select_related("model_version")
    return {proposal.clip_id: proposal for proposal in proposals}


def _window(frame: Frame, clip: Clip, total: int) -> str:
    fps = clip.fps or 1.0
    start, end = frame.index / fps, (frame.index + 1) / fps
    return f"Frame {frame.index + 1} of {total} · {start:.2f}–{end:.2f} s"


def prediction_key(prediction: dict[str, Any] | None) -> str:
    """What a prediction is made of (model version, score, result), hashed: equal keys, equal predictions."""
    if prediction is None:
        return ""
    content = {k: prediction.get(k) for k in ("model_version", "score", "result")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:40]


@dataclass
class Planned:
    """One frame as its Label Studio task should be."""

    frame: Frame
    data: dict[str, Any]
    prediction: dict[str, Any] | None
    key: str


def _plan(*, project: Project) -> tuple[list[Planned], set[str]]:
    """Every ready frame's task data and prediction, in clip then frame order; and the labels predictions use."""
    proposals = current_proposals(project=project)
    latest_score = AcquisitionScore.objects.filter(clip=OuterRef("pk")).order_by("-created_at", "-id")
    clips = {
        clip.pk: clip
        for clip in Clip.objects.filter(project=project, status=Clip.Status.READY).annotate(
            acquisition=Subquery(latest_score.values("score")[:1])
        )
    }
    with_audio = set(AudioTrack.objects.filter(clip_id__in=clips).values_list("clip_id", flat=True))
    frames = Frame.objects.filter(clip_id__in=clips).order_by("clip_id", "index")
    totals: dict[int, int] = {}
    for frame in frames:
        totals[frame.clip_id] = totals.get(frame.clip_id, 0) + 1
    planned, labels = [], set()
    for frame in frames:
        clip = clips[frame.clip_id]
        acquisition = clip.acquisition
        data = {
            "image": frame_media_url(frame_id=frame.pk),
            "audio": audio_media_url(clip_id=clip.pk) if clip.pk in with_audio else "",
            "clip_id": clip.pk,
            "frame_index": frame.index,
            "frame_id": frame.pk,
            "clip_name": clip.name,
            "window": _window(frame, clip, totals[clip.pk]),
            "avs_project": project.pk,
            "acquisition_score": None if acquisition is None else round(float(acquisition), 6),
        }
        prediction = None
        proposal = proposals.get(clip.pk)
        if proposal is not None and any(e.get("frame_index") == frame.index for e in proposal.frames):
            result = frame_results(proposal, frame)
            labels.update(r["value"]["brushlabels"][0] for r in result)
            prediction = {
                "model_version": model_version_name(proposal.model_version),
                "score": prediction_score(acquisition),
                "result": result,
            }
        planned.append(Planned(frame=frame, data=data, prediction=prediction, key=prediction_key(prediction)))
    return planned, labels


# --- push ------------------------------------------------------------------------------------------------


@dataclass
class PushSummary:
    ls_project_id: int
    ls_project_url: str
    tasks: int = 0
    tasks_created: int = 0
    tasks_relinked: int = 0
    tasks_updated: int = 0
    predictions: int = 0
    predictions_created: int = 0
    predictions_deleted: int = 0
    predictions_kept: int = 0
    webhook_id: int | None = None
    ml_backend_id: int | None = None

    def line(self) -> str:
        return (
            f"Label Studio project {self.ls_project_id} ({self.ls_project_url}): {self.tasks} tasks "
            f"({self.tasks_created} created, {self.tasks_relinked} re-linked, {self.tasks_updated} refreshed), "
            f"{self.predictions} predictions ({self.predictions_created} sent, {self.predictions_kept} unchanged, "
            f"{self.predictions_deleted} replaced or withdrawn); webhook {self.webhook_id}, "
            f"ML backend {self.ml_backend_id}."
        )

    def counts(self) -> dict[str, int]:
        return {"tasks": self.tasks, "predictions": self.predictions}


def ls_project_url(connection: Connection) -> str | None:
    return f"{connection.url}/projects/{connection.ls_project_id}/data" if connection.ls_project_id else None


def ls_push(
    *,
    project: Project,
    url: str | None = None,
    token: str | None = None,
    user=None,
    client_factory: Callable[..., Any] = default_client_factory,
    progress: Progress | None = None,
) -> PushSummary:
    """Create or update `project`'s Label Studio project (see the module). `url`/`token` default to the connection's.
    Raises SyncError (recorded as the connection's `last_error`)."""
    credentials = bridge_credentials()
    connection = connection_set(project=project, url=url, token=token, user=user)
    if not connection.token:
        raise SyncError(f"No Label Studio token for {connection.url}: give --ls-token ({TOKEN_HINT[6:]}).")
    try:
        summary = _push(connection, credentials, client_factory, progress or (lambda fraction, message: None))
    except SyncError as exc:
        _fail(connection, exc)
        raise
    return summary


def _push(
    connection: Connection, credentials: tuple[str, str], client_factory: Callable[..., Any], progress: Progress
) -> PushSummary:
    api = LabelStudioApi(url=connection.url, token=connection.token, client_factory=client_factory)
    ls = api.client
    project = connection.project
    api.call("list its projects", ls.projects.list, page_size=1)

    planned, prediction_labels = _plan(project=project)
    progress(5, f"{len(planned)} frames to push.")
    _ensure_project(api, connection, prediction_labels)
    summary = PushSummary(ls_project_id=connection.ls_project_id, ls_project_url=ls_project_url(connection) or "")

    remote = _remote_tasks(api, connection)
    summary.tasks_relinked = _relink(connection, remote)
    links = {link.frame_id: link for link in TaskLink.objects.filter(connection=connection)}
    progress(15, f"{len(remote)} tasks already in Label Studio.")

    our_versions = {model_version_name(v) for v in ModelVersion.objects.filter(project=project).only("pk", "name")}
    batch = max(1, int(settings.AVS_LS_PUSH_BATCH))
    new = [p for p in planned if p.frame.pk not in links]
    for start in range(0, len(new), batch):
        chunk = new[start : start + batch]
        request = [
            {"data": p.data, **({"predictions": [p.prediction]} if p.prediction is not None else {})} for p in chunk
        ]
        response = api.call(
            f"import tasks {start + 1}–{start + len(chunk)}",
            ls.projects.import_tasks,
            connection.ls_project_id,
            request=request,
            return_task_ids=True,
        )
        task_ids = list(getattr(response, "task_ids", None) or [])
        if len(task_ids) != len(chunk):
            raise SyncError(
                f"Label Studio created {len(task_ids)} tasks for {len(chunk)} frames; run the push again to "
                "reconcile (tasks are matched by frame_id)."
            )
        with transaction.atomic():
            for p, task_id in zip(chunk, task_ids, strict=True):
                links[p.frame.pk] = TaskLink.objects.create(
                    connection=connection, frame=p.frame, ls_task_id=task_id, prediction_key=p.key
                )
        summary.tasks_created += len(chunk)
        summary.predictions_created += sum(p.prediction is not None for p in chunk)
        progress(15 + 45 * (start + len(chunk)) / max(1, len(new)), f"{summary.tasks_created} tasks created.")

    existing = [p for p in planned if p.frame.pk in links and links[p.frame.pk].ls_task_id in remote]
    for k, p in enumerate(existing):
        link = links[p.frame.pk]
        task = remote[link.ls_task_id]
        if _data_outdated(task.get("data") or {}, p.data):
            api.call(f"update task {link.ls_task_id}", ls.tasks.update, str(link.ls_task_id), data=p.data)
            summary.tasks_updated += 1
        _sync_prediction(api, link, p, task.get("predictions") or [], our_versions, summary)
        if k % 20 == 19:
            progress(60 + 25 * (k + 1) / len(existing), f"{k + 1} of {len(existing)} tasks refreshed.")

    if summary.tasks_created and any(p.prediction for p in new):
        _adopt_prediction_ids(api, connection)
    version = next((p.prediction["model_version"] for p in planned if p.prediction), None)
    if version:  # the labeling page pre-fills our predictions of this version
        api.call("show our predictions", ls.projects.update, connection.ls_project_id, model_version=version)

    progress(90, "Connecting the webhook and the ML backend.")
    summary.webhook_id = _ensure_webhook(api, connection, credentials)
    summary.ml_backend_id = _ensure_ml_backend(api, connection, credentials)

    summary.tasks = TaskLink.objects.filter(connection=connection).count()
    summary.predictions = sum(p.prediction is not None for p in planned)
    counts = {**connection.counts, **summary.counts()}
    Connection.objects.filter(pk=connection.pk).update(
        last_push_at=timezone.now(), last_error="", counts=counts, updated_at=timezone.now()
    )
    return summary


def _ensure_project(api: LabelStudioApi, connection: Connection, prediction_labels: Iterable[str]) -> Any:
    ls = api.client
    project = connection.project
    title = project.name[:TITLE_MAX] if len(project.name) >= 3 else f"AVS {project.name}"
    description = f"Frames of AVS Studio project {project.name!r} (pushed by AVS Studio; tasks match by frame_id)."
    existing = None
    if connection.ls_project_id:
        try:
            existing = api.call("read the project", ls.projects.get, connection.ls_project_id)
        except SyncError as exc:
            if exc.extra.get("ls_status") != 404:
                raise
            # Deleted in Label Studio: start afresh.
            TaskLink.objects.filter(connection=connection).delete()
            connection.ls_project_id = connection.ml_backend_id = connection.webhook_id = None
    if existing is not None:
        kept = config.label_config_labels_of(getattr(existing, "label_config", "") or "")
        xml = config.label_config(project=project, extra_labels=[*sorted(prediction_labels), *kept])
        return api.call(
            "update the project's title and label config",
            ls.projects.update,
            connection.ls_project_id,
            title=title,
            label_config=xml,
        )
    xml = config.label_config(project=project, extra_labels=sorted(prediction_labels))
    created = api.call(
        "create the project (its label config is checked there)",
        ls.projects.create,
        title=title,
        description=description,
        label_config=xml,
        sampling="Uncertainty sampling",
        show_collab_predictions=True,
    )
    connection.ls_project_id = created.id
    Connection.objects.filter(pk=connection.pk).update(
        ls_project_id=created.id, ml_backend_id=None, webhook_id=None, updated_at=timezone.now()
    )
    return created


def _remote_tasks(api: LabelStudioApi, connection: Connection) -> dict[int, dict[str, Any]]:
    """`{ls_task_id: task}` of every task in the Label Studio project, with predictions and annotations."""
    tasks = api.pages("list the project's tasks", api.client.tasks.list, project=connection.ls_project_id, fields="all")
    return {int(task["id"]): task for task in tasks}


def _relink(connection: Connection, remote: dict[int, dict[str, Any]]) -> int:
    """Make TaskLinks say what Label Studio holds: forget links to deleted tasks, link tasks we pushed and did not
    record (matched by `data.frame_id` of this project). Returns how many were linked anew."""
    project_id = connection.project_id
    frame_ids = set(Frame.objects.filter(clip__project_id=project_id).values_list("pk", flat=True))
    by_frame: dict[int, int] = {}
    for task_id in sorted(remote):
        data = remote[task_id].get("data") or {}
        frame_id = data.get("frame_id")
        if isinstance(frame_id, int) and data.get("avs_project") == project_id and frame_id in frame_ids:
            by_frame.setdefault(frame_id, task_id)  # the oldest task of a frame wins
    relinked = 0
    with transaction.atomic():
        TaskLink.objects.filter(connection=connection).exclude(ls_task_id__in=list(remote)).delete()
        links = {link.frame_id: link for link in TaskLink.objects.filter(connection=connection)}
        for frame_id, task_id in by_frame.items():
            link = links.get(frame_id)
            if link is not None and link.ls_task_id == task_id:
                continue
            if link is not None and link.ls_task_id in remote:
                continue  # linked to another live task of that frame: keep it
            TaskLink.objects.filter(connection=connection, ls_task_id=task_id).delete()
            TaskLink.objects.update_or_create(
                connection=connection, frame_id=frame_id, defaults={"ls_task_id": task_id, "prediction_key": ""}
            )
            relinked += 1
    return relinked


def _data_outdated(current: dict[str, Any], planned: dict[str, Any]) -> bool:
    """Whether a task's data must be sent again: anything but the media URLs changed, or a media URL is due for
    renewal (`media.media_url_fresh`). Sending costs one slow call per task, so fresh tasks are left alone."""
    media = ("image", "audio")
    if {k: v for k, v in current.items() if k not in media} != {k: v for k, v in planned.items() if k not in media}:
        return True
    return not all(media_url_fresh(current.get(k)) and bool(current.get(k)) == bool(planned[k]) for k in media)


def _sync_prediction(
    api: LabelStudioApi,
    link: TaskLink,
    planned: Planned,
    predictions: list[dict[str, Any]],
    our_versions: set[str],
    summary: PushSummary,
) -> None:
    """Leave the task with exactly the planned prediction of ours: keep an equal one, withdraw the others."""
    ls = api.client
    keep = None
    for prediction in predictions:
        if planned.prediction is not None and keep is None and prediction_key(prediction) == planned.key:
            keep = prediction
    for prediction in predictions:
        if prediction is keep:
            continue
        if prediction.get("id") == link.prediction_id or prediction.get("model_version") in our_versions:
            api.call(f"withdraw prediction {prediction['id']}", ls.predictions.delete, prediction["id"])
            summary.predictions_deleted += 1
    if keep is not None:
        summary.predictions_kept += 1
        prediction_id = keep["id"]
    elif planned.prediction is not None:
        created = api.call(
            f"add the prediction of task {link.ls_task_id}",
            ls.predictions.create,
            task=link.ls_task_id,
            result=planned.prediction["result"],
            score=planned.prediction["score"],
            model_version=planned.prediction["model_version"],
        )
        summary.predictions_created += 1
        prediction_id = created.id
    else:
        prediction_id = None
    TaskLink.objects.filter(pk=link.pk).update(prediction_id=prediction_id, prediction_key=planned.key)


def _adopt_prediction_ids(api: LabelStudioApi, connection: Connection) -> None:
    """Record the ids of the predictions imported with new tasks (the import answers task ids only)."""
    links = {link.ls_task_id: link for link in TaskLink.objects.filter(connection=connection, prediction_id=None)}
    if not links:
        return
    for task_id, task in _remote_tasks(api, connection).items():
        link = links.get(task_id)
        if link is None or not link.prediction_key:
            continue
        match = next((p for p in task.get("predictions") or [] if prediction_key(p) == link.prediction_key), None)
        if match is not None:
            TaskLink.objects.filter(pk=link.pk).update(prediction_id=match["id"])


def _basic_header(credentials: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()


def _ensure_webhook(api: LabelStudioApi, connection: Connection, credentials: tuple[str, str]) -> int:
    """Our webhook, with the Authorization header, created before the ML backend (see the module)."""
    ls = api.client
    url = webhook_url()
    headers = {"Authorization": _basic_header(credentials)}
    hooks = [_plain(h) for h in api.call("list the webhooks", ls.webhooks.list, project=str(connection.ls_project_id))]
    hooks = [h for h in hooks if h.get("project") in (None, connection.ls_project_id)]
    mine = next((h for h in hooks if h.get("id") == connection.webhook_id), None) or next(
        (h for h in hooks if h.get("url") == url and h.get("project") == connection.ls_project_id), None
    )
    if mine is None:
        hook = api.call(
            "register the webhook",
            ls.webhooks.create,
            url=url,
            project=connection.ls_project_id,
            headers=headers,
            send_payload=True,
            send_for_all_actions=True,
            is_active=True,
        )
        hook_id = int(hook.id)
    else:
        hook_id = int(mine["id"])
        if mine.get("url") != url or mine.get("headers") != headers or not mine.get("is_active", True):
            api.call(
                "update the webhook",
                ls.webhooks.update,
                hook_id,
                url=url,
                headers=headers,
                send_payload=True,
                send_for_all_actions=True,
                is_active=True,
            )
    Connection.objects.filter(pk=connection.pk).update(webhook_id=hook_id)
    connection.webhook_id = hook_id
    return hook_id


def _ensure_ml_backend(api: LabelStudioApi, connection: Connection, credentials: tuple[str, str]) -> int:
    """Our ML backend, Basic auth, interactive. Label Studio calls /ls/health and /ls/setup before it accepts it."""
    ls = api.client
    url = ml_backend_url()
    backends = [_plain(b) for b in api.call("list the ML backends", ls.ml.list, project=connection.ls_project_id)]
    mine = next((b for b in backends if b.get("id") == connection.ml_backend_id), None) or next(
        (b for b in backends if b.get("url") == url), None
    )
    settings_ = {
        "url": url,
        "title": ML_BACKEND_TITLE,
        "auth_method": "BASIC_AUTH",
        "basic_auth_user": credentials[0],
        "basic_auth_pass": credentials[1],
        "is_interactive": True,
    }
    what = f"connect the ML backend at {url} (Label Studio must reach it: check AVS_PUBLIC_URL)"
    try:
        if mine is None:
            backend = api.call(what, ls.ml.create, project=connection.ls_project_id, **settings_)
        else:
            backend = api.call(what, ls.ml.update, int(mine["id"]), project=connection.ls_project_id, **settings_)
    except SyncError as exc:
        if "refused to connect" in str(exc) or "HTTP 400" in str(exc):
            raise SyncError(
                f"Label Studio at {connection.url} could not use our ML backend at {url}: set AVS_PUBLIC_URL to an "
                f"address Label Studio can reach ({_one_line(exc, 200)})"
            ) from exc
        raise
    backend_id = int(backend.id)
    Connection.objects.filter(pk=connection.pk).update(ml_backend_id=backend_id)
    connection.ml_backend_id = backend_id
    return backend_id


# --- pull ------------------------------------------------------------------------------------------------


@dataclass
class PullSummary:
    annotations: int = 0
    imported: int = 0
    unchanged: int = 0
    conflicts: int = 0
    retracted: int = 0
    skipped: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.annotations} Label Studio annotations: {self.imported} imported or updated, {self.unchanged} "
            f"unchanged, {self.conflicts} in conflict, {self.retracted} retracted, {self.skipped} skipped, "
            f"{self.failed} failed."
        )
        return text + (f" First problem: {self.problems[0]}" if self.problems else "")


def ls_pull(
    *, connection: Connection, client_factory: Callable[..., Any] = default_client_factory, progress=None
) -> PullSummary:
    """Import every annotation of the connection's Label Studio project (idempotent; see the module)."""
    if not connection.ls_project_id:
        raise SyncError(f"Project {connection.project.name!r} has not been pushed to Label Studio yet: run ls_push.")
    try:
        summary = _pull(connection, client_factory, progress or (lambda fraction, message: None))
    except SyncError as exc:
        _fail(connection, exc)
        raise
    return summary


def _pull(connection: Connection, client_factory: Callable[..., Any], progress: Progress) -> PullSummary:
    from server.labelstudio.imports import ImportSkipped, annotation_import, annotation_retract

    api = LabelStudioApi(url=connection.url, token=connection.token, client_factory=client_factory)
    remote = _remote_tasks(api, connection)
    progress(20, f"{len(remote)} tasks read.")
    summary = PullSummary()
    seen: set[int] = set()
    before = {
        link.ls_annotation_id: (link.ls_updated_at, link.state)
        for link in AnnotationLink.objects.filter(connection=connection)
    }
    for task in remote.values():
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            ls_id = int(annotation["id"])
            seen.add(ls_id)
            summary.annotations += 1
            try:
                link = annotation_import(connection=connection, task=task, annotation=annotation)
            except ImportSkipped as exc:
                summary.skipped += 1
                logger.info("ls_pull %s: annotation %s skipped: %s", connection.pk, ls_id, exc)
                continue
            except ApplicationError as exc:
                summary.failed += 1
                summary.problems.append(f"annotation {ls_id}: {exc}")
                continue
            if link is None:
                summary.skipped += 1
            elif link.state == AnnotationLink.State.CONFLICT:
                summary.conflicts += 1
            elif before.get(ls_id) == (link.ls_updated_at, link.state):
                summary.unchanged += 1
            else:
                summary.imported += 1
    progress(80, f"{summary.annotations} annotations read.")
    vanished = AnnotationLink.objects.filter(connection=connection).exclude(ls_annotation_id__in=seen)
    for ls_id in vanished.exclude(state=AnnotationLink.State.RETRACTED).values_list("ls_annotation_id", flat=True):
        link = annotation_retract(connection=connection, ls_annotation_id=ls_id)
        if link is not None:
            summary.retracted += 1
    conflicts = AnnotationLink.objects.filter(connection=connection, state=AnnotationLink.State.CONFLICT).count()
    imported = AnnotationLink.objects.filter(connection=connection, state=AnnotationLink.State.IMPORTED).count()
    counts = {**connection.counts, "annotations_imported": imported, "conflicts": conflicts}
    Connection.objects.filter(pk=connection.pk).update(
        last_pull_at=timezone.now(), last_error="", counts=counts, updated_at=timezone.now()
    )
    connection.counts = counts
    return summary


# --- push and pull as jobs (the UI's "push now", the management commands) --------------------------------------

PUSH, PULL = "push", "pull"


def labelstudio_job_request(*, project: Project, action: str, user=None, enqueue: bool = True) -> Job:
    """A LABELSTUDIO job that pushes or pulls the project's connection and, once the transaction commits, its worker
    task (unless `enqueue` is False: the caller runs `labelstudio_job_run`). ApplicationError (400) without a
    usable connection, ConflictError (409) while another push or pull of the project is queued or running."""
    from server.jobs.services import job_create
    from server.labelstudio.tasks import labelstudio_sync_task

    if action not in (PUSH, PULL):
        raise ValueError(f"action must be push or pull, not {action!r}")
    with transaction.atomic():
        connection = Connection.objects.select_for_update().filter(project=project).first()
        if connection is None or not connection.url or not connection.token:
            raise SyncError("Set the Label Studio URL and token of this project first.", {"field": "url"})
        if action == PULL and not connection.ls_project_id:
            raise SyncError("Push the project to Label Studio before pulling annotations from it.")
        running = Job.objects.filter(
            project=project, kind=Job.Kind.LABELSTUDIO, status__in=(Job.Status.QUEUED, Job.Status.RUNNING)
        ).first()
        if running is not None:
            raise ConflictError(
                f"A Label Studio {running.result.get('action', 'sync')} of this project is already "
                f"{running.status} (job {running.pk}); wait for it to finish.",
                {"job": running.pk},
            )
        job = job_create(
            project_id=project.pk,
            kind=Job.Kind.LABELSTUDIO,
            created_by=user if getattr(user, "pk", None) else None,
            target=connection,
            message=f"Label Studio {action} queued.",
        )
        Job.objects.filter(pk=job.pk).update(result={"action": action})
        job.result = {"action": action}
        if enqueue:
            transaction.on_commit(lambda: labelstudio_sync_task.delay(job.pk))
    return job


def labelstudio_job_run(*, job_id: int, client_factory: Callable[..., Any] = default_client_factory) -> Job:
    """Run a LABELSTUDIO job: its outcome (summary or the one-line error) is on the job."""
    from server.jobs.services import job_fail, job_progress, job_start, job_succeed

    job = Job.objects.select_related("project").get(pk=job_id)
    if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
        return job  # a redelivered task: done already
    action = job.result.get("action", PUSH)
    job_start(job_id=job.pk, message=f"Label Studio {action} running.")

    def progress(value: float, message: str) -> None:
        job_progress(job_id=job.pk, progress=value, message=message)

    try:
        if action == PUSH:
            summary: Any = ls_push(project=job.project, client_factory=client_factory, progress=progress)
        else:
            connection = Connection.objects.get(project=job.project)
            summary = ls_pull(connection=connection, client_factory=client_factory, progress=progress)
    except ApplicationError as exc:
        job_fail(job_id=job.pk, error=exc.message, message=f"Label Studio {action} failed.")
    else:
        result = {"action": action, **{k: v for k, v in vars(summary).items() if k != "problems"}}
        if getattr(summary, "problems", None):
            result["problems"] = summary.problems[:20]
        Job.objects.filter(pk=job.pk).update(result=result)
        job_succeed(job_id=job.pk, message=summary.line())
    job.refresh_from_db()
    return job
