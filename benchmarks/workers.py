"""Pre-annotation with 1 and then 2 inference worker processes on Redis: the speed-up, and no clip done twice.

    .venv/bin/python benchmarks/workers.py [--clips 24] [--size 224] [--seconds 10] [--workers 1,2]
        [--redis redis://127.0.0.1:6379/13] [--postgres postgres://postgres@127.0.0.1:5432]

Creates a throwaway PostgreSQL database on `--postgres` (several processes share it; dropped at the end), a media
root in a temporary folder, and uses the Redis database `--redis` as the broker (emptied before and after: give it
a database nobody else uses). Writes `--clips` synthetic AV clips (`ml_backend.media.synth`) and ingests them
through the real services into a project whose proposer is the weight-free baseline (not timed). Then, for each
worker count N: starts N `celery worker -Q inference --pool solo` processes (one CPU thread each,
OMP_NUM_THREADS=1), waits until all answer (`server.jobs.workers.worker_health`), warms them with one untimed job,
deletes the proposals, and times one pre-annotation job: from `preannotate_request` (which queues one task per
clip) until the job has succeeded. Checks that every clip was delivered exactly once (the `TaskDelivery` counts of
the timed job) and got as many proposals as with one worker, and prints wall time, clips per minute and the
speed-up over one worker (target ≥ 1.6× for 2 workers on a 2-core machine).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.6
TASK = "server.annotations.tasks.clip_preannotate_task"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=24, help="Synthetic clips to pre-annotate.")
    parser.add_argument("--size", type=int, default=224, help="Side of the square synthetic videos, in pixels.")
    parser.add_argument("--seconds", type=int, default=10, help="Length of each clip (1 frame per second).")
    parser.add_argument(
        "--workers", default="1,2", help="Worker counts to time, comma-separated; the first is the base."
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="Broker: a Redis database of its own.")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432", help="Server for a throwaway DB.")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    if not counts or min(counts) < 1:
        parser.error("--workers: give worker counts of at least 1, e.g. 1,2")

    import psycopg
    import redis

    try:
        broker = redis.Redis.from_url(args.redis, socket_connect_timeout=2)
        broker.ping()
    except redis.RedisError as exc:
        print(f"Redis is unreachable at {args.redis}: {exc}", file=sys.stderr)
        return 2
    db_name = f"avs_bench_workers_{os.getpid()}"
    try:
        admin = psycopg.connect(f"{args.postgres}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        print(f"PostgreSQL is unreachable at {args.postgres}: {exc}", file=sys.stderr)
        return 2
    admin.execute(f'CREATE DATABASE "{db_name}"')
    work = tempfile.TemporaryDirectory(prefix="avs-bench-workers-")
    root = Path(work.name)
    env = {
        "DJANGO_SETTINGS_MODULE": "server.config.settings.local",
        "DATABASE_URL": f"{args.postgres}/{db_name}",
        "CELERY_BROKER_URL": args.redis,
        "AVS_MEDIA_ROOT": str(root / "media"),
        "AVS_MODEL_CONFIG": "",
        "AVS_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    broker.flushdb()
    try:
        return run(args, counts, root, env)
    finally:
        broker.flushdb()
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.close()
        work.cleanup()


def run(args: argparse.Namespace, counts: list[int], root: Path, env: dict[str, str]) -> int:
    import django

    django.setup()
    logging.getLogger().setLevel(logging.WARNING)

    from django.core.files import File
    from django.core.management import call_command
    from django.db.models import Count, Max, Sum

    from ml_backend.media.synth import generate_dataset
    from server.annotations.models import Proposal
    from server.annotations.preannotation import preannotate_request
    from server.jobs.models import Job, TaskDelivery
    from server.jobs.workers import worker_health
    from server.media.models import Clip, Label, Project
    from server.media.services import clip_create_from_file, clip_ingest

    call_command("migrate", verbosity=0)
    dataset = generate_dataset(
        root / "synth", clips=args.clips, seed=11, layout="s4", frames=args.seconds, size=args.size
    )
    project = Project.objects.create(name="bench workers", model_config="")
    Label.objects.create(project=project, name="dog", color="#e6194b")
    for vid in sorted(dataset.videos):
        path = dataset.videos[vid]
        with path.open("rb") as handle:
            clip, job, _ = clip_create_from_file(
                project=project, file=File(handle, name=path.name), name=path.name, enqueue=False
            )
        clip_ingest(clip_id=clip.pk, job_id=job.pk)
        clip.refresh_from_db()
        if clip.status != Clip.Status.READY:
            print(f"ingest failed: {clip.error}", file=sys.stderr)
            return 1

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"Python {platform.python_version()}, {cores} cores, load average {os.getloadavg()[0]:.2f} at start; "
        f"{args.clips} synthetic clips of {args.size}x{args.size}, {args.seconds} s; baseline proposer; "
        f"Redis broker {args.redis}, PostgreSQL {env['DATABASE_URL']}; workers: --pool solo, 1 CPU thread each"
    )

    def job_once() -> tuple[Job, float]:
        Proposal.objects.filter(clip__project=project).delete()
        started = time.perf_counter()
        job = preannotate_request(project=project)  # queues one task per clip (autocommit: at once)
        while True:
            job.refresh_from_db()
            if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
                return job, time.perf_counter() - started
            time.sleep(0.02)

    def succeeded(logs: list[Path]) -> dict[str, int]:
        """Pre-annotation tasks each worker has logged as succeeded so far."""
        pattern = rf"{re.escape(TASK)}\[[0-9a-f-]+\] succeeded"
        return {f"bench{k}": len(re.findall(pattern, log.read_text())) for k, log in enumerate(logs)}

    results: list[tuple[int, float, dict[str, int]]] = []
    base_proposals: dict[int, int] | None = None
    failures: list[str] = []
    for n in counts:
        logs = [root / f"worker-{n}-{k}.log" for k in range(n)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "server.config", "worker", "-Q", "inference"]
                + ["--pool", "solo", "--hostname", f"bench{k}@127.0.0.1", "--loglevel", "INFO"]
                + ["--without-gossip", "--without-mingle"],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )
            for k, log in enumerate(logs)
        ]
        try:
            deadline = time.monotonic() + 120
            while len(worker_health(refresh=True)["workers"]) < n:
                dead = [log for proc, log in zip(procs, logs, strict=True) if proc.poll() is not None]
                if dead or time.monotonic() > deadline:
                    print(f"workers did not start; log:\n{(dead or logs)[0].read_text()[-3000:]}", file=sys.stderr)
                    return 1
                time.sleep(0.5)
            warm, _ = job_once()  # imports and first-call costs in every worker, untimed
            if warm.status != Job.Status.SUCCEEDED:
                print(f"warm-up job failed: {warm.message}", file=sys.stderr)
                return 1
            before = succeeded(logs)
            job, seconds = job_once()
            per_worker = {name: done - before[name] for name, done in succeeded(logs).items()}  # the timed job's
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

        if job.status != Job.Status.SUCCEEDED or job.result["counts"]["done"] != args.clips:
            failures.append(f"{n} workers: the job did not finish every clip ({job.message})")
        deliveries = TaskDelivery.objects.filter(job=job).aggregate(
            items=Count("id"), delivered=Sum("total"), most=Max("total")
        )
        if deliveries["items"] != args.clips or deliveries["delivered"] != args.clips or deliveries["most"] != 1:
            failures.append(f"{n} workers: clip deliveries {deliveries} (expected {args.clips} items, each once)")
        proposals = dict(
            Proposal.objects.filter(clip__project=project).values_list("clip_id").annotate(n=Count("id")).order_by()
        )
        if len(proposals) != args.clips:
            failures.append(f"{n} workers: {len(proposals)} of {args.clips} clips got proposals")
        if base_proposals is None:
            base_proposals = proposals
        elif proposals != base_proposals:
            doubled = sorted(c for c in proposals if proposals[c] != base_proposals.get(c))
            failures.append(f"{n} workers: proposal counts differ from the first run on clips {doubled}")
        results.append((n, seconds, per_worker))
        print(
            f"  {n} worker(s): {seconds:.2f} s, tasks per worker {per_worker}, deliveries {deliveries['delivered']} "
            f"for {args.clips} clips (most per clip {deliveries['most']}), "
            f"{sum(proposals.values())} proposals; load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )

    base = results[0][1]
    print(f"{'workers':>8}{'wall s':>9}{'clips/min':>11}{'speed-up':>10}")
    for n, seconds, _ in results:
        print(f"{n:>8}{seconds:>9.2f}{60 * args.clips / seconds:>11.1f}{base / seconds:>9.2f}x")
    for n, seconds, _ in results[1:]:
        if n == 2:
            verdict = "met" if base / seconds >= TARGET else "MISSED"
            print(f"2-worker speed-up {base / seconds:.2f}x: target >= {TARGET}x {verdict}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
