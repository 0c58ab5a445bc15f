"""`manage.py import_avsbench --project NAME --root DIR --protocol s4|ms3|avss [--split SPLIT] [--create]`."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ml_backend.serving.datasets import PROTOCOLS
from server.core.errors import ApplicationError
from server.datasets.management.commands._common import project_named
from server.datasets.services.avsbench_import import ClipOutcome, avsbench_import
from server.jobs.models import Job
from server.jobs.services import job_create, job_fail, job_progress, job_start, job_succeed
from server.media.models import Project


class Command(BaseCommand):
    help = (
        "Import an AVSBench dataset folder (S4, MS3 or AVSS layout) into a project: frames, audio and the "
        "ground-truth masks as accepted annotations. Clips already in the project are reported and skipped. "
        "Bad files are reported one by one and their clip is left out entirely; the command then exits non-zero."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, metavar="NAME", help="Project to import into.")
        parser.add_argument("--root", required=True, metavar="DIR", help="The dataset folder (holds the metadata CSV).")
        parser.add_argument("--protocol", required=True, choices=PROTOCOLS, help="Layout of the folder.")
        parser.add_argument("--split", metavar="SPLIT", help="Import only this split (train, val, test); default all.")
        parser.add_argument("--create", action="store_true", help="Create the project when it does not exist.")

    def handle(
        self, *args: Any, project: str, root: str, protocol: str, split: str | None, create: bool, **options: Any
    ) -> None:
        if create and not Project.objects.filter(name=project).exists():
            target = Project.objects.create(name=project)
            self.stdout.write(f'Created project "{project}".')
        else:
            target = project_named(project)
        job = job_create(project_id=target.pk, kind=Job.Kind.IMPORT, message=f"Importing {protocol} from {root}.")
        job_start(job_id=job.pk, message=f"Importing {protocol} from {root}.")
        bar = tqdm(unit="clip", file=sys.stderr, disable=None, dynamic_ncols=True)

        def on_clip(outcome: ClipOutcome, done: int, total: int) -> None:
            bar.total = total
            bar.update(1)
            with tqdm.external_write_mode(file=sys.stderr):
                for line in outcome.lines():
                    self.stdout.write(line)
            job_progress(job_id=job.pk, progress=100.0 * done / total, message=f"{done} of {total} clips.")

        try:
            report = avsbench_import(project=target, root=root, protocol=protocol, split=split, on_clip=on_clip)
        except ApplicationError as exc:
            job_fail(job_id=job.pk, error=exc.message, message="Import failed.")
            raise CommandError(exc.message) from exc
        except BaseException as exc:  # interrupted or crashed: the job must not stay "running"
            job_fail(
                job_id=job.pk, error=f"The import stopped ({type(exc).__name__}: {exc}).", message="Import stopped."
            )
            raise
        finally:
            bar.close()
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        summary = f'{report.summary()} (project "{target.name}")'
        self.stdout.write(summary)
        if report.failed:
            problems = [line for o in report.outcomes if o.status == "failed" for line in o.lines()]
            job_fail(job_id=job.pk, error="\n".join([*problems, summary]), message=summary)
            raise CommandError(f"{report.failed} of {len(report.outcomes)} clips could not be imported (see above).")
        job_succeed(job_id=job.pk, message=summary)
