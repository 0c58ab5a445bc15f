"""Proposers read clips in bounded chunks (`propose_source`): the same per-frame results as on the whole clip
decoded in memory, whatever the chunk size, with only about a chunk of frames alive at once."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ml_backend.media.source import ArrayFrames, ClipSource, StoredFrame, StoredFrames, bytes_opener
from ml_backend.media.synth import make_clips
from ml_backend.pipelines.openavs import build_openavs_pipeline
from ml_backend.pipelines.synchrony import SynchronyProposer
from ml_backend.types import ClipMedia, ClipProposal, FrameInstances
from tests.ml_backend.counting import CountingFrames

CHUNKS = (1, 3, 1000)  # one frame, a few, more than the clip


def synthetic_clip(*, frames: int, seed: int = 4, size: int = 64) -> ClipMedia:
    """A synthetic MS3 clip decoded in memory: sounding shapes that move while they sound, and silent windows."""
    (spec,) = make_clips(clips=1, seed=seed, layout="ms3", frames=frames, size=size)
    return ClipMedia(
        frames=np.stack([spec.frame(k) for k in range(frames)]),
        timestamps=(np.arange(frames) + 0.94),
        fps=1.0,
        audio=spec.audio(sample_rate=16_000),
        sample_rate=16_000,
        source=spec.vid,
    )


def stored(clip: ClipMedia) -> ClipSource:
    """The clip as stored PNG files (lossless) read through openers, with the audio in memory."""
    pictures = []
    for k, frame in enumerate(clip.frames):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="PNG")
        pictures.append(StoredFrame(k, float(clip.timestamps[k]), bytes_opener(buffer.getvalue())))
    source = ClipSource.from_media(clip)
    source.frames = StoredFrames(pictures)
    return source


def assert_same(a: ClipProposal, b: ClipProposal, *, timings: bool = True) -> int:
    """Frame for frame the same instances (masks, probabilities, scores, labels, provenance); returns their count."""
    assert [f.frame_index for f in a.frames] == [f.frame_index for f in b.frames]
    count = 0
    for fa, fb in zip(a.frames, b.frames, strict=True):
        assert len(fa.instances) == len(fb.instances), fa.frame_index
        assert fa.provenance == fb.provenance, fa.frame_index
        for ia, ib in zip(fa.instances, fb.instances, strict=True):
            assert np.array_equal(ia.mask, ib.mask)
            assert (ia.label, ia.score, ia.provenance) == (ib.label, ib.score, ib.provenance)
            assert (ia.probability is None) == (ib.probability is None)
            if ia.probability is not None:
                assert np.array_equal(ia.probability, ib.probability)
            count += 1
    meta_a, meta_b = dict(a.meta), dict(b.meta)
    if not timings:
        meta_a.pop("timings"), meta_b.pop("timings")
    assert meta_a == meta_b
    return count


@pytest.fixture(scope="module")
def clip() -> ClipMedia:
    return synthetic_clip(frames=9)


def test_synchrony_in_chunks_equals_the_whole_clip(clip):
    whole = SynchronyProposer().propose(clip)
    rhos = [i.provenance["synchrony"] for f in whole.frames for i in f.instances]
    assert rhos and all(r is not None for r in rhos)  # the audio varies: objects were tracked through the clip
    assert any(not f.instances for f in whole.frames)  # silent windows
    for chunk in CHUNKS:
        for group in (1, 2, 64):
            emitted: list[FrameInstances] = []
            proposer = SynchronyProposer(track_group=group)
            streamed = proposer.propose_source(stored(clip), emit=emitted.append, chunk_frames=chunk)
            assert streamed.frames == []  # handed out, not kept
            assert assert_same(whole, ClipProposal(emitted, streamed.model, streamed.meta)) == len(rhos)


def test_synchrony_holds_a_chunk_of_frames_not_the_clip(clip):
    for chunk in (1, 3):
        frames = CountingFrames(ArrayFrames(clip.frames, clip.timestamps))
        source = ClipSource(frames=frames, audio=ClipSource.from_media(clip).audio, fps=1.0)
        SynchronyProposer(track_group=2).propose_source(source, chunk_frames=chunk, emit=lambda frame: None)
        assert frames.reads > clip.num_frames  # tracking reads frames again instead of keeping them
        assert frames.peak_alive <= chunk + 2 < clip.num_frames  # a chunk, a reference, the frame in hand


def test_synchrony_with_context_frames_in_chunks(clip):
    (spec,) = make_clips(clips=1, seed=4, layout="ms3", frames=9, size=64)  # the clip's own scene
    times = clip.timestamps - 0.5  # pictures half a second before each kept one: the motion inside each window
    context = ClipMedia(
        frames=np.stack([spec.render(float(t)) for t in times]), timestamps=times, fps=1.0, audio=None, sample_rate=0
    )
    whole = SynchronyProposer().propose(clip, context=context)
    streamed = SynchronyProposer(track_group=1).propose_source(
        stored(clip), context=ClipSource.from_media(context), chunk_frames=2
    )
    assert assert_same(whole, streamed) > 0


@pytest.fixture
def openavs(tiny_config, tiny_cache):
    return build_openavs_pipeline(tiny_config, cache=tiny_cache)


def test_openavs_in_chunks_equals_the_whole_clip(openavs, clip):
    whole = openavs.propose(clip, labels=["dog"])
    silent = [f.frame_index for f in whole.frames if f.provenance["silent"]]
    assert 0 < len(silent) < clip.num_frames  # the MS3 clip has silent windows: no masks there
    assert [f.frame_index for f in whole.frames if f.instances] == [
        f.frame_index for f in whole.frames if f.frame_index not in silent and f.provenance["nouns"]
    ]
    for chunk in CHUNKS:
        frames = CountingFrames(StoredFrames(stored(clip).frames.frames))
        source = ClipSource(frames=frames, audio=ClipSource.from_media(clip).audio, fps=1.0)
        emitted: list[FrameInstances] = []
        streamed = openavs.propose_source(source, labels=["dog"], emit=emitted.append, chunk_frames=chunk)
        assert streamed.frames == []
        assert_same(whole, ClipProposal(emitted, streamed.model, streamed.meta), timings=False)
        assert frames.reads == clip.num_frames  # each frame read once
        assert frames.peak_alive <= min(chunk, clip.num_frames) + 1


def test_clap_tags_windows_in_bounded_batches_whatever_the_caller_splits(openavs, clip):
    tagger = openavs.tagger
    source = ClipSource.from_media(clip)
    windows = [source.audio_window(k) for k in range(clip.num_frames)]
    batches: list[int] = []
    hook = tagger.model.audio_model.register_forward_hook(
        lambda module, args, out: batches.append(out.pooler_output.shape[0])
    )
    saved = tagger.audio_batch_size
    try:
        tagger.audio_batch_size = 4
        streamed = tagger.tag((w for w in windows), sample_rate=16_000, vocabulary=["dog", "cat", "car"], top_k=2)
        assert batches == [4, 4, 1]  # 9 windows, never more than 4 at once
        listed = tagger.tag(windows, sample_rate=16_000, vocabulary=["dog", "cat", "car"], top_k=2)
    finally:
        tagger.audio_batch_size = saved
        hook.remove()
    assert [t.frame_index for t in streamed] == list(range(9))
    assert streamed == listed
    assert tagger.tag(iter(()), sample_rate=16_000, vocabulary=["dog"]) == []
