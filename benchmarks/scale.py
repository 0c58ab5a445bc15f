"""The API at scale on PostgreSQL: N clips seeded in bulk, then p50/p95 and query counts of the pages people use.

    .venv/bin/python benchmarks/scale.py [--clips 100000] [--requests 40]
        [--postgres postgres://postgres@127.0.0.1:5432] [--database avs_bench_scale] [--keep]

Creates the throwaway database `--database` on `--postgres` (dropped first if it exists, and at the end unless
`--keep`) and migrates it. Seeds it in bulk with COPY (no files: media names only, no view measured reads them):
4 projects holding 50 %, 25 %, 15 % and 10 % of the clips; per clip an ingest job, and for the ready ones (96 %)
5 frames and an audio track; a proposal for half the clips (and a student's for one in ten); two acquisition scores
per clip with a proposal, one for every fifth other ready clip, about `--clips` in all; 20 000 annotations per
100 000 clips (every frame of 4 % of the clips: accepted, submitted, draft, rejected or mixed), each with one to three
revisions and its reviews. The stored counters (clips, projects, model versions) are then computed from the rows
(`server.learning.services.counters_rebuild`, what `manage.py counters_rebuild` runs), and the database is vacuumed
and analysed. The seeding time covers all of it.

Seeding runs in two steps: first `--clips`/10 clips, when the query count of every request is taken, then the rest;
the counts are taken again at `--clips` and must be equal (lists cost a constant number of queries). Each request
then runs through the real URL routing (Django's test client, token-authenticated as a project manager who is not
a superuser, DEBUG off) `--requests` times after 3 warm-up calls, on the largest project; the table gives p50/p95
in milliseconds and the queries per request ("annotator clip bundle": the clip, its annotations and its proposals,
what the annotator loads, timed as one). Then an annotator's save (PUT of a frame's annotation, draft <-> submitted:
every save moves the counters), and EXPLAIN (ANALYZE, BUFFERS) of the SQL the review queue and clip lists run, with
the indexes they use (their counts come from counters: no COUNT query, but for a search). Target: every p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 50.0
FRAMES_PER_CLIP = 5
ANNOTATIONS_PER_100K = 20_000
PROJECT_SHARES = (10, 5, 3, 2)  # of every 20 clips: 50 %, 25 %, 15 %, 10 %
WORDS = (
    "dog_bark", "guitar", "piano", "violin", "car_engine", "baby_cry", "cat_meow", "drums", "lawn_mower", "helicopter",
    "speech", "train_horn", "bird_song", "keyboard", "cello", "trumpet", "siren", "waterfall", "flute", "motorbike",
)  # fmt: skip
SEARCH_COMMON = "guitar"  # in 1 clip name of 20, in every project


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=100_000, help="Clips in all (the first step seeds a tenth).")
    parser.add_argument("--requests", type=int, default=40, help="Timed requests per measured call.")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432", help="Server for the database.")
    parser.add_argument("--database", default="avs_bench_scale", help="Throwaway database (dropped and created).")
    parser.add_argument("--keep", action="store_true", help="Keep the database at the end (to look at it).")
    args = parser.parse_args()
    if args.clips < 200:
        parser.error("--clips: at least 200")

    import psycopg

    try:
        admin = psycopg.connect(f"{args.postgres}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        print(f"PostgreSQL is unreachable at {args.postgres}: {exc}", file=sys.stderr)
        return 2
    admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{args.database}"')
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "server.config.settings.local",
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": f"{args.postgres}/{args.database}",
            "AVS_LOG_LEVEL": "WARNING",
            "AVS_MODEL_CONFIG": "",
            "HF_HUB_OFFLINE": "1",
        }
    )
    sys.path.insert(0, str(ROOT))
    try:
        return run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.close()


# --- seeding ------------------------------------------------------------------------------------------------------


class Seeder:
    """Bulk rows through COPY with explicit ids; fields left out take their model default."""

    def __init__(self) -> None:
        from django.db import connection

        from server.core.masks import rle_encode

        connection.ensure_connection()
        self.raw = connection.connection  # the psycopg connection
        self.base = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
        import numpy as np

        mask = np.zeros((240, 320), dtype=bool)
        mask[60:180, 100:220] = True
        self.rle = rle_encode(mask)
        self.rows: dict[str, int] = {}

    def copy(self, model: Any, rows: Iterable[dict[str, Any]]) -> None:
        fields = [f for f in model._meta.concrete_fields if not getattr(f, "generated", False)]
        columns = ", ".join(f'"{f.column}"' for f in fields)
        defaults = {}
        for f in fields:
            if f.has_default():
                defaults[f.attname] = f.get_default()
            elif f.null or f.attname in ("created_at", "updated_at"):
                defaults[f.attname] = None
            else:
                defaults[f.attname] = "" if f.get_internal_type() in ("CharField", "TextField", "FileField") else None
        json_fields = {f.attname for f in fields if f.get_internal_type() == "JSONField"}
        now = self.base
        count = 0
        with self.raw.cursor() as cursor, cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as out:
            for row in rows:
                values = []
                for f in fields:
                    value = row.get(f.attname, defaults[f.attname])
                    if value is None and f.attname in ("created_at", "updated_at"):
                        value = row.get("created_at") or now
                    if f.attname in json_fields and value is not None:
                        value = json.dumps(value)
                    values.append(value)
                out.write_row(values)
                count += 1
        self.rows[model._meta.label] = self.rows.get(model._meta.label, 0) + count

    def clip_rows(self, start: int, stop: int, projects: list[Any]) -> Iterator[tuple[int, Any, str]]:
        """(clip id, project, status) of clips [start, stop): id = index + 1."""
        slots = [p for p, share in zip(projects, PROJECT_SHARES, strict=True) for _ in range(share)]
        for i in range(start, stop):
            project = slots[i % 20]
            kind = i % 100
            status = "uploaded" if kind < 2 else "processing" if kind == 2 else "failed" if kind == 3 else "ready"
            yield i + 1, project, status

    def seed(self, start: int, stop: int, world: dict[str, Any]) -> None:
        from django.contrib.contenttypes.models import ContentType

        from server.annotations.models import Annotation, AnnotationRevision, Proposal, Review
        from server.jobs.models import Job
        from server.learning.models import AcquisitionScore
        from server.media.models import AudioTrack, Clip, Frame

        projects = world["projects"]
        clips = list(self.clip_rows(start, stop, projects))
        stamp = {cid: self.base + datetime.timedelta(seconds=30 * cid) for cid, _, _ in clips}
        manager, annotator, reviewer = world["manager"], world["annotator"], world["reviewer"]

        def clip_row(cid: int, project: Any, status: str) -> dict[str, Any]:
            checksum = hashlib.sha256(str(cid).encode()).hexdigest()
            name = f"{WORDS[(cid // 20) % len(WORDS)]}_{cid:06d}.mp4"
            ready = status == "ready"
            return {
                "id": cid,
                "project_id": project.pk,
                "name": name,
                "source": f"projects/{project.pk}/sources/{checksum[:16]}/{name}",
                "checksum": checksum,
                "size_bytes": 1_000_000 + (cid * 7919) % 9_000_000,
                "duration": 3.0 + (cid * 7919 % 170) / 10 if ready else None,
                "source_fps": 25.0 if ready else None,
                "fps": 1.0 if ready else None,
                "width": 320 if ready else None,
                "height": 240 if ready else None,
                "has_audio": ready,
                "status": status,
                "error": "The file could not be decoded." if status == "failed" else "",
                "created_by_id": manager.pk,
                "created_at": stamp[cid],
            }

        self.copy(Clip, (clip_row(*c) for c in clips))
        ready = [(cid, project) for cid, project, status in clips if status == "ready"]
        self.copy(
            Frame,
            (
                {
                    "id": (cid - 1) * FRAMES_PER_CLIP + k + 1,
                    "clip_id": cid,
                    "index": k,
                    "timestamp": k + 0.94,
                    "image": f"projects/{project.pk}/clips/{cid}/frames/{k:05d}.jpg",
                    "width": 320,
                    "height": 240,
                }
                for cid, project in ready
                for k in range(FRAMES_PER_CLIP)
            ),
        )
        self.copy(
            AudioTrack,
            (
                {
                    "id": cid,
                    "clip_id": cid,
                    "file": f"projects/{project.pk}/clips/{cid}/audio.wav",
                    "sample_rate": 16000,
                    "duration": 5.0,
                    "num_samples": 80000,
                }
                for cid, project in ready
            ),
        )
        clip_type = ContentType.objects.get_for_model(Clip).pk
        job_status = {"ready": "succeeded", "failed": "failed", "uploaded": "queued", "processing": "running"}
        self.copy(
            Job,
            (
                {
                    "id": cid,
                    "project_id": project.pk,
                    "kind": "ingest",
                    "status": job_status[status],
                    "progress": 100 if status == "ready" else 0,
                    "message": "5 frames, 5.0 s of audio." if status == "ready" else "Queued for ingest.",
                    "created_by_id": manager.pk,
                    "target_type_id": clip_type,
                    "target_id": cid,
                    "created_at": stamp[cid],
                }
                for cid, project, status in clips
            ),
        )

        # Proposals: the proposer's for even clips, a student's for one in ten; ids 2*cid and 2*cid + 1.
        def proposal_frames(score: float) -> list[dict[str, Any]]:
            instance = {"mask": self.rle, "label": "dog", "score": score, "confidence": 0.7}
            audio = {"rms": 0.1, "silent": False, "audio_tags": [["Dog", 0.8]], "nouns": ["dog"]}
            return [{"frame_index": k, "instances": [instance], "provenance": audio} for k in range(FRAMES_PER_CLIP)]

        frames_json = proposal_frames(0.8)
        proposals: dict[int, int] = {}
        rows = []
        for cid, project in ready:
            if cid % 2 == 0:
                proposals[cid] = 2 * cid
                rows.append(
                    {"id": 2 * cid, "clip_id": cid, "model_version_id": world["versions"][project.pk][0].pk}
                    | {"frames": frames_json, "created_at": stamp[cid] + datetime.timedelta(minutes=5)}
                )
            if cid % 10 == 0:
                rows.append(
                    {"id": 2 * cid + 1, "clip_id": cid, "model_version_id": world["versions"][project.pk][2].pk}
                    | {"frames": frames_json, "created_at": stamp[cid] + datetime.timedelta(days=30)}
                )
        self.copy(Proposal, rows)

        # Acquisition scores: two per clip with a proposal (the newer one counts), one for every fifth other clip.
        def scores() -> Iterator[dict[str, Any]]:
            for cid, project in ready:
                version = world["versions"][project.pk][0].pk
                value = ((cid * 2654435761) % 1000) / 1000
                terms = {"topk_entropy": {"value": value, "weight": 1.0, "contribution": value}}
                common = {"clip_id": cid, "model_version_id": version, "strategy": "combined", "terms": terms}
                common |= {"top_term": "topk_entropy", "missing": []}
                if cid in proposals:
                    yield common | {"id": 3 * cid, "score": 1 - value, "created_at": stamp[cid]}
                    later = stamp[cid] + datetime.timedelta(hours=1)
                    yield common | {"id": 3 * cid + 1, "score": value, "created_at": later}
                elif cid % 5 == 1:
                    yield common | {"id": 3 * cid + 2, "score": value / 2, "created_at": stamp[cid]}

        self.copy(AcquisitionScore, scores())

        # Annotations: every frame of 4 % of the clips (ready ones), 20 000 per 100 000 clips.
        statuses = ["accepted"] * 4 + ["submitted"] * 2 + ["draft"] * 2 + ["rejected", "mixed"]
        mixed = ["accepted", "submitted", "draft", "rejected", "accepted"]
        instances = [{"mask": self.rle, "label": "dog"}]
        annotations, revisions, reviews = [], [], []
        for cid, _project in ready:
            if cid % 25 != 5:
                continue
            plan = statuses[(cid // 25) % 10]
            for k in range(FRAMES_PER_CLIP):
                status = mixed[k] if plan == "mixed" else plan
                aid = (cid - 1) * FRAMES_PER_CLIP + k + 1  # the frame's id
                version = 1 + (aid % 3)
                at = stamp[cid] + datetime.timedelta(days=1, minutes=aid % 997)
                annotations.append(
                    {
                        "id": aid,
                        "clip_id": cid,
                        "frame_id": aid,
                        "instances": instances,
                        "author_id": annotator.pk,
                        "version": version,
                        "status": status,
                        "time_spent": 20.0 + aid % 40,
                        "source_proposal_id": proposals.get(cid),
                        "proposal_iou": 0.6 + (aid % 35) / 100 if cid in proposals else None,
                        "created_at": at,
                        "updated_at": at + datetime.timedelta(minutes=version),
                    }
                )
                for v in range(1, version + 1):
                    revision_status = status if v == version else "draft"
                    revisions.append(
                        {"id": 3 * aid + v - 1, "annotation_id": aid, "version": v, "instances": instances}
                        | {"status": revision_status, "author_id": annotator.pk, "created_at": at}
                    )
                if status in ("accepted", "rejected"):
                    verdict = "accept" if status == "accepted" else "reject"
                    reviews.append(
                        {"id": 2 * aid, "annotation_id": aid, "annotation_version": version, "verdict": verdict}
                        | {"reviewer_id": reviewer.pk, "comment": "" if verdict == "accept" else "Mask too loose."}
                        | {"created_at": at + datetime.timedelta(hours=2)}
                    )
                    if version > 1 and aid % 2:
                        reviews.append(
                            {"id": 2 * aid + 1, "annotation_id": aid, "annotation_version": version - 1}
                            | {"verdict": "reject", "reviewer_id": reviewer.pk, "comment": "Missed the dog's tail."}
                            | {"created_at": at + datetime.timedelta(hours=1)}
                        )
        self.copy(Annotation, annotations)
        self.copy(AnnotationRevision, revisions)
        self.copy(Review, reviews)


def world_create() -> dict[str, Any]:
    """Users, a token, 4 projects with members, labels and 3 model versions each (openavs, baseline, student)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from server.accounts.models import Membership, Role
    from server.learning.models import ModelVersion
    from server.learning.services import model_version_config_hash
    from server.media.models import Label, Project

    User = get_user_model()
    users = {name: User.objects.create_user(username=name, password="bench-pass-1") for name in ROLES}
    projects = [Project.objects.create(name=f"scale {k}", fps=1.0) for k in range(len(PROJECT_SHARES))]
    versions = {}
    for project in projects:
        for name, role in ROLES.items():
            Membership.objects.create(project=project, user=users[name], role=role)
        for k, label in enumerate(("dog", "guitar", "piano", "person")):
            Label.objects.create(project=project, name=label, color=f"#{k * 40:02x}8040")
        configs = {kind: {"kind": kind, "project": project.pk} for kind in ("openavs", "baseline", "student")}
        versions[project.pk] = [
            ModelVersion.objects.create(
                project=project,
                kind=kind,
                name=f"{kind} v1",
                config=config,
                config_hash=model_version_config_hash(config=config),
            )
            for kind, config in configs.items()
        ]
    token = Token.objects.create(user=users["manager"])
    assert Role.MANAGER  # the manager is a member, not a superuser: the membership check runs
    return {"projects": projects, "versions": versions, "token": token.key, **users}


