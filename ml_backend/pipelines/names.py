"""Names of the proposers, importable without torch (the server's web process reads them through
`ml_backend.serving.model_info`)."""

from __future__ import annotations

from collections.abc import Mapping

MODEL = "openavs"


def openavs_name(models: Mapping[str, str | None]) -> str:
    """ "openavs(audio_tagging=clap, grounding=..., sam=...)" from stage -> model name (None: stage unused)."""
    return f"{MODEL}({', '.join(f'{stage}={name}' for stage, name in models.items() if name)})"
