"""`manage.py ingest --project NAME PATH... [--sync]`: add video files, folders of them, or the video objects of a
bucket (`s3://bucket/prefix/`, read with the AVS_S3_* endpoint and keys) to a project."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from server.core.errors import ApplicationError
from server.jobs.models import Job
from server.media.models import Clip, Project
from server.media.selectors import VIDEO_EXTENSIONS
from server.media.services import clip_create_from_file, clip_ingest


class Command(BaseCommand):
    help = (
        "Add video files to a project: each PATH is a file, a folder searched recursively for videos "
        f"({', '.join(sorted(VIDEO_EXTENSIONS))}), or s3://BUCKET/PREFIX/ for the video objects under that prefix "
        "(endpoint and keys: the AVS_S3_* settings). Videos already in the project (same SHA-256) are skipped; objects "
        "imported before are not read again. The ingest (frames + audio) is queued for the Celery workers, or run "
        "here with --sync."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "paths", nargs="+", metavar="PATH", help="Video files, folders of them, or s3://BUCKET/PREFIX/."
        )
        parser.add_argument("--project", required=True, metavar="NAME", help="Name of the project to add clips to.")
        parser.add_argument(
            "--sync",
            action="store_true",
            help="Ingest in this process, one file after the other, instead of queueing (no worker needed).",
        )

    def handle(self, *args: Any, paths: list[str], project: str, sync: bool, **options: Any) -> None:
        target = Project.objects.filter(name=project).first()
        if target is None:
            names = list(Project.objects.order_by("name").values_list("name", flat=True)[:10])
            known = ", ".join(f'"{name}"' for name in names) if names else "none yet"
            raise CommandError(f'There is no project named "{project}" (projects: {known}).')

        buckets = [path for path in paths if path.startswith("s3://")]
        files, outcomes = self._collect([path for path in paths if not path.startswith("s3://")])
        for missing in outcomes:
            self.stdout.write(missing)
        counts = Counter(error=len(outcomes))
        for url in buckets:
            self._ingest_bucket(target, url, sync=sync, counts=counts)
        if not files and not outcomes and not buckets:
            raise CommandError("No video files found in " + ", ".join(paths) + ".")

        bar = tqdm(files, unit="file", file=sys.stderr, disable=None, dynamic_ncols=True)
        for path in bar:
            bar.set_postfix_str(path.name[-40:])
            line, outcome = self._ingest_one(target, path, sync=sync)
            counts[outcome] += 1
            with tqdm.external_write_mode(file=sys.stderr):
                self.stdout.write(line)
        bar.close()

        self.stdout.write(
            f"{counts['new']} new, {counts['duplicate']} already in the project, {counts['error']} failed "
            f'(project "{target.name}").'
        )
        if counts["error"]:
            raise CommandError(f"{counts['error']} of {sum(counts.values())} paths could not be ingested.")

    def _collect(self, paths: list[str]) -> tuple[list[Path], list[str]]:
        """(video files in order, without repeats; error lines for paths that do not exist)."""
        files: dict[Path, None] = {}
        missing = []
        for raw in paths:
            path = Path(raw).expanduser()
            if path.is_dir():
                for found in sorted(path.rglob("*")):
                    if found.is_file() and found.suffix.lower() in VIDEO_EXTENSIONS:
                        files.setdefault(found.resolve(), None)
            elif path.is_file():
                files.setdefault(path.resolve(), None)
            else:
                missing.append(f"{raw}: error: no such file or folder")
        return list(files), missing

    def _ingest_one(self, project: Project, path: Path, *, sync: bool) -> tuple[str, str]:
        """(report line, outcome "new" | "duplicate" | "error") for one file."""
        try:
            with path.open("rb") as handle:
                clip, job, created = clip_create_from_file(
                    project=project, file=File(handle, name=path.name), name=path.name, enqueue=not sync
                )
        except ApplicationError as exc:
            return f"{path}: error: {exc.message}", "error"
        except OSError as exc:
            return f"{path}: error: cannot read the file ({exc.strerror or exc})", "error"
        if not created:
            return f"{path}: already in project as clip {clip.pk} ({clip.status})", "duplicate"
        assert job is not None
        return self._report_new(clip, job, label=str(path), sync=sync)

    def _report_new(self, clip: Clip, job: Job, *, label: str, sync: bool) -> tuple[str, str]:
        """Ingest a new clip here with --sync; (report line, outcome "new" | "error")."""
        if sync:
            clip_ingest(clip_id=clip.pk, job_id=job.pk)
        clip.refresh_from_db()
        job.refresh_from_db()
        if clip.status == Clip.Status.READY:
            return f"{label}: new clip {clip.pk}: {job.message}", "new"
        if clip.status == Clip.Status.FAILED:
            return f"{label}: new clip {clip.pk}, ingest failed: {clip.error}", "error"
        return f"{label}: new clip {clip.pk}: ingest queued (job {job.pk})", "new"

    def _ingest_bucket(self, project: Project, url: str, *, sync: bool, counts: Counter) -> None:
        """Import the objects of `url` that are not in the project yet, one line per object."""
        from server.buckets.models import BucketObject
        from server.buckets.selectors import bucket_location_parse
        from server.buckets.services import bucket_import

        try:
            location = bucket_location_parse(url)
            bar = tqdm(total=0, unit="object", file=sys.stderr, disable=None, dynamic_ncols=True)

            def progress(done: int, total: int, key: str) -> None:
                bar.total = total
                bar.n = done
                bar.set_postfix_str(key[-40:])

            result = bucket_import(project=project, location=location, enqueue=not sync, progress=progress)
            bar.close()
        except ApplicationError as exc:
            counts["error"] += 1
            self.stdout.write(f"{url}: error: {exc.message}")
            return
        if not result.objects:
            self.stdout.write(f"{location}: nothing new")
        for item in result.objects:
            where = f"s3://{location.bucket}/{item.key}"
            if item.outcome == BucketObject.Outcome.FAILED:
                counts["error"] += 1
                self.stdout.write(f"{where}: error: {item.error}")
            elif item.outcome == BucketObject.Outcome.DUPLICATE:
                counts["duplicate"] += 1
                assert item.clip is not None
                self.stdout.write(f"{where}: already in project as clip {item.clip.pk} ({item.clip.status})")
            else:
                assert item.clip is not None and item.job is not None
                line, outcome = self._report_new(item.clip, item.job, label=where, sync=sync)
                counts[outcome] += 1
                self.stdout.write(line)
        if result.truncated:
            self.stdout.write(f"{location}: more objects than AVS_IMPORT_MAX_OBJECTS; run the command again")