ROLES = {"manager": "manager", "annotator": "annotator", "reviewer": "reviewer"}


def sequences_reset() -> None:
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connection

    models = [m for m in apps.get_models() if m._meta.managed]
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


def denormalised_fill() -> None:
    """The clip and project counters, recomputed from scratch (what the migration runs for existing rows)."""
    from server.learning.services import counters_rebuild

    counters_rebuild()


def vacuum_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# --- measuring ----------------------------------------------------------------------------------------------------


def calls(world: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(name, URLs) of the measured calls on the largest project; a call with several URLs is timed as one."""
    from server.annotations.models import Annotation, Proposal

    project = world["projects"][0]
    p = project.pk
    proposal_clips = Proposal.objects.filter(clip__project=project).values("clip_id")
    annotated = (
        Annotation.objects.filter(clip__project=project, clip_id__in=proposal_clips).order_by("-clip_id").first()
    )
    assert annotated is not None, "no annotated clip with a proposal in the largest project"
    clip, frame = annotated.clip_id, annotated.frame_id
    out = [
        ("project detail (counts)", [f"/api/projects/{p}/"]),
        ("projects list (counts)", ["/api/projects/"]),
        ("clip list", [f"/api/projects/{p}/clips/"]),
        ("clip list status=failed", [f"/api/projects/{p}/clips/?status=failed"]),
        ("clip list status=ready", [f"/api/projects/{p}/clips/?status=ready"]),
        (f"clip list search={SEARCH_COMMON}", [f"/api/projects/{p}/clips/?search={SEARCH_COMMON}"]),
        ("clip list search=one name", [f"/api/projects/{p}/clips/?search={clip:06d}"]),
    ]
    from server.media.selectors import CLIP_ORDERINGS

    for field in CLIP_ORDERINGS:
        for ordering in (field, f"-{field}"):
            out.append((f"clip list ordering={ordering}", [f"/api/projects/{p}/clips/?ordering={ordering}"]))
    out += [
        ("review queue", [f"/api/projects/{p}/review-queue/"]),
        ("review queue include_done", [f"/api/projects/{p}/review-queue/?include_done=true"]),
        ("annotations list", [f"/api/projects/{p}/annotations/"]),
        ("annotations list status=submitted", [f"/api/projects/{p}/annotations/?status=submitted"]),
        ("model versions (edit stats)", [f"/api/projects/{p}/model-versions/"]),
        ("jobs list", [f"/api/projects/{p}/jobs/"]),
        ("frame annotation", [f"/api/frames/{frame}/annotation/"]),
        ("clip detail", [f"/api/clips/{clip}/"]),
        ("clip annotations", [f"/api/clips/{clip}/annotations/?page=1&page_size=500"]),
        ("clip proposals", [f"/api/clips/{clip}/proposals/?page=1&page_size=100"]),
    ]
    out.append(("annotator clip bundle (3 above)", [u for _, urls in out[-3:] for u in urls]))
    return out


def query_counts(client: Any, token: str, measured: list[tuple[str, list[str]]]) -> dict[str, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for name, urls in measured:
        with CaptureQueriesContext(connection) as captured:
            for url in urls:
                response = client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
                assert response.status_code == 200, (url, response.status_code, response.content[:300])
        counts[name] = len(captured.captured_queries)
    return counts


def timings(client: Any, token: str, measured: list[tuple[str, list[str]]], repeat: int) -> dict[str, list[float]]:
    out = {}
    for name, urls in measured:
        samples = []
        for k in range(3 + repeat):
            started = time.perf_counter()
            for url in urls:
                response = client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")
            if k >= 3:
                samples.append((time.perf_counter() - started) * 1000)
        out[name] = samples
    return out


def save_timings(client: Any, token: str, frame_id: int, repeat: int) -> tuple[list[float], int]:
    """An annotator's save (PUT of a frame's annotation) switching it between draft and submitted: every save moves
    the clip's and the project's counters. Returns the times (ms) and the queries of one save."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    current = client.get(f"/api/frames/{frame_id}/annotation/", **auth).json()
    samples, queries = [], 0
    for k in range(3 + repeat):
        body = {
            "instances": current["instances"],
            "version": current["version"],
            "status": ("draft", "submitted")[k % 2],
        }
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            response = client.put(
                f"/api/frames/{frame_id}/annotation/", json.dumps(body), content_type="application/json", **auth
            )
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"save: {response.status_code} {response.content[:300]!r}")
        current = response.json()
        queries = len(captured.captured_queries)
        if k >= 3:
            samples.append(elapsed)
    return samples, queries


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def plans(client: Any, token: str, world: dict[str, Any]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the page and count queries of the review queue and clip lists."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    p = world["projects"][0].pk
    lines = []
    for title, url in (
        ("review queue", f"/api/projects/{p}/review-queue/"),
        ("clip list", f"/api/projects/{p}/clips/"),
        ("clip list ordering=-duration", f"/api/projects/{p}/clips/?ordering=-duration"),
        (f"clip list search={SEARCH_COMMON}", f"/api/projects/{p}/clips/?search={SEARCH_COMMON}"),
    ):
        with CaptureQueriesContext(connection) as captured:
            client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
        sqls = [q["sql"] for q in captured.captured_queries]
        chosen = [sql for sql in sqls if " LIMIT " in sql and ' FROM "media_clip" ' in sql]
        counted = [sql for sql in sqls if sql.startswith('SELECT COUNT(*) AS "__count" FROM "media_clip"')]
        for kind, sql in (("page", chosen[-1] if chosen else None), ("count", counted[-1] if counted else None)):
            if sql is None:
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                plan = [row[0] for row in cursor.fetchall()]
            used = sorted(
                set(re.findall(r"(Index(?: Only)? Scan(?: Backward)? using \w+|Seq Scan on \w+)", "\n".join(plan)))
            )
            total = next((line for line in plan if line.startswith("Execution Time")), "")
            lines.append(f"-- {title}, {kind} query: {'; '.join(used) or 'no index'}; {total}")
            lines += [f"   {line}" for line in plan]
    return lines


def run(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"Python {platform.python_version()}, {cores} cores, load average {os.getloadavg()[0]:.2f} at start; "
        f"PostgreSQL database {args.database}; {args.clips} clips",
        flush=True,
    )
    call_command("migrate", verbosity=0)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"PostgreSQL {cursor.fetchone()[0]}", flush=True)

    world = world_create()
    seeder = Seeder()
    client = Client(HTTP_HOST="localhost")
    small = args.clips // 10
    seeding = 0.0
    counts: dict[int, dict[str, int]] = {}
    for start, stop in ((0, small), (small, args.clips)):
        started = time.perf_counter()
        step = 50_000
        for a in range(start, stop, step):
            seeder.seed(a, min(stop, a + step), world)
        sequences_reset()
        denormalised_fill()
        vacuum_analyze()
        seeding += time.perf_counter() - started
        print(
            f"seeded {stop} clips in {seeding:.1f} s: "
            + ", ".join(f"{label.split('.')[-1]} {n}" for label, n in seeder.rows.items()),
            flush=True,
        )
        measured = calls(world)
        counts[stop] = query_counts(client, world["token"], measured)

    times = timings(client, world["token"], measured, args.requests)
    small_counts, big_counts = counts[small], counts[args.clips]
    width = max(len(name) for name, _ in measured) + 2
    print(f"\n{'request':<{width}}{'p50 ms':>8}{'p95 ms':>8}{'queries':>9}{f'@{small}':>9}")
    missed, grew = [], []
    for name, _ in measured:
        p50, p95 = percentile(times[name], 0.5), percentile(times[name], 0.95)
        flag = "" if p95 < TARGET_MS else "  > target"
        if p95 >= TARGET_MS:
            missed.append(name)
        if big_counts[name] != small_counts[name]:
            grew.append(name)
            flag += "  queries differ"
        print(f"{name:<{width}}{p50:>8.1f}{p95:>8.1f}{big_counts[name]:>9}{small_counts[name]:>9}{flag}")
    verdict = "met by every request" if not missed else "MISSED by " + ", ".join(missed)
    print(f"\nTarget p95 < {TARGET_MS:.0f} ms: {verdict}")
    print(
        f"Query counts at {args.clips} and {small} clips: "
        f"{'equal for every request' if not grew else 'DIFFER for ' + ', '.join(grew)}"
    )
    frame = int(dict(measured)["frame annotation"][0].split("/")[3])
    saves, save_queries = save_timings(client, world["token"], frame, args.requests)
    print(
        f"Write: annotation save (PUT, draft <-> submitted, counters moved): p50 {percentile(saves, 0.5):.1f} ms, "
        f"p95 {percentile(saves, 0.95):.1f} ms, {save_queries} queries"
    )
    print(f"Seeding: {seeding:.1f} s; load average {os.getloadavg()[0]:.2f} after timing\n")
    for line in plans(client, world["token"], world):
        print(line)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end", flush=True)
    return 1 if grew else 0


if __name__ == "__main__":
    sys.exit(main())
