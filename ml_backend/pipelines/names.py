"""Names of the proposers, importable without torch (the server's web process reads them through
`ml_backend.serving.model_info`)."""

from __future__ import annotations

from collections.abc import Mapping

MODEL = "openavs"


def openavs_name(models: Mapping[str, str | None]) -> str:
    """ "openavs(audio_tagging=clap, grounding=..., sam=...)" from stage -> model name (None: stage unused)."""
    return f"{MODEL}({', '.join(f'{stage}={name}' for stage, name in models.items() if name)})"


def segmenter_name(name: str, mode: str) -> str:
    """The "segmenter" stage's name: the SAM 3 model's, with ":video" when it runs SAM 3 video over the clip."""
    return name if mode == "frame" else f"{name}:{mode}"
