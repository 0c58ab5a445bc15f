"""What a proposal keeps besides its masks (`ml_backend.serving.records`): per frame an 8-bit probability map (PNG)
and per instance its mean confidence; per clip an evidence file (audio tags, audio and visual embeddings), bounded."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml_backend import serving
from ml_backend.serving.encoding import rle_to_mask
from ml_backend.serving.records import (
    EvidenceCollector,
    decode_png,
    probability_map_shape,
    probability_map_uint8,
    read_evidence,
)
from ml_backend.types import AudioTag, AudioTags, ClipFeatures, FrameInstances
from tests.ml_backend.serving.test_stored_clips import SIZE, write_stored_clip


class Folder:
    """`write_file` keeping each record as a file in a folder (what the server's media storage does)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.written: list[str] = []

    def __call__(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        self.written.append(name)
        return str(self.root / name)


def expected_map(frame: FrameInstances, size: tuple[int, int]) -> np.ndarray:
    """Per pixel, the maximum over the instances of their probability (their mask where they have none)."""
    out = np.zeros(size, dtype=np.float64)
    for instance in frame.instances:
        p = instance.mask if instance.probability is None else instance.probability
        out = np.maximum(out, np.asarray(p, dtype=np.float64))
    return out


@pytest.mark.parametrize("proposer", ["baseline", "openavs"])
def test_each_frame_keeps_its_probability_map_and_each_instance_its_mean_confidence(
    proposer, tmp_path, tiny_models, tiny_cache
):
    frames, audio = write_stored_clip(tmp_path / "clip", 6)
    seen: list[FrameInstances] = []
    for max_side, folder in ((256, "full"), (SIZE // 2, "half")):
        seen.clear()
        write = Folder(tmp_path / folder)
        result = serving.propose_stored_clip(
            frames=frames,
            audio=audio,
            fps=1.0,
            config_path=tiny_models if proposer == "openavs" else None,
            cache=tiny_cache,
            write_file=write,
            probability_map_max_side=max_side,
            on_frame=seen.append,
        )
        assert result["model"]["kind"] == proposer
        assert len(result["frames"]) == len(seen) == 6
        with_instances = 0
        for entry, frame in zip(result["frames"], seen, strict=True):
            record = entry["probability_map"]
            stored = decode_png(Path(record["path"]).read_bytes())
            want = expected_map(frame, (SIZE, SIZE))
            if max_side >= SIZE:
                assert record == {"path": record["path"], "size": [SIZE, SIZE], "scale": 1.0}
            else:  # 96 -> 48: each stored pixel is the mean of a 2×2 block
                assert record["size"] == [SIZE // 2, SIZE // 2] and record["scale"] == 0.5
                want = want.reshape(SIZE // 2, 2, SIZE // 2, 2).mean(axis=(1, 3))
            assert stored.dtype == np.uint8 and stored.shape == tuple(record["size"])
            assert np.abs(stored / 255.0 - want).max() <= 1 / 255 + 1e-6
            for stored_instance, instance in zip(entry["instances"], frame.instances, strict=True):
                mask = rle_to_mask(stored_instance["mask"])
                assert mask.any()
                probability = np.ones(mask.shape) if instance.probability is None else instance.probability
                assert 0.0 <= stored_instance["confidence"] <= 1.0
                assert stored_instance["confidence"] == pytest.approx(float(probability[mask].mean()), abs=1e-6)
                with_instances += 1
        assert with_instances, "the clip was proposed something"
        if proposer == "openavs":  # SAM's probabilities, not a hard 0/1 map
            assert any(0 < v < 255 for entry in result["frames"] for v in np.unique(decode_png(
                Path(entry["probability_map"]["path"]).read_bytes())))  # fmt: skip
            assert any(i["confidence"] < 1.0 for e in result["frames"] for i in e["instances"])
        assert write.written == [f"probability-{k:06d}.png" for k in range(6)] + ["evidence.npz"]


@pytest.mark.parametrize("proposer", ["baseline", "openavs"])
def test_the_evidence_file_holds_the_tags_and_embeddings_the_proposer_computed(
    proposer, tmp_path, tiny_models, tiny_cache, tiny
):
    frames, audio = write_stored_clip(tmp_path / "clip", 5)
    seen: list[FrameInstances] = []
    write = Folder(tmp_path / "records")
    result = serving.propose_stored_clip(
        frames=frames,
        audio=audio,
        fps=1.0,
        config_path=tiny_models if proposer == "openavs" else None,
        cache=tiny_cache,
        write_file=write,
        on_frame=seen.append,
    )
    summary = result["evidence"]
    data = Path(summary["path"]).read_bytes()
    assert summary["bytes"] == len(data) and summary["format"] == 1 and summary["stride"] == 1
    evidence = read_evidence(data)
    assert evidence.frame_index.tolist() == [0, 1, 2, 3, 4] and evidence.stride == 1
    visual = np.stack([frame.embedding for frame in seen])
    assert evidence.visual_embedding.shape == visual.shape
    np.testing.assert_allclose(evidence.visual_embedding, visual, rtol=2e-3, atol=2e-3)  # float16
    assert summary["visual_embedding"] == {"kind": evidence.visual_kind, "shape": list(visual.shape)}
    assert summary["audio_embedding"] == {"kind": evidence.audio_kind, "shape": list(evidence.audio_embedding.shape)}
    if proposer == "openavs":
        assert (evidence.audio_kind, evidence.visual_kind) == ("clap", "sam-mean")
        tags = result["meta"]["audio_tags"]
        assert evidence.audio_tags() == [
            [(t["label"], pytest.approx(t["score"], abs=1e-3)) for t in window["tags"]] for window in tags
        ]
        assert evidence.tag_labels.shape == (5, summary["audio_tags"]["top_k"]) and summary["audio_tags"]["top_k"] > 0
        assert evidence.audio_embedding.shape[0] == 5
        np.testing.assert_allclose(np.linalg.norm(evidence.audio_embedding, axis=1), 1.0, atol=5e-3)  # CLAP: unit
        # SAM's image embedding averaged over its grid (a square frame: every cell covers the frame)
        image = np.asarray(Image.open(tmp_path / "clip" / "00002.jpg").convert("RGB"))
        features = tiny("sam").embed(image).features[0].float()
        assert visual.shape == (5, features.shape[0])
        np.testing.assert_allclose(visual[2], features.mean(dim=(-2, -1)).cpu().numpy(), rtol=1e-4, atol=1e-5)
    else:
        assert (evidence.audio_kind, evidence.visual_kind) == ("baseline-bands", "baseline-colour-grid")
        assert evidence.audio_embedding.shape == (5, 17) and visual.shape == (5, 48)
        assert evidence.audio_tags() == [[] for _ in range(5)]
        # a steady 440 Hz tone: its band holds far more energy than the top band
        assert (evidence.audio_embedding[:, 1:].argmax(axis=1) < 8).all()
        assert ((0 <= visual) & (visual <= 1)).all()


def test_without_write_file_nothing_is_written_and_instances_still_carry_confidence(tmp_path):
    frames, audio = write_stored_clip(tmp_path / "clip", 4)
    result = serving.propose_stored_clip(frames=frames, audio=audio, fps=1.0)
    assert result["evidence"] is None
    assert all("probability_map" not in entry for entry in result["frames"])
    assert all(i["confidence"] == 1.0 for e in result["frames"] for i in e["instances"])  # hard masks


def test_maps_shrink_to_the_longer_side_with_a_box_filter_and_are_never_enlarged():
    assert probability_map_shape((720, 1280), max_side=256) == ((144, 256), 0.2)
    assert probability_map_shape((100, 60), max_side=256) == ((100, 60), 1.0)
    assert probability_map_shape((1, 5000), max_side=256) == ((1, 256), 256 / 5000)
    rng = np.random.default_rng(0)
    values = rng.random((512, 300)).astype(np.float32)
    stored, scale = probability_map_uint8(values, max_side=256)
    assert stored.shape == (256, 150) and scale == 0.5
    blocks = values.reshape(256, 2, 150, 2).mean(axis=(1, 3))
    assert np.abs(stored / 255.0 - blocks).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ValueError, match="max_side must be at least 1"):
        probability_map_shape((10, 10), max_side=0)


def tagged_frames(frames: int) -> EvidenceCollector:
    collector = EvidenceCollector()
    for k in range(frames):
        collector.add(FrameInstances(k, []))
    return collector


def features(frames: int, audio_dim: int, visual_dim: int, seed: int = 0) -> tuple[EvidenceCollector, ClipFeatures]:
    rng = np.random.default_rng(seed)
    collector = EvidenceCollector()
    for k in range(frames):
        collector.add(FrameInstances(k, [], embedding=rng.standard_normal(visual_dim).astype(np.float32)))
    labels, scores = rng.integers(0, 500, (frames, 3)), rng.random((frames, 3))
    tags = [AudioTags(k, [AudioTag(f"sound {v}", float(p)) for v, p in zip(labels[k], scores[k], strict=True)])
            for k in range(frames)]  # fmt: skip
    return collector, ClipFeatures(
        tags, rng.standard_normal((frames, audio_dim)).astype(np.float32), "clap", "sam-mean"
    )


def test_the_evidence_file_is_bounded_by_pooling_consecutive_frames_then_by_leaving_embeddings_out():
    collector, clip = features(400, 512, 256)
    unbounded, summary = collector.encode(clip, max_bytes=10**9)
    assert summary["stride"] == 1 and summary["dropped"] == []
    assert summary["audio_embedding"]["shape"] == [400, 512] and summary["visual_embedding"]["shape"] == [400, 256]

    bound = len(unbounded) // 3
    data, summary = collector.encode(clip, max_bytes=bound)
    assert len(data) <= bound and summary["bytes"] == len(data)
    stride = summary["stride"]
    assert stride in (4, 8)
    evidence = read_evidence(data)
    rows = -(-400 // stride)
    assert evidence.audio_embedding.shape == (rows, 512) and evidence.visual_embedding.shape == (rows, 256)
    pooled = clip.audio_embedding[:stride].mean(axis=0)
    np.testing.assert_allclose(evidence.audio_embedding[0], pooled, atol=2e-3)
    assert len(evidence.audio_tags()) == 400  # the tags are kept per window

    # The tags alone (what is left once the embeddings are out) and the frame indexes alone:
    tags_only = len(tagged_frames(400).encode(ClipFeatures(clip.audio_tags))[0])
    minimal = len(collector.encode(clip, max_bytes=1)[0])
    assert minimal < tags_only < bound

    data, summary = collector.encode(clip, max_bytes=tags_only)  # not even one row per clip fits beside the tags
    assert len(data) <= tags_only
    assert summary["dropped"] == ["audio_embedding", "visual_embedding"] and summary["audio_embedding"] is None
    evidence = read_evidence(data)
    assert evidence.audio_embedding is None and evidence.visual_embedding is None
    assert evidence.audio_tags() == [
        [(t.label, pytest.approx(t.score, abs=1e-3)) for t in w.tags] for w in clip.audio_tags
    ]

    data, summary = collector.encode(clip, max_bytes=tags_only - 1)  # the tags do not fit either
    assert len(data) <= tags_only - 1
    assert summary["dropped"] == ["audio_embedding", "visual_embedding", "audio_tags"]
    assert read_evidence(data).frame_index.tolist() == list(range(400))  # always kept


def test_keeping_records_does_not_make_memory_grow_with_the_clip(tmp_path):
    def peak(frames, audio, folder: Path) -> tuple[int, dict]:
        write = Folder(folder)
        tracemalloc.start()
        try:
            result = serving.propose_stored_clip(frames=frames, audio=audio, fps=1.0, chunk_frames=8, write_file=write)
            return tracemalloc.get_traced_memory()[1], result
        finally:
            tracemalloc.stop()

    short = write_stored_clip(tmp_path / "short", 100)
    long = write_stored_clip(tmp_path / "long", 400)
    serving.propose_stored_clip(frames=short[0][:3], audio=short[1], fps=1.0, write_file=Folder(tmp_path / "warm"))
    peak_short, _ = peak(*short, tmp_path / "short-records")
    peak_long, result = peak(*long, tmp_path / "long-records")
    assert len(result["frames"]) == 400 and all(entry["probability_map"] for entry in result["frames"])
    assert result["evidence"]["frames"] == 400
    # Four times the frames, about the same peak: maps are written as frames come out, never held together ...
    assert peak_long < 1.25 * peak_short, (peak_short, peak_long)
    # ... and far below the clip's probability maps as one array (400 × 96×96 float32 = 14.7 MB).
    assert peak_long < 0.5 * 400 * SIZE * SIZE * 4, peak_long
