"""AVS Studio as Label Studio's ML backend: `/ls/health`, `/setup`, `/predict`, `/webhook`, `/train`, `/metrics`,
`/versions`, in the shapes Label Studio 1.23.2 sends (`ml/api_connector.py`: `project` is `"<id>.<timestamp>"`,
predict sends `{"tasks", "project", "label_config", "params": {"context"}}`).

Every route takes HTTP Basic credentials (AVS_LS_BASIC_AUTH_USER / _PASS: 503 naming them while unset, 401 with
`WWW-Authenticate` when wrong), is CSRF-exempt (Label Studio is no browser) and answers errors as the API does,
`{"message", "extra"}`. Nothing here loads a model except the interactive SAM click, which uses the web annotator's
cached session; proposals are read as stored, and frames without one are proposed by a queued job, never inline.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from server.annotations.models import Proposal
from server.annotations.services import PROPOSAL_FALLBACK_LABEL, frame_sam_predict
from server.core.errors import ApplicationError, ConflictError, NotFoundError
from server.jobs.models import Job
from server.labelstudio import label_config
from server.labelstudio.brush import brush_result
from server.labelstudio.events import (
    STORED_ACTIONS,
    TRAIN_ACTION,
    connection_for,
    ls_project_id_of,
    webhook_payload_check,
    webhook_receive,
)
from server.labelstudio.imports import MASK_CONTROL, ImportSkipped, task_frame
from server.labelstudio.models import Connection
from server.learning.models import AcquisitionScore, ModelVersion, TrainingRound
from server.media.models import Clip, Frame

logger = logging.getLogger(__name__)

MODEL_CLASS = "AVSStudio"
GENERIC_VERSION = "AVSStudio"  # the model version of a Label Studio project no connection knows (yet)
IMAGE_CONTROL = label_config.IMAGE
POINT_TYPE, BOX_TYPE = "keypointlabels", "rectanglelabels"
SAM_VERSION_SUFFIX = " + SAM click"
PENDING_SUFFIX = " (proposing)"
REALM = "AVS Studio Label Studio bridge"
TRAINING_TRIGGER = TrainingRound.Trigger.LABELSTUDIO


# --- services -----------------------------------------------------------------------------------------------------


def model_version_name(version: ModelVersion) -> str:
    """The model version string Label Studio sees (setup, predictions, pushed predictions must use the same)."""
    return version.name


def _proposer(connection: Connection) -> ModelVersion:
    from server.learning.training import current_proposer_version

    return current_proposer_version(project=connection.project)


def ls_setup(*, project: Any) -> dict[str, Any]:
    """`/setup`: the connected project's current proposer version. A Label Studio project no connection knows yet
    (the ML backend added by hand before a push, or the push's setup call before it stored the project id) gets a
    generic version and a log line, not an error: an error would stop Label Studio from adding the backend."""
    connection = connection_for(ls_project_id=ls_project_id_of(project))
    if connection is None:
        logger.warning("labelstudio /setup: Label Studio project %r is connected to no AVS Studio project", project)
        return {"model_version": GENERIC_VERSION}
    return {"model_version": model_version_name(_proposer(connection))}


def ls_versions(*, project: Any) -> dict[str, Any]:
    """`/versions`: the model versions of the connected project (of every connected project without one)."""
    ls_id = ls_project_id_of(project)
    versions = ModelVersion.objects.order_by("-created_at", "-id")
    if ls_id is not None:
        connection = connection_for(ls_project_id=ls_id)
        versions = versions.filter(project_id=connection.project_id if connection is not None else None)
    else:
        versions = versions.filter(project__labelstudio__isnull=False)
    return {"versions": list(dict.fromkeys(model_version_name(v) for v in versions.only("name")))}


def _latest_score(clip_id: int) -> float | None:
    score = (
        AcquisitionScore.objects.filter(clip_id=clip_id).order_by("-created_at", "-id").values_list("score", flat=True)
    ).first()
    return None if score is None else float(score)


def _preannotation_queued(*, connection: Connection, clip: Clip) -> bool:
    return Job.objects.filter(
        project_id=connection.project_id,
        kind=Job.Kind.PREANNOTATE,
        status__in=(Job.Status.QUEUED, Job.Status.RUNNING),
        result__request__clips__contains=[clip.pk],
    ).exists()


def _clip_preannotate(*, connection: Connection, clip: Clip) -> str:
    """Queue pre-annotation of `clip` unless one is queued or running; returns the note for Label Studio."""
    from server.annotations.preannotation import preannotate_request

    with transaction.atomic():
        Clip.objects.select_for_update().filter(pk=clip.pk).first()  # one request queues it, not two at once
        if _preannotation_queued(connection=connection, clip=clip):
            return f"Clip {clip.name} is being proposed by AVS Studio; predict again once it is done."
        try:
            job = preannotate_request(project=connection.project, clip_ids=[clip.pk])
        except ApplicationError as exc:
            return f"Clip {clip.name} has no proposal and cannot be proposed now: {exc.message}"
    return f"Clip {clip.name} had no proposal: pre-annotation queued (job {job.pk}); predict again once it is done."


def frame_results(proposal: Proposal, frame: Frame, *, to_name: str = IMAGE_CONTROL) -> list[dict[str, Any]]:
    """The `brushlabels` results of `proposal` on `frame`, one per instance (what /predict answers and a push attaches
    as the task's prediction). Instances of another frame size (an earlier ingest of the clip) are left out."""
    entry = next((e for e in proposal.frames if e.get("frame_index") == frame.index), None)
    results = []
    for k, instance in enumerate((entry or {}).get("instances") or []):
        if list(instance["mask"].get("size", [])) != [frame.height, frame.width]:
            continue  # a proposal of an earlier ingest of the clip
        label = (instance.get("label") or "").strip() or PROPOSAL_FALLBACK_LABEL
        score = instance.get("score")
        results.append(
            brush_result(
                mask=instance["mask"],
                label=label,
                from_name=MASK_CONTROL,
                to_name=to_name,
                score=None if score is None else round(float(score), 6),
                result_id=f"avs-{proposal.pk}-{frame.index}-{k}",
            )
        )
    return results


def prediction_score(acquisition: float | None) -> float | None:
    """The prediction score Label Studio sees for a clip's latest acquisition score (None: unscored). Label Studio
    serves the lowest score first; ours is in [0, 1], higher = label sooner: so 1 − acquisition."""
    return None if acquisition is None else round(1.0 - min(1.0, max(0.0, float(acquisition))), 6)


def ls_predict_tasks(*, connection: Connection, tasks: list[Any]) -> list[dict[str, Any]]:
    """One prediction per task, in order: the brush results of the current proposer's stored proposal on the task's
    frame, `score` = 1 − the clip's latest acquisition score (Label Studio serves low scores first; null unscored).
    A clip without a proposal of the proposer gets pre-annotation queued (once) and an empty result with a `note`,
    under the model version with PENDING_SUFFIX, so that Label Studio asks again later instead of keeping the empty
    prediction as the proposer's."""
    version = _proposer(connection)
    name = model_version_name(version)
    proposals: dict[int, Proposal | None] = {}
    scores: dict[int, float | None] = {}
    notes: dict[int, str] = {}
    answers = []
    for k, task in enumerate(tasks):
        try:
            frame = task_frame(connection=connection, task=task)
        except ImportSkipped as exc:
            answers.append({"result": [], "score": None, "model_version": name + PENDING_SUFFIX, "note": exc.message})
            continue
        except ApplicationError as exc:
            raise ApplicationError(f"tasks[{k}]: {exc.message}", {"field": f"tasks[{k}]"}) from None
        if frame.clip_id not in proposals:
            proposals[frame.clip_id] = Proposal.objects.filter(clip_id=frame.clip_id, model_version=version).first()
        proposal = proposals[frame.clip_id]
        if proposal is None:
            if frame.clip_id not in notes:
                notes[frame.clip_id] = _clip_preannotate(connection=connection, clip=frame.clip)
            answers.append(
                {"result": [], "score": None, "model_version": name + PENDING_SUFFIX, "note": notes[frame.clip_id]}
            )
            continue
        if frame.clip_id not in scores:
            scores[frame.clip_id] = prediction_score(_latest_score(frame.clip_id))
        answers.append(
            {
                "result": frame_results(proposal, frame),
                "score": scores[frame.clip_id],
                "model_version": name,
            }
        )
    return answers


def _percent(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApplicationError(f"{field} must be a number (percent of the image).", {"field": field})
    return float(value)


def sam_prompts(*, context_results: list[Any], frame: Frame) -> tuple[list[dict[str, Any]], list[float] | None, str]:
    """Label Studio's interactive prompts → `(points, box, label)` in frame pixels for `frame_sam_predict`.

    Keypoints (`keypointlabels`, `value.x/y` in percent, `is_positive` on the result, default true) become points,
    the last rectangle (`rectanglelabels`, `value.x/y/width/height` in percent) the box; the label is the last
    prompt's. Raises ApplicationError (400) when there is no prompt."""
    points: list[dict[str, Any]] = []
    box = None
    label = ""
    for k, item in enumerate(context_results):
        if not isinstance(item, dict) or item.get("type") not in (POINT_TYPE, BOX_TYPE):
            continue
        value = item.get("value") if isinstance(item.get("value"), dict) else {}
        field = f"params.context.result[{k}].value"
        labels = value.get(item["type"])
        if isinstance(labels, list) and labels and isinstance(labels[0], str) and labels[0].strip():
            label = labels[0].strip()
        x = _percent(value.get("x"), f"{field}.x") / 100 * frame.width
        y = _percent(value.get("y"), f"{field}.y") / 100 * frame.height
        if item["type"] == POINT_TYPE:
            positive = item.get("is_positive", value.get("is_positive", True))
            points.append({"x": x, "y": y, "positive": positive is not False and positive not in (0, "false")})
        else:
            w = _percent(value.get("width"), f"{field}.width") / 100 * frame.width
            h = _percent(value.get("height"), f"{field}.height") / 100 * frame.height
            box = [x, y, x + w, y + h]
    if not points and box is None:
        raise ApplicationError(
            "Interactive prediction needs a keypoint (KeyPointLabels) or a rectangle (RectangleLabels) prompt.",
            {"field": "params.context.result"},
        )
    # Label Studio's percent → pixel rounding may land a hair outside the image.
    for point in points:
        point["x"] = min(max(point["x"], 0.0), float(frame.width))
        point["y"] = min(max(point["y"], 0.0), float(frame.height))
    if box is not None:
        box = [
            min(max(box[0], 0.0), float(frame.width)),
            min(max(box[1], 0.0), float(frame.height)),
            min(max(box[2], 0.0), float(frame.width)),
            min(max(box[3], 0.0), float(frame.height)),
        ]
    return points, box, label or PROPOSAL_FALLBACK_LABEL


def ls_predict_interactive(*, connection: Connection, task: Any, context_results: list[Any]) -> dict[str, Any]:
    """SAM's mask for the prompts clicked in Label Studio, as one `brushlabels` result labelled with the prompt's
    label (the web annotator's cached SAM session). ServiceUnavailableError (503) without a configured SAM."""
    frame = task_frame(connection=connection, task=task)
    points, box, label = sam_prompts(context_results=context_results, frame=frame)
    to_name = next(
        (r.get("to_name") for r in context_results if isinstance(r, dict) and isinstance(r.get("to_name"), str)),
        IMAGE_CONTROL,
    )
    sam = frame_sam_predict(frame=frame, points=points, box=box)
    score = float(sam.get("score") or 0.0)
    version = model_version_name(_proposer(connection)) + SAM_VERSION_SUFFIX
    result = brush_result(mask=sam["mask"], label=label, from_name=MASK_CONTROL, to_name=to_name, score=score)
    return {"result": [result], "score": score, "model_version": version}


def ls_predict(*, body: dict[str, Any]) -> dict[str, Any]:
    """`/predict`: `{"tasks": [...], "project": "<id>.<ts>", "params": {"context": {"result": [...]}}}` →
    `{"results": [...]}`, one per task (interactive: one for the first task)."""
    tasks = body.get("tasks")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, dict) for t in tasks):
        raise ApplicationError("tasks must be a non-empty list of Label Studio tasks.", {"field": "tasks"})
    data = tasks[0].get("data") if isinstance(tasks[0].get("data"), dict) else {}
    ls_id = ls_project_id_of(body.get("project"))
    connection = connection_for(ls_project_id=ls_id, avs_project=data.get("avs_project"))
    if connection is None:
        raise NotFoundError(
            f"Label Studio project {body.get('project')!r} is connected to no AVS Studio project: push one to it "
            "first (python manage.py ls_push, or the project's Label Studio settings).",
            {"field": "project"},
        )
    params = body.get("params") if isinstance(body.get("params"), dict) else {}
    context = params.get("context") if isinstance(params.get("context"), dict) else {}
    prompts = context.get("result")
    if isinstance(prompts, list) and any(
        isinstance(r, dict) and r.get("type") in (POINT_TYPE, BOX_TYPE) for r in prompts
    ):
        return {"results": [ls_predict_interactive(connection=connection, task=tasks[0], context_results=prompts)]}
    return {"results": ls_predict_tasks(connection=connection, tasks=tasks)}


def ls_train(*, project: Any) -> TrainingRound:
    """Start a self-training round of the connected project (queued; `server.learning.training`). NotFoundError
    (404) for a project no connection knows, ConflictError (409) when a round is queued or running."""
    from server.learning.training import training_round_start

    connection = connection_for(ls_project_id=ls_project_id_of(project))
    if connection is None:
        raise NotFoundError(
            f"Label Studio project {ls_project_id_of(project)} is connected to no AVS Studio project: "
            "nothing to train.",
            {"field": "project"},
        )
    return training_round_start(project=connection.project, user=None, trigger=TRAINING_TRIGGER)


# --- HTTP ---------------------------------------------------------------------------------------------------------


def _error(message: str, status: int, extra: dict[str, Any] | None = None, **headers: str) -> JsonResponse:
    response = JsonResponse({"message": message, "extra": extra or {}}, status=status)
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


def _credentials_ok(request: HttpRequest, user: str, password: str) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        given_user, sep, given_password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    return bool(sep) and user_ok and password_ok


def ls_endpoint(*methods: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A Label Studio route: method check, bridge switched on, Basic auth, JSON body (POST: `body` argument;
    GET: an optional one, Label Studio sends JSON with GET /versions), errors in the API's shape."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest) -> JsonResponse:
            if request.method not in methods:
                return _error(f"{request.path} accepts {' or '.join(methods)} only.", 405, Allow=", ".join(methods))
            user, password = settings.AVS_LS_BASIC_AUTH_USER, settings.AVS_LS_BASIC_AUTH_PASS
            if not user or not password:
                return _error(
                    "The Label Studio bridge is off: set AVS_LS_BASIC_AUTH_USER and AVS_LS_BASIC_AUTH_PASS, and give "
                    "Label Studio the same credentials for its ML backend (Basic auth).",
                    503,
                    {"settings": ["AVS_LS_BASIC_AUTH_USER", "AVS_LS_BASIC_AUTH_PASS"]},
                )
            if not _credentials_ok(request, user, password):
                return _error(
                    "Label Studio must present the ML backend's Basic auth credentials (AVS_LS_BASIC_AUTH_USER / "
                    "AVS_LS_BASIC_AUTH_PASS).",
                    401,
                    WWW_Authenticate=f'Basic realm="{REALM}", charset="UTF-8"',
                )
            try:
                raw = request.body
            except RequestDataTooBig:
                return _error(
                    f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
                    "(setting AVS_REQUEST_BODY_MAX_BYTES).",
                    413,
                )
            body: Any = {}
            if raw.strip():
                try:
                    body = json.loads(raw)
                except (ValueError, UnicodeDecodeError) as exc:
                    return _error(f"The body is not JSON: {exc}.", 400)
            if request.method == "POST" and not isinstance(body, dict):
                return _error("The body must be a JSON object.", 400)
            try:
                return view(request, body if isinstance(body, dict) else {})
            except ApplicationError as exc:
                return _error(exc.message, exc.status, exc.extra)

        return wrapped

    return decorate


@ls_endpoint("GET")
def health_view(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    return JsonResponse({"status": "UP", "model_class": MODEL_CLASS})


@ls_endpoint("POST")
def setup_view(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(ls_setup(project=body.get("project")))


@ls_endpoint("POST")
def predict_view(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(ls_predict(body=body))


def _train_response(project: Any) -> JsonResponse:
    try:
        training_round = ls_train(project=project)
    except ConflictError as exc:
        # 409: Label Studio shows the ML backend's state as an error ("409 Conflict") until its next setup call,
        # which is what the person pressing "Start training" needs to see; the body says which round runs.
        return _error(exc.message, 409, exc.extra)
    return JsonResponse(
        {
            "status": "queued",
            "training_round": training_round.pk,
            "message": f"Training round {training_round.pk} queued in AVS Studio.",
        },
        status=201,
    )


@ls_endpoint("POST")
def webhook_view(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    action = webhook_payload_check(body)
    if action == TRAIN_ACTION:
        return _train_response(body.get("project"))
    if action not in STORED_ACTIONS:
        return JsonResponse({"status": "ignored", "action": action})
    event = webhook_receive(payload=body)
    return JsonResponse({"status": event.status, "event": event.pk}, status=201 if event.connection_id else 200)


@ls_endpoint("POST")
def train_view(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    return _train_response(body.get("project"))


@ls_endpoint("GET", "POST")
def metrics_view(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    return JsonResponse({})


@ls_endpoint("GET", "POST")
def versions_view(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(ls_versions(project=body.get("project") or request.GET.get("project")))
