"""The entry points the server calls (from Celery tasks): plain data in, plain data out.

- `propose_stored_clip(frames=[StoredFrame(index, timestamp, open)], audio=open, fps=..., config_path=...,
  labels=...) -> dict`: propose from a clip's stored frames (JPEG/PNG) and stored audio (mono 16-bit WAV), read
  through the caller's openers (the server opens them through its media storage);
- `propose_clip(video_path=..., config_path=..., labels=...) -> dict`: the same for a video file (decoded once,
  front to back, into a temporary folder);
- `model_info(config_path) -> dict`: which proposer a configuration means, without loading anything
  (`ml_backend.serving.info`, torch-free; re-exported here).

Both read the clip `chunk_frames` frames at a time and encode each frame's masks (COCO RLE) as soon as the proposer
hands them out, so memory does not grow with the clip's length (only the RLE results do); `max_frames` refuses
longer clips (`ClipTooLongError`) before any model runs. Given a `write_file` callable, they also hand each frame's
8-bit probability map (PNG) to it as the frame comes out, and the clip's evidence (`.npz`: audio tags, audio and
visual embeddings) at the end (`ml_backend.serving.records`); every instance carries its mean `confidence`.

The proposer is OpenAVS when a configuration file is given and its models load; otherwise the weight-free
synchrony baseline runs and the result says why (`model.kind == "baseline"`, `model.reason`). Models are
loaded once per process (`ml_backend.foundation.registry.process_cache`) and reused by every later call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ml_backend.foundation.config import load_config
from ml_backend.foundation.loading import ModelLoadError
from ml_backend.foundation.policy import ModelPolicy, current_policy
from ml_backend.foundation.registry import ModelCache
from ml_backend.media.clip import SILENCE_RMS, ClipInputError, open_clip, require_audible, require_frame_budget
from ml_backend.media.source import ClipSource, Opener, StoredFrame, StoredFrames, WavAudio
from ml_backend.media.video import MediaError
from ml_backend.pipelines import openavs
from ml_backend.pipelines.names import openavs_name
from ml_backend.serving.encoding import clip_facts, frame_to_dict, jsonable, proposal_to_dict
from ml_backend.serving.info import NO_MODELS, baseline_info, openavs_models
from ml_backend.serving.info import model_info as model_info  # re-exported: the one entry point module
from ml_backend.serving.records import EVIDENCE_MAX_BYTES, PROBABILITY_MAP_MAX_SIDE, ProposalRecorder, WriteFile
from ml_backend.types import ClipMedia, ClipProposal, FrameInstances

DEFAULT_CHUNK_FRAMES = 16
"""Frames a proposer reads at once (the server's AVS_PREANNOTATE_CHUNK_FRAMES)."""

logger = logging.getLogger(__name__)


Emit = Callable[[FrameInstances], None]


class Proposer(Protocol):
    def propose(self, clip: ClipMedia, *, labels: Sequence[str] = ()) -> ClipProposal: ...

    def propose_source(
        self, source: ClipSource, *, labels: Sequence[str] = (), emit: Emit | None = None, chunk_frames: int = ...
    ) -> ClipProposal: ...


class BaselineProposer:
    """The synchrony baseline behind the `Proposer` interface (it ignores labels: its instances are unlabelled)."""

    def __init__(self) -> None:
        from ml_backend.pipelines.synchrony import build_synchrony_proposer

        self.inner = build_synchrony_proposer()

    def propose(self, clip: ClipMedia, *, labels: Sequence[str] = ()) -> ClipProposal:
        return self.inner.propose(clip)

    def propose_source(
        self,
        source: ClipSource,
        *,
        labels: Sequence[str] = (),
        emit: Emit | None = None,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    ) -> ClipProposal:
        return self.inner.propose_source(source, emit=emit, chunk_frames=chunk_frames)


@dataclass
class LoadedProposer:
    """A ready proposer and what it is: kind "openavs" | "baseline", a name, the SHA-256 of its configuration,
    and, for the baseline, the reason it runs."""

    proposer: Proposer
    kind: str
    name: str
    config_hash: str
    reason: str | None = None
    min_rms: float = SILENCE_RMS

    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "config_hash": self.config_hash, "reason": self.reason}

    def run(self, clip: ClipMedia, *, labels: Sequence[str] = ()) -> ClipProposal:
        """The proposal for a decoded clip. Raises `ClipInputError` for a silent or audio-less clip."""
        require_audible(clip, min_rms=self.min_rms)
        return self.proposer.propose(clip, labels=labels)

    def result(self, proposal: ClipProposal, *, clip: ClipMedia, labels: Sequence[str] = ()) -> dict[str, Any]:
        """The JSON-safe result `propose_clip` returns."""
        return {"model": self.info(), "labels": list(labels), **proposal_to_dict(proposal, clip=clip)}

    def propose(self, clip: ClipMedia, *, labels: Sequence[str] = ()) -> dict[str, Any]:
        """`result(run(clip))`."""
        return self.result(self.run(clip, labels=labels), clip=clip, labels=labels)

    def stream(
        self,
        source: ClipSource,
        *,
        labels: Sequence[str] = (),
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        on_frame: Emit | None = None,
        write_file: WriteFile | None = None,
        probability_map_max_side: int = PROBABILITY_MAP_MAX_SIDE,
        evidence_max_bytes: int = EVIDENCE_MAX_BYTES,
    ) -> dict[str, Any]:
        """The JSON-safe result for a clip read `chunk_frames` frames at a time: each frame's instances are encoded
        (RLE, per-instance `confidence`) as they come out, after `on_frame` (if given) has seen them with their
        arrays. With `write_file`, each frame's probability map goes to it as a PNG as soon as the frame is out
        (its record in the frame's `probability_map`) and the clip's evidence `.npz` once the proposer is done
        (its summary in `evidence`): see `ml_backend.serving.records`. Raises `ClipInputError` for a silent or
        audio-less clip."""
        require_audible(source, min_rms=self.min_rms)
        positions = {int(index): p for p, index in enumerate(source.frames.indexes)}
        encoded: list[dict[str, Any]] = []
        recorder = (
            ProposalRecorder(write_file, max_side=probability_map_max_side, evidence_max_bytes=evidence_max_bytes)
            if write_file is not None
            else None
        )

        def emit(frame: FrameInstances) -> None:
            if on_frame is not None:
                on_frame(frame)
            entry = frame_to_dict(frame, timestamp=source.timestamps[positions[frame.frame_index]])
            if recorder is not None:
                entry["probability_map"] = recorder.frame(frame, size=source.size)
            encoded.append(entry)

        proposal = self.proposer.propose_source(source, labels=labels, emit=emit, chunk_frames=chunk_frames)
        return {
            "model": self.info(),
            "labels": list(labels),
            "clip": clip_facts(source),
            "frames": encoded,
            "meta": jsonable(proposal.meta),
            "evidence": recorder.finish(proposal.features) if recorder is not None else None,
        }


