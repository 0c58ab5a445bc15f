"""Schemathesis fuzzes every operation of the OpenAPI schema (`/api/schema/`) over real HTTP, as each role.

pytest-django's `live_server` (a threaded HTTP server in this process on the test database: PostgreSQL, the
production database) serves the API, and the schema is read from it. For each role (manager, annotator,
reviewer, outsider: a signed-in non-member, anonymous), every operation gets positive (schema-valid) and
negative (schema-violating) requests, sent with that role's API token. Three times in four, the ids in the
path, the query and the body (`project_id`, `proposal`, `model_version`, `version`...) point at seeded objects
and instance masks are valid masks of the frame, so the fuzz reaches the code behind the 404s and 400s: a
project with a clip ingested from a real video (frames, audio, source), a label, a proposal, a submitted
annotation, a finished export. Whatever an operation deletes or changes (the project, a membership, the
token) is seeded again before the next one.

Every response must:
- not be a 5xx (but a documented 503: SAM clicks without a configured model);
- if it is an error, have the API's error shape `{"message": str, "extra": {...}}` (server/core/exceptions.py);
- conform to the schema: a documented status code, content type and headers, and a body matching its schema.

Budget, deterministic (derandomized Hypothesis, no example database): `AVS_FUZZ_MAX_EXAMPLES` examples per
operation, role and mode (default 4), `AVS_FUZZ_TIME_BUDGET` seconds for the whole run (default 300): a role
whose operations were not all fuzzed in time is reported as skipped, never as passed. The run's size
(operations, examples, requests, statuses) and time are printed at the end.

Nothing is excluded. SAM clicks answer 503 (no model is configured: the tiny SAM has its own tests); uploads
get small generated bodies (PyAV reads some of them as one-frame videos); pre-annotation, exports and
evaluations run eagerly in the server's thread on the seeded clip.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.cache import caches
from django.core.files import File
from django.db import connection
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.accounts.models import Membership, Role
from server.accounts.services import label_create
from server.annotations.models import Annotation, Proposal
from server.annotations.services import annotation_update, proposal_store
from server.core.demo import fixture_frames
from server.datasets.services.export import export_create
from server.learning.models import ModelVersion
from server.learning.services import model_version_get_or_create
from server.media.models import Clip, Label
from server.media.services import clip_create_from_file
from tests.factories import ProjectFactory, UserFactory
from tests.media_files import make_video
from tests.utils import require_service

os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")  # read when live_server starts

# reset_sequences: the same ids every run, whatever tests ran before
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, reset_sequences=True)]

MAX_EXAMPLES = int(os.environ.get("AVS_FUZZ_MAX_EXAMPLES", "4"))
TIME_BUDGET = float(os.environ.get("AVS_FUZZ_TIME_BUDGET", "300"))
ROLES = [Role.MANAGER.value, Role.ANNOTATOR.value, Role.REVIEWER.value, "outsider", "anonymous"]
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
CHECKS = [  # and `_server_error_problem`, `_error_shape_problem` below
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
REQUEST_TIMEOUT = 60


@dataclass
class RunStats:
    """The whole run's size, over every role; printed when the module's tests are done."""

    started: float = field(default_factory=time.monotonic)
    operations: set[str] = field(default_factory=set)
    pairs: int = 0  # operation x role
    examples: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    not_fuzzed: int = 0

    def out_of_time(self) -> bool:
        return time.monotonic() - self.started > TIME_BUDGET

    def summary(self) -> str:
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(self.statuses.items()))
        lines = [
            f"API fuzz: {len(self.operations)} operations, {self.pairs} operation x role pairs, {len(MODES)} modes: "
            f"{self.examples} examples, {self.requests} requests in {time.monotonic() - self.started:.1f} s "
            f"(AVS_FUZZ_MAX_EXAMPLES={MAX_EXAMPLES}, AVS_FUZZ_TIME_BUDGET={TIME_BUDGET:g})",
            f"API fuzz: statuses {statuses}",
        ]
        if self.not_fuzzed:
            lines.append(f"API fuzz: {self.not_fuzzed} operation x role pairs not fuzzed: the time budget was spent")
        return "\n".join(lines)


@pytest.fixture(scope="module")
def run_stats(request):
    stats = RunStats()
    yield stats
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():  # shown without -s
        print("\n" + stats.summary())


@pytest.fixture(scope="module")
def video_bytes(tmp_path_factory) -> bytes:
    """A 2-second 64×48 MP4 with audio: the seeded clip is ingested from it (frames, audio, source)."""
    path = make_video(tmp_path_factory.mktemp("fuzz") / "clip.mp4", seconds=2.0, fps=5, audio_rate=16000)
    return path.read_bytes()


@pytest.fixture
def fresh_caches():
    """Sign-in lockouts and throttles count in the cache: the fuzz's failed sign-ins must not lock out
    127.0.0.1 for the roles and tests after it."""
    for cache in caches.all():
        cache.clear()
    yield
    for cache in caches.all():
        cache.clear()


class World:
    """The seeded objects ids point at: a project where the role's user has that role (none for the outsider
    and anonymous), with a clip ingested from a real video, a label, a proposal, a submitted annotation on the
    first frame and a finished export. `ensure()` seeds a new project when an operation deleted or changed
    part of it."""

    def __init__(self, *, role: str, video: bytes, tmp: Path):
        self.role = role
        self.video = video
        self.tmp = tmp
        self.seeds = 0
        self.user = None if role == "anonymous" else UserFactory()
        self.other = UserFactory()  # an annotator of the project: the target of member operations
        self.manager = self.user if role == Role.MANAGER else UserFactory()
        self.ids: dict[str, int] = {}
        self.mask: dict[str, Any] = {}

    def headers(self) -> dict[str, str]:
        """The role's token (a new one if an operation revoked it)."""
        if self.user is None:
            return {}
        token, _ = Token.objects.get_or_create(user=self.user)
        return {"Authorization": f"Token {token.key}"}

    def ensure(self) -> None:
        if not self._intact():
            self._seed()

    def _intact(self) -> bool:
        ids = self.ids
        if not ids:
            return False
        roles = dict(Membership.objects.filter(project_id=ids["project_id"]).values_list("user_id", "role"))
        if self.role in Role.values and roles.get(self.user.pk) != self.role:
            return False
        return (
            roles.get(self.other.pk) == Role.ANNOTATOR
            and roles.get(self.manager.pk) == Role.MANAGER
            and Clip.objects.filter(pk=ids["clip_id"], status=Clip.Status.READY).exists()
            and Label.objects.filter(pk=ids["label_id"]).exists()
            and Proposal.objects.filter(pk=ids["proposal_id"]).exists()
            and Annotation.objects.filter(pk=ids["annotation_id"]).exists()
            and ModelVersion.objects.filter(pk=ids["model_version_id"]).exists()
        )

    def _seed(self) -> None:
        self.seeds += 1
        project = ProjectFactory(name=f"fuzz {self.role} {self.seeds}", fps=2.0)
        Membership.objects.create(project=project, user=self.manager, role=Role.MANAGER)
        Membership.objects.create(project=project, user=self.other, role=Role.ANNOTATOR)
        if self.role in (Role.ANNOTATOR, Role.REVIEWER):
            Membership.objects.create(project=project, user=self.user, role=self.role)
        source = self.tmp / f"clip-{self.seeds}.mp4"
        source.write_bytes(self.video)
        with source.open("rb") as handle:  # eager Celery: ingested before this returns
            clip, _, _ = clip_create_from_file(
                project=project, file=File(handle, name=source.name), name=source.name, user=self.manager
            )
        clip.refresh_from_db()
        assert clip.status == Clip.Status.READY, clip.error
        frame = clip.frames.order_by("index").first()
        label = label_create(project=project, name="sounding object")
        version, _ = model_version_get_or_create(
            project=project, kind=ModelVersion.Kind.BASELINE, name="fuzz fixture", config={"proposer": "fuzz"}
        )
        proposal = proposal_store(clip=clip, model_version=version, frames=fixture_frames(clip))
        self.mask = proposal.frames[0]["instances"][0]["mask"]
        annotation = annotation_update(
            frame=frame,
            user=self.other,
            role=Role.ANNOTATOR,
            instances=[{"mask": self.mask, "label": label.name}],
            version=None,
            status=Annotation.Status.SUBMITTED,
            source_proposal_id=proposal.pk,
        )
        export = export_create(project=project, user=self.manager, fmt="json", include_submitted=True)
        self.ids = {
            "project_id": project.pk,
            "clip_id": clip.pk,
            "frame_id": frame.pk,
            "label_id": label.pk,
            "proposal_id": proposal.pk,
            "annotation_id": annotation.pk,
            "model_version_id": version.pk,
            "job_id": export.job_id,
            "user_id": self.other.pk,
        }

    def field_value(self, name: str) -> Any:
        """The seeded value for a body or query field of that name (KeyError: none)."""
        if name in ("version", "annotation_version"):  # the annotation's current version
            return Annotation.objects.values_list("version", flat=True).get(pk=self.ids["annotation_id"])
        return {
            "proposal": self.ids["proposal_id"],
            "source_proposal": self.ids["proposal_id"],
            "model_version": self.ids["model_version_id"],
            "clip": self.ids["clip_id"],
            "clips": [self.ids["clip_id"]],
            "user_id": self.ids["user_id"],
            "page": 1,
        }[name]

    def plant(self, case: schemathesis.Case) -> None:
        """Point the case's ids at the seeded objects, and its instances' masks at a valid mask of the frame
        (labels and everything else stay as generated)."""
        for name in list(case.path_parameters or {}):
            if name in self.ids:
                case.path_parameters[name] = self.ids[name]
        for container in (case.query, case.body):
            if not isinstance(container, dict):
                continue
            for name, value in list(container.items()):
                if name == "instances" and isinstance(value, list):
                    for instance in value:
                        if isinstance(instance, dict):
                            instance["mask"] = self.mask
                    continue
                try:
                    container[name] = self.field_value(name)
                except KeyError:
                    pass


