"""A Python module whose import leaves a trace: for tests proving that a configuration's code is never imported."""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MarkerModule:
    """`name`: an importable module (its folder is on sys.path) whose import writes `marker`; `builder`: its
    "module:function" spec (the function writes the marker too)."""

    name: str
    marker: Path

    @property
    def builder(self) -> str:
        return f"{self.name}:build_sam"

    def was_imported(self) -> bool:
        return self.marker.exists() or self.name in sys.modules


def write_marker_module(folder: Path) -> MarkerModule:
    """Write the module into `folder` (the caller puts `folder` on sys.path, e.g. `monkeypatch.syspath_prepend`)."""
    name = f"avs_untrusted_{uuid.uuid4().hex[:12]}"
    marker = folder / f"{name}.imported"
    (folder / f"{name}.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('imported')\n\n\n"
        "def build_sam():\n"
        f"    pathlib.Path({str(marker)!r}).write_text('called')\n"
    )
    return MarkerModule(name=name, marker=marker)