def _baseline(reason: str) -> LoadedProposer:
    info = baseline_info(reason)
    return LoadedProposer(
        BaselineProposer(), kind="baseline", name=info["name"], config_hash=info["config_hash"], reason=reason
    )


def load_proposer(
    config_path: str | os.PathLike[str] | None, *, cache: ModelCache | None = None, policy: ModelPolicy | None = None
) -> LoadedProposer:
    """OpenAVS from `config_path` (models through the process cache), or the baseline with the reason.

    Raises `ConfigError` for a configuration file that is missing or invalid (a person must fix it), and its
    subclass `ConfigPolicyError` for one naming what `policy` (default: `current_policy()`, the process's) refuses:
    nothing it names is then read, imported or downloaded. A model that fails to load makes the baseline run
    instead, with `reason` naming the setting and path.
    """
    if config_path is None:
        return _baseline(NO_MODELS)
    policy = current_policy() if policy is None else policy
    config = load_config(config_path, policy=policy)
    try:
        pipeline = openavs.build_openavs_pipeline(config, cache=cache, policy=policy)
    except ModelLoadError as exc:
        logger.warning("OpenAVS models failed to load, the synchrony baseline runs instead: %s", exc)
        return _baseline(f"the OpenAVS models failed to load: {exc}")
    return LoadedProposer(
        pipeline,
        kind="openavs",
        name=openavs_name(openavs_models(config)),
        config_hash=config.sha256(),
        min_rms=config.pipeline.min_rms,
    )


