"""Label Studio bridge: `ls_push` of 100 frames against a bare SDK import, and `/ls/predict` against `/ls/health`.

    .venv/bin/python benchmarks/labelstudio.py [--clips 10] [--frames 10] [--size 160] [--repeat 3] [--calls 20]

Sets Django up on its own (settings `server.config.settings.test`, a throwaway SQLite database and media root in a
temporary folder), writes `--clips` synthetic AV clips of `--frames` seconds (`ml_backend.media.synth`, 1 frame per
second: clips × frames frames), ingests them with the real service and pre-annotates them with the weight-free
baseline proposer (stored proposals and acquisition scores, as the workers make them; not timed). Our app is served
on 127.0.0.1 by Django's threaded WSGI server in this process, with TCP_NODELAY as gunicorn sets it (without it,
kept-alive connections wait ~40 ms a response on Nagle + delayed ACK), AVS_PUBLIC_URL pointing at it and the Basic
credentials set; a real Label Studio 1.23.2 (`var/labelstudio`, `make labelstudio`) is started on a fresh data folder
and stopped at the end whatever happens. Then:

1. push: `server.labelstudio.sync.ls_push` of every frame with its prediction into a fresh Label Studio project
   (creates the project and label config, imports the tasks with predictions, records the links, registers the
   webhook, connects the ML backend — Label Studio calls our /ls/health and /ls/setup); best of `--repeat`, with
   its time split by Label Studio call (the rest is ours: plan, database, links).
2. bare: the same task payloads with the same predictions imported by one `ls.projects.import_tasks` call of the
   SDK into another fresh Label Studio project (created beforehand, not timed); best of `--repeat`, alternating
   with (1) so that load bursts hit both alike. Prints push ÷ bare.
3. re-push: `ls_push` again with nothing changed (lists the tasks, compares, sends no task); best of `--repeat`.
4. predict: `POST /ls/predict` for one task as Label Studio sends it (the task as Label Studio holds it, the
   project's "<id>.<timestamp>" reference, its label config), with Basic auth, `--calls` calls after a warm-up,
   median and p95; baseline `GET /ls/health` the same way on the same keep-alive connection, median; the ratio.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import logging
import math
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASIC_USER, BASIC_PASS = "ls-bench", "ls-bench-secret"


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=10, help="Synthetic clips to push.")
    parser.add_argument("--frames", type=int, default=10, help="Frames (seconds at 1 fps) of each clip.")
    parser.add_argument("--size", type=int, default=160, help="Side of the square synthetic videos, in pixels.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each push measurement; the best is kept.")
    parser.add_argument("--calls", type=int, default=20, help="Timed HTTP calls of /ls/predict and /ls/health.")
    args = parser.parse_args()

    work = tempfile.TemporaryDirectory(prefix="avs-bench-labelstudio-")
    root = Path(work.name)
    os.environ["DJANGO_SETTINGS_MODULE"] = "server.config.settings.test"
    os.environ["DATABASE_URL"] = f"sqlite:///{root}/bench.sqlite3"
    os.environ["AVS_MEDIA_ROOT"] = str(root / "media")
    os.environ["AVS_LOG_LEVEL"] = "WARNING"
    os.environ["AVS_LS_BASIC_AUTH_USER"], os.environ["AVS_LS_BASIC_AUTH_PASS"] = BASIC_USER, BASIC_PASS
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))

    from tests.labelstudio_server import LS_BINARY, LabelStudioServer

    if not os.access(LS_BINARY, os.X_OK):
        sys.exit(f"{LS_BINARY.relative_to(ROOT)} is missing: run `make labelstudio`.")
    (root / "labelstudio").mkdir()
    ls_server = LabelStudioServer(data_dir=root / "labelstudio")
    starter = ThreadPoolExecutor(max_workers=1)
    held: dict = {}
    try:
        # Label Studio's first start migrates its database: let it run while the project is seeded.
        ls_started = starter.submit(ls_server.start)
        run(args, root, ls_server, ls_started, held)
    finally:
        if "httpd" in held:
            held["httpd"].shutdown()
            held["httpd"].server_close()
        ls_server.stop()
        starter.shutdown(wait=True)
        work.cleanup()


def run(args, root: Path, ls_server, ls_started, held: dict) -> None:
    import django

    django.setup()
    logging.getLogger().setLevel(logging.WARNING)

    from django.conf import settings
    from django.core.files import File
    from django.core.management import call_command
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application
    from label_studio_sdk import LabelStudio

    from ml_backend.media.synth import generate_dataset
    from server.annotations.models import Proposal
    from server.annotations.preannotation import clip_preannotate, preannotate_request
    from server.labelstudio import label_config as config
    from server.labelstudio import sync
    from server.labelstudio.models import Connection, TaskLink
    from server.learning.models import AcquisitionScore
    from server.media.models import Clip, Frame, Label, Project
    from server.media.services import clip_create_from_file, clip_ingest

    settings.AVS_LS_BASIC_AUTH_USER, settings.AVS_LS_BASIC_AUTH_PASS = BASIC_USER, BASIC_PASS
    call_command("migrate", verbosity=0)
    settings.AVS_MODEL_CONFIG = ""  # the weight-free baseline proposer

    # --- seed (not timed) ---------------------------------------------------------------------------------------
    seeded = time.perf_counter()
    dataset = generate_dataset(
        root / "synth", clips=args.clips, seed=7, layout="s4", frames=args.frames, size=args.size
    )
    project = Project.objects.create(name="bench labelstudio", model_config="")
    for name, color in (("dog", "#e6194b"), ("guitar", "#3cb44b")):
        Label.objects.create(project=project, name=name, color=color)
    clips = []
    for vid in sorted(dataset.videos):
        path = dataset.videos[vid]
        with path.open("rb") as handle:
            clip, job, _ = clip_create_from_file(
                project=project, file=File(handle, name=path.name), name=path.name, enqueue=False
            )
        clip_ingest(clip_id=clip.pk, job_id=job.pk)
        clip.refresh_from_db()
        if clip.status != Clip.Status.READY:
            raise RuntimeError(f"clip {path.name} did not ingest: {clip.error}")
        clips.append(clip)
    job = preannotate_request(project=project, enqueue=False)
    for clip in clips:
        clip_preannotate(job_id=job.pk, clip_id=clip.pk)
    frames = Frame.objects.filter(clip__project=project).count()
    proposals = Proposal.objects.filter(clip__project=project).count()
    scores = AcquisitionScore.objects.filter(clip__project=project).count()
    seed_seconds = time.perf_counter() - seeded

    # --- our app on 127.0.0.1 ---------------------------------------------------------------------------------------
    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the signature of BaseHTTPRequestHandler
            pass

    class NoDelayServer(ThreadedWSGIServer):
        """TCP_NODELAY on each connection: Django's server writes the headers and the body in two sends, and on a
        kept-alive connection Nagle's algorithm holds the body until the client's delayed ACK (~40 ms a response),
        which would hide what the views cost. gunicorn (deploy/start-web.sh) sets TCP_NODELAY too."""

        def get_request(self):
            sock, address = super().get_request()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, address

    httpd = NoDelayServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    httpd.set_app(get_wsgi_application())
    held["httpd"] = httpd
    threading.Thread(target=httpd.serve_forever, name="avs-wsgi", daemon=True).start()
    port = httpd.server_address[1]
    settings.AVS_PUBLIC_URL = f"http://127.0.0.1:{port}"

    ls_started.result()  # re-raises a failed start (with Label Studio's log)
    ls = LabelStudio(base_url=ls_server.url, api_key=ls_server.token, timeout=60)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"Python {platform.python_version()} on {platform.platform()}, {cores} cores, load average "
        f"{os.getloadavg()[0]:.2f}; SQLite + local media in {root}"
    )
    print(
        f"Seeded {len(clips)} clips × {args.frames} frames = {frames} frames ({args.size}px), {proposals} proposals "
        f"(baseline proposer), {scores} acquisition scores in {seed_seconds:.0f} s; Label Studio 1.23.2 started in "
        f"{ls_server.startup_seconds:.0f} s; our app at {settings.AVS_PUBLIC_URL}"
    )

    planned, prediction_labels = sync._plan(project=project)
    predictions = sum(p.prediction is not None for p in planned)
    payload = [
        {"data": p.data, **({"predictions": [p.prediction]} if p.prediction is not None else {})} for p in planned
    ]
    xml = config.label_config(project=project, extra_labels=sorted(prediction_labels))
    result_count = sum(len(p.prediction["result"]) for p in planned if p.prediction is not None)

    # Where a push's time goes: each Label Studio call of the push, timed by its description ("import tasks N–N").
    calls: list[tuple[str, float]] = []
    plain_call = sync.LabelStudioApi.call

    def timed_call(self, what, fn, *args, **kwargs):
        start = time.perf_counter()
        try:
            return plain_call(self, what, fn, *args, **kwargs)
        finally:
            calls.append((re.sub(r"\d+", "N", re.split(r" \(| at http", what)[0]), time.perf_counter() - start))

    sync.LabelStudioApi.call = timed_call

    def breakdown(total: float, timed: list[tuple[str, float]]) -> str:
        """The Label Studio calls by kind, slowest first, then the rest (ours: plan, database, links)."""
        kinds: dict[str, list[float]] = {}
        for what, seconds in timed:
            kinds.setdefault(what, []).append(seconds)
        ranked = sorted(kinds.items(), key=lambda item: -sum(item[1]))
        parts = [f"{what} ×{len(times)} {sum(times):.2f}" for what, times in ranked[:4]]
        others = ranked[4:]
        if others:
            parts.append(f"{sum(len(t) for _, t in others)} other calls {sum(sum(t) for _, t in others):.2f}")
        parts.append(f"not in Label Studio calls {total - sum(s for _, s in timed):.2f}")
        return "; ".join(parts)

    def fresh_push() -> tuple[float, list[tuple[str, float]], sync.PushSummary]:
        Connection.objects.filter(project=project).delete()  # a fresh Label Studio project (links cascade)
        calls.clear()
        start = time.perf_counter()
        summary = sync.ls_push(project=project, url=ls_server.url, token=ls_server.token)
        total = time.perf_counter() - start
        if summary.tasks_created != len(planned) or summary.predictions_created != predictions:
            raise RuntimeError(f"unexpected push: {summary.line()}")
        return total, list(calls), summary

    def repush() -> tuple[float, list[tuple[str, float]]]:
        calls.clear()
        start = time.perf_counter()
        summary = sync.ls_push(project=project)
        total = time.perf_counter() - start
        if summary.tasks_created or summary.tasks_updated or summary.predictions_kept != predictions:
            raise RuntimeError(f"re-push changed something: {summary.line()}")
        return total, list(calls)

    def bare_import() -> float:
        created = ls.projects.create(title="bench bare import", label_config=xml)
        start = time.perf_counter()
        response = ls.projects.import_tasks(created.id, request=payload, return_task_ids=True)
        seconds = time.perf_counter() - start
        if len(response.task_ids or []) != len(payload):
            raise RuntimeError(f"bare import created {len(response.task_ids or [])} tasks of {len(payload)}")
        ls.projects.delete(created.id)
        return seconds

    pushes, bares, repushes = [], [], []
    last_project = None
    for k in range(args.repeat):
        order = ("push", "bare") if k % 2 == 0 else ("bare", "push")
        for what in order:
            if what == "bare":
                bares.append(bare_import())
                continue
            if last_project is not None:
                ls.projects.delete(last_project)
            pushes.append(fresh_push())
            last_project = pushes[-1][2].ls_project_id
    repushes = [repush() for _ in range(args.repeat)]
    sync.LabelStudioApi.call = plain_call

    n = len(planned)
    push, push_calls, summary = min(pushes, key=lambda item: item[0])
    bare = min(bares)
    again, again_calls = min(repushes, key=lambda item: item[0])
    print(f"{n} frames, {predictions} predictions ({result_count} brush results); best of {args.repeat}:")
    print(
        f"  ls_push, fresh project   {push:7.2f} s  ({1000 * push / n:5.1f} ms/frame; runs "
        f"{', '.join(f'{t:.2f}' for t, _, _ in pushes)})"
    )
    print(f"    its time: {breakdown(push, push_calls)}")
    print(
        f"  bare SDK import_tasks    {bare:7.2f} s  ({1000 * bare / n:5.1f} ms/frame; runs "
        f"{', '.join(f'{t:.2f}' for t in bares)})"
    )
    print(f"  push ÷ bare import       {push / bare:7.2f}")
    print(
        f"  re-push, unchanged       {again:7.2f} s  ({1000 * again / n:5.1f} ms/frame; runs "
        f"{', '.join(f'{t:.2f}' for t, _ in repushes)})"
    )
    print(f"    its time: {breakdown(again, again_calls)}")

    # --- /ls/predict over HTTP ---------------------------------------------------------------------------------
    connection = Connection.objects.get(project=project)
    remote = ls.projects.get(connection.ls_project_id)
    # The first frame whose prediction has brush results, as Label Studio holds its task.
    frame = next(p.frame for p in planned if p.prediction is not None and p.prediction["result"])
    link = TaskLink.objects.get(connection=connection, frame=frame)
    task = ls.tasks.get(str(link.ls_task_id)).model_dump(mode="json")
    body = json.dumps(
        {
            "tasks": [task],
            "project": f"{remote.id}.{int(remote.created_at.timestamp())}",
            "label_config": remote.label_config,
            "params": {"login": None, "password": None, "context": None},
        }
    )
    auth = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASS}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    reconnects = 0

    def call(method: str, path: str, data: str | None = None) -> tuple[float, dict]:
        nonlocal reconnects
        headers = {"Authorization": auth}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if conn.sock is None:
            reconnects += 1
        start = time.perf_counter()
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        content = response.read()
        seconds = time.perf_counter() - start
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {content[:300]!r}")
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
        return seconds, json.loads(content)

    _, answer = call("POST", "/ls/predict", body)
    [prediction] = answer["results"]
    if not prediction["result"]:
        raise RuntimeError(f"/ls/predict answered no result: {prediction}")
    for _ in range(3):  # warm-up
        call("POST", "/ls/predict", body)
        call("GET", "/ls/health")
    reconnects = 0
    predict_ms, health_ms = [], []
    for _ in range(args.calls):  # interleaved, so that load bursts hit both alike
        predict_ms.append(1000 * call("POST", "/ls/predict", body)[0])
        health_ms.append(1000 * call("GET", "/ls/health")[0])
    conn.close()
    predict_median, health_median = statistics.median(predict_ms), statistics.median(health_ms)
    print(
        f"POST /ls/predict, 1 task ({len(prediction['result'])} brush results, {len(body)} B request), "
        f"{args.calls} calls: median {predict_median:.1f} ms, p95 {p95(predict_ms):.1f} ms, min {min(predict_ms):.1f} ms"
    )
    print(
        f"GET /ls/health, same connection, {args.calls} calls: median {health_median:.1f} ms, p95 "
        f"{p95(health_ms):.1f} ms; predict ÷ health {predict_median / health_median:.1f} "
        f"({reconnects} reconnects in {2 * args.calls} calls)"
    )
    print(f"Load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