def _server_error_problem(case: schemathesis.Case, response: schemathesis.Response) -> str | None:
    """A 5xx is a failure, except a 503 the operation documents: a service it needs is not set up, e.g. SAM
    clicks without a model (AVS_MODEL_CONFIG), which answers with a message naming the setting."""
    code = response.status_code
    if code < 500 or (code == 503 and "503" in case.operation.responses.status_codes):
        return None
    return f"Server error {code}"


def _error_shape_problem(response: schemathesis.Response) -> str | None:
    """Why an error body is not `{"message": str, "extra": {...}}`, or None."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"not JSON ({response.headers.get('Content-Type')}): {response.content[:200]!r}"
    if not isinstance(body, dict) or set(body) != {"message", "extra"}:
        return f"keys {sorted(body) if isinstance(body, dict) else type(body).__name__}, not message and extra"
    if not isinstance(body["message"], str) or not body["message"]:
        return "message is not a non-empty string"
    if not isinstance(body["extra"], dict):
        return "extra is not an object"
    return None


@pytest.fixture
def api_schema(live_server):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "set DATABASE_URL=postgres://... so the fuzz runs on the production database")
    return schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")


def _fuzz(
    *,
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    role: str,
    world: World,
    base_url: str,
    stats: RunStats,
    failures: dict[tuple[str, str], str],
) -> None:
    """Send MAX_EXAMPLES generated requests to `operation`; record each distinct problem in `failures`."""
    label = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every problem is reported as found
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode), seeded=st.sampled_from([True, True, True, False]))
    def fuzz(case: schemathesis.Case, seeded: bool) -> None:
        stats.examples += 1
        if seeded:
            world.plant(case)
        headers = world.headers()
        # A new connection per request: on a kept-alive one, each response of the test server waits for a
        # delayed ACK (~50 ms).
        response = case.call(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT)
        stats.requests += 1
        stats.statuses[response.status_code] += 1
        problems = []
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            problems += [f"{failure.title}: {failure.message}" for failure in group.exceptions]
        server_error = _server_error_problem(case, response)
        if server_error:
            problems.append(server_error)
        shape = _error_shape_problem(response)
        if shape:
            problems.append(f"Error body not in the API's error shape: {shape}")
        for problem in problems:
            key = (label, problem.splitlines()[0][:160])
            if key not in failures:
                body = response.content[:300].decode("utf-8", "replace")
                curl = case.as_curl_command(headers=headers, base_url=base_url)
                failures[key] = (
                    f"[{role}, {mode.value}] {label} -> {response.status_code}\n{problem[:800]}\nbody: {body}\n{curl}"
                )

    try:
        fuzz()
    except Unsatisfiable:  # negative mode, and nothing in the operation's requests can be made invalid
        assert mode == schemathesis.GenerationMode.NEGATIVE, label


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_within_its_schema_and_the_error_shape(
    role, api_schema, live_server, run_stats, fresh_caches, tmp_path, video_bytes
):
    world = World(role=role, video=video_bytes, tmp=tmp_path)
    failures: dict[tuple[str, str], str] = {}
    not_fuzzed = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        run_stats.operations.add(label)
        if run_stats.out_of_time():
            not_fuzzed.append(label)
            continue
        run_stats.pairs += 1
        for mode in MODES:
            world.ensure()
            _fuzz(
                operation=operation,
                mode=mode,
                role=role,
                world=world,
                base_url=live_server.url,
                stats=run_stats,
                failures=failures,
            )

    assert not failures, f"{len(failures)} distinct problems as {role}:\n\n" + "\n\n".join(failures.values())
    if not_fuzzed:
        run_stats.not_fuzzed += len(not_fuzzed)
        pytest.skip(f"time budget (AVS_FUZZ_TIME_BUDGET={TIME_BUDGET:g} s) spent: not fuzzed as {role}: {not_fuzzed}")