def propose_clip(
    *,
    video_path: str | os.PathLike[str],
    fps: float = 1.0,
    sample_rate: int = 16_000,
    config_path: str | os.PathLike[str] | None = None,
    labels: Sequence[str] = (),
    max_side: int | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    max_frames: int | None = None,
    cache: ModelCache | None = None,
    write_file: WriteFile | None = None,
    probability_map_max_side: int = PROBABILITY_MAP_MAX_SIDE,
    evidence_max_bytes: int = EVIDENCE_MAX_BYTES,
) -> dict[str, Any]:
    """Propose sounding-object masks for one video file, decoded frame by frame (`ml_backend.media.clip.open_clip`).

    Returns `{"model": {"kind", "name", "config_hash", "reason"}, "labels": [...], "clip": {...},
    "frames": [{"frame_index", "timestamp", "instances": [{"label", "score", "confidence", "mask": {"size": [H, W],
    "counts": str}, "area", "provenance"}], "probability_map"?: {"path", "size": [h, w], "scale"}}], "meta": {...},
    "evidence": {"path", "format", "bytes", "frames", "stride", ...} | None}` (JSON-safe). `confidence`: the
    instance's mean probability inside its mask. With `write_file(name, data) -> path`, each frame's probability map
    (8-bit PNG, longer side at most `probability_map_max_side`) and the clip's evidence `.npz` (at most
    `evidence_max_bytes`) are handed to it as they are ready (`ml_backend.serving.records` documents both formats).

    Raises `MediaError` (its subclass `ClipInputError` for no audio track / silent audio / more frames than
    `max_frames`) with a message naming the file when the video cannot be used, and `ConfigError` for an invalid
    configuration file.
    """
    loaded = load_proposer(config_path, cache=cache)
    try:
        with open_clip(video_path, fps=fps, sample_rate=sample_rate, max_side=max_side, max_frames=max_frames) as clip:
            return loaded.stream(
                clip,
                labels=labels,
                chunk_frames=chunk_frames,
                write_file=write_file,
                probability_map_max_side=probability_map_max_side,
                evidence_max_bytes=evidence_max_bytes,
            )
    except ClipInputError as exc:
        raise type(exc)(f"{os.fspath(video_path)}: {exc}") from exc
    except MediaError as exc:
        raise MediaError(f"{os.fspath(video_path)}: {exc}") from exc


def propose_stored_clip(
    *,
    frames: Sequence[StoredFrame],
    audio: Opener | None,
    fps: float,
    name: str = "",
    config_path: str | os.PathLike[str] | None = None,
    labels: Sequence[str] = (),
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    max_frames: int | None = None,
    cache: ModelCache | None = None,
    write_file: WriteFile | None = None,
    probability_map_max_side: int = PROBABILITY_MAP_MAX_SIDE,
    evidence_max_bytes: int = EVIDENCE_MAX_BYTES,
    on_frame: Emit | None = None,
) -> dict[str, Any]:
    """Propose sounding-object masks for a clip stored as pictures and a WAV track.

    `frames`: one `StoredFrame(index, timestamp, open)` per frame (any order; `open()` returns a binary file of a
    JPEG/PNG picture, all of one size); `audio`: an `Opener` of the mono 16-bit PCM WAV track (seekable), None
    when the clip has none; `fps`: windows per second (frame k covers [k/fps, (k+1)/fps)); `name`: the clip's name
    in the result. Frames are read `chunk_frames` at a time, never all at once. Returns what `propose_clip` returns,
    with masks of the stored frames' size and `frame_index` the stored index; `write_file`, `probability_map_max_side`
    and `evidence_max_bytes` as there (the probability maps and evidence file); `on_frame(FrameInstances)` sees each
    frame's instances, with their arrays, as they come out.

    Raises `ClipTooLongError` for more than `max_frames` frames (before any model loads), `ClipInputError` for no
    audio track or silent audio, `MediaError` for a frame or track that cannot be read (the message names the
    frame), `ConfigError` for an invalid configuration file.
    """
    require_frame_budget(len(frames), max_frames=max_frames)
    loaded = load_proposer(config_path, cache=cache)
    reader = StoredFrames(frames, name=name)
    track = WavAudio(audio, name="audio track") if audio is not None else None
    with ClipSource(frames=reader, audio=track, fps=float(fps), source=name) as clip:
        return loaded.stream(
            clip,
            labels=labels,
            chunk_frames=chunk_frames,
            on_frame=on_frame,
            write_file=write_file,
            probability_map_max_side=probability_map_max_side,
            evidence_max_bytes=evidence_max_bytes,
        )
