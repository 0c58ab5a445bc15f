"""`manage.py export --project NAME --format avsbench|coco|json --out PATH [--include-submitted] [--protocol P]`."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ml_backend.serving.datasets import PROTOCOLS
from server.core.errors import ApplicationError
from server.datasets.management.commands._common import project_named
from server.datasets.models import Export
from server.datasets.services.export import export_to_path


class Command(BaseCommand):
    help = (
        "Export a project's accepted annotations (with --include-submitted also submitted ones) as an AVSBench "
        "layout, COCO instance segmentation (RLE) or the platform's JSON. PATH ending in .zip gets an archive, "
        "any other PATH a folder (new or empty)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, metavar="NAME")
        parser.add_argument("--format", required=True, choices=Export.Format.values, dest="fmt")
        parser.add_argument("--out", required=True, metavar="PATH", help="A .zip file, or a new folder.")
        parser.add_argument("--include-submitted", action="store_true", help="Also export submitted annotations.")
        parser.add_argument(
            "--protocol",
            choices=PROTOCOLS,
            help="AVSBench layout (format avsbench); default: the one the clips were imported from.",
        )

    def handle(
        self,
        *args: Any,
        project: str,
        fmt: str,
        out: str,
        include_submitted: bool,
        protocol: str | None,
        **options: Any,
    ) -> None:
        target = project_named(project)
        bar = tqdm(unit="clip", file=sys.stderr, disable=None, dynamic_ncols=True)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(1)

        try:
            summary = export_to_path(
                project=target,
                fmt=fmt,
                out=out,
                include_submitted=include_submitted,
                protocol=protocol,
                progress=progress,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finally:
            bar.close()
        what = fmt + (f" {summary['protocol']}" if summary.get("protocol") else "")
        self.stdout.write(
            f"Exported {summary['clips']} clips, {summary['annotated_frames']} annotated frames, "
            f"{summary['instances']} instances ({what}) to {out}."
        )
