"""`manage.py ingest --project NAME PATH... [--sync]`: add video files, or folders of them, to a project."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from server.core.errors import ApplicationError
from server.media.models import Clip, Project
from server.media.services import clip_create_from_file, clip_ingest

VIDEO_EXTENSIONS = frozenset(
    {
        ".3gp",
        ".avi",
        ".flv",
        ".m2ts",
        ".m4v",
        ".mkv",
        ".mov",
        ".mp4",
        ".mpeg",
        ".mpg",
        ".mts",
        ".ogv",
        ".ts",
        ".webm",
        ".wmv",
    }
)


class Command(BaseCommand):
    help = (
        "Add video files to a project: each PATH is a file, or a folder searched recursively for videos "
        f"({', '.join(sorted(VIDEO_EXTENSIONS))}). Files already in the project (same SHA-256) are skipped. "
        "The ingest (frames + audio) is queued for the Celery workers, or run here with --sync."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="Video files or folders of them.")
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

        files, outcomes = self._collect(paths)
        for missing in outcomes:
            self.stdout.write(missing)
        counts = Counter(error=len(outcomes))
        if not files and not outcomes:
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
            raise CommandError(f"{counts['error']} of {len(files) + len(outcomes)} paths could not be ingested.")

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
        if sync:
            clip_ingest(clip_id=clip.pk, job_id=job.pk)
        clip.refresh_from_db()
        job.refresh_from_db()
        if clip.status == Clip.Status.READY:
            return f"{path}: new clip {clip.pk}: {job.message}", "new"
        if clip.status == Clip.Status.FAILED:
            return f"{path}: new clip {clip.pk}, ingest failed: {clip.error}", "error"
        return f"{path}: new clip {clip.pk}: ingest queued (job {job.pk})", "new"
