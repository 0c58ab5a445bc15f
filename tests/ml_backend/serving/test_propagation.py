"""Mask propagation (`ml_backend.serving.propagate_stored_clip`): an annotator's masks on one stored frame, tracked
through a range of the clip by a tiny random tracker (the tracking tests run with one of each kind: SAM 2 video and
SAM 3's tracker), each frame read when the tracker needs it, each propagated mask checked against its frame's audio
window.

The sounding tests use a synthetic MS3 clip (sources switching on and off per window, `ml_backend.media.synth`)
and a fixture tagger that returns the known tags of each window: a random CLAP's tags mean nothing."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml_backend import serving
from ml_backend.foundation.loading import ModelLoadError
from ml_backend.media.source import WavAudio, path_opener
from ml_backend.media.synth import make_clips
from ml_backend.media.video import write_wav
from ml_backend.serving.encoding import mask_to_rle, rle_to_mask
from ml_backend.types import AudioTag, AudioTags
from tests.ml_backend.pipelines.test_sources import HEARD, LEAK, SOUND, sounding

H, W = 48, 80  # the stored frames of `write_clip`


def tracker_kind(config: Path) -> str:
    """The models.tracker.kind of a configuration (the tiny trackers' folders are named after their kinds)."""
    return json.loads(config.read_text())["models"]["tracker"]["kind"]


def config_variant(tiny_models: Path, name: str, *, models: dict | None = None, pipeline: dict | None = None) -> Path:
    """A copy of the tiny models' configuration with some settings changed, next to it (relative paths hold)."""
    data = json.loads(tiny_models.read_text())
    for key, value in (models or {}).items():
        if value is None:
            data["models"].pop(key, None)
        else:
            data["models"][key] = {**data["models"].get(key, {}), **value}
    data["pipeline"].update(pipeline or {})
    path = tiny_models.parent / f"config-{name}.json"
    path.write_text(json.dumps(data))
    return path


class CountingOpener:
    """Opens a stored file and counts how often each frame was opened."""

    def __init__(self, counts: Counter, index: int, path: Path) -> None:
        self.counts, self.index, self.path = counts, index, path

    def __call__(self):
        self.counts[self.index] += 1
        return open(self.path, "rb")


def write_clip(folder: Path, frames: int, *, size: tuple[int, int] = (H, W), tone: float = 0.3):
    """`frames` PNG pictures (a bright square sliding right over a gradient) and a 440 Hz tone at 16 kHz (silent
    with tone=0): (StoredFrames whose openers count their opens, the WAV's opener, the open counts)."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    background = np.stack([60 + x, 70 + y, 90 + 0 * x], axis=-1).clip(0, 255).astype(np.uint8)
    counts: Counter = Counter()
    stored = []
    for k in range(frames):
        picture = background.copy()
        left = 5 + 2 * k
        picture[10:30, left : left + 20] = (240, 230, 40)
        path = folder / f"{k:05d}.png"
        Image.fromarray(picture).save(path)
        stored.append(serving.StoredFrame(k, k + 0.94, CountingOpener(counts, k, path)))
    t = np.arange(frames * 16_000) / 16_000
    write_wav(folder / "audio.wav", (tone * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), 16_000)
    return stored, path_opener(folder / "audio.wav"), counts


def square(k: int = 0) -> dict:
    mask = np.zeros((H, W), dtype=bool)
    mask[10:30, 5 + 2 * k : 25 + 2 * k] = True
    return mask_to_rle(mask)


class KnownTags:
    """A tagger answering the known tags of each window of a synthetic clip: it finds which window it is given by
    comparing it with the clip's stored track (every window read by the propagation comes from that track)."""

    name = "known-tags"

    def __init__(self, spec, audio_opener) -> None:
        self.spec = spec
        track = WavAudio(audio_opener)
        self.windows = [track.read(k * 16_000, 16_000) for k in range(len(spec.sources[0].sounding))]
        track.close()
        self.seen: list[int] = []

    def tag(self, windows, *, sample_rate, vocabulary, top_k=5) -> list[AudioTags]:
        classes = {o.cls.name for o in self.spec.sources}
        out = []
        for window in windows:
            k = int(np.argmin([np.abs(window - known).sum() for known in self.windows]))
            self.seen.append(k)
            heard = sounding(self.spec, k)
            if heard:
                tags = [AudioTag(SOUND[c], HEARD) for c in sorted(heard)]
                tags += [AudioTag(SOUND[c], LEAK) for c in sorted(classes - heard)]
            else:
                tags = [AudioTag("Bark", 0.4)]  # a tagger always answers something, even on silence
            out.append(AudioTags(frame_index=k, tags=tags[:top_k]))
        return out


def write_synth_clip(folder: Path, seed: int = 5, frames: int = 6):
    """The MS3 clip of `tests/ml_backend/pipelines/test_sources.py` (seed 5: window 0 silent, bird in window 1, dog
    in 2-4, bell in 4-5), stored as PNG frames and a WAV track."""
    (spec,) = make_clips(clips=1, seed=seed, layout="ms3", frames=frames, size=64)
    folder.mkdir(parents=True, exist_ok=True)
    stored = []
    for k in range(frames):
        path = folder / f"{k:05d}.png"
        Image.fromarray(spec.frame(k)).save(path)
        stored.append(serving.StoredFrame(k, k + 0.94, path_opener(path)))
    audio = np.clip(spec.audio(sample_rate=16_000), -1, 1)
    write_wav(folder / "audio.wav", (audio * 32767).astype(np.int16), 16_000)
    return spec, stored, path_opener(folder / "audio.wav")


def run(config, frames, audio, **kwargs) -> list[dict]:
    kwargs.setdefault("fps", 1.0)
    return list(serving.propagate_stored_clip(config_path=config, frames=frames, audio=audio, **kwargs))


# --- tracking -----------------------------------------------------------------------------------------------


def test_masks_are_propagated_forward_reading_each_frame_of_the_range_once(tracker_models, tmp_path):
    kind = tracker_kind(tracker_models)
    info = serving.tracker_info(tracker_models)
    assert info["available"] is True and info["kind"] == info["name"] == kind
    frames, audio, opens = write_clip(tmp_path / "clip", 10)
    progress = []
    results = run(
        tracker_models,
        frames,
        audio,
        source_frame_index=2,
        instances=[{"mask": square(2), "label": "car"}, {"mask": mask_to_rle(~rle_to_mask(square(2))), "label": "x"}],
        direction="forward",
        end_frame_index=6,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert [r["frame_index"] for r in results] == [2, 3, 4, 5, 6]
    assert progress == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    source = results[0]
    assert [i["mask"] for i in source["instances"]] == [square(2), mask_to_rle(~rle_to_mask(square(2)))]
    assert [i["confidence"] for i in source["instances"]] == [1.0, 1.0]
    for result in results[1:]:
        assert [i["track"] for i in result["instances"]] == [0, 1]
        assert [i["label"] for i in result["instances"]] == ["car", "x"]
        for instance in result["instances"]:
            assert instance["mask"]["size"] == [H, W]
            assert instance["area"] == int(rle_to_mask(instance["mask"]).sum()) > 0  # the tiny tracker keeps it
            assert 0.5 <= instance["confidence"] <= 1.0 and instance["score"] == instance["confidence"]
            assert instance["provenance"]["tracker"] == kind
    # frames outside the range were never opened; each frame of it was decoded once (the source also had its
    # header read, for the masks' size check)
    assert opens == Counter({2: 2, 3: 1, 4: 1, 5: 1, 6: 1})


def test_backward_to_the_clip_start_and_the_frame_budget(tracker_models, tmp_path):
    frames, audio, _ = write_clip(tmp_path / "clip", 8)
    results = run(
        tracker_models,
        frames,
        audio,
        source_frame_index=5,
        instances=[{"mask": square(5), "label": "car"}],
        direction="backward",
    )
    assert [r["frame_index"] for r in results] == [5, 4, 3, 2, 1, 0]
    for result in results[1:]:  # masks of the frame's size on every frame tracked backward too
        (instance,) = result["instances"]
        assert rle_to_mask(instance["mask"]).shape == (H, W) and instance["area"] > 0
    capped = run(
        tracker_models,
        frames,
        audio,
        source_frame_index=5,
        instances=[{"mask": square(5), "label": "car"}],
        direction="backward",
        max_frames=3,
    )
    assert [r["frame_index"] for r in capped] == [5, 4, 3]


def test_the_session_holds_a_bounded_number_of_frames_however_long_the_range(tiny_tracker, tracker_models, tmp_path):
    """The model's own session keeps every frame's pixels and outputs; ours forgets what the model cannot attend to
    any more, so what it holds stays the same from the 10th frame to the 40th."""
    tracker = tiny_tracker
    frames, audio, _ = write_clip(tmp_path / "clip", 40)
    held = []

    class Watching:
        """The tiny tracker, recording how many frames its session holds after each step."""

        name, min_confidence = tracker.name, tracker.min_confidence

        def start(self, image, masks):
            session = tracker.start(image, masks)
            inner = session.track

            def track(picture):
                out = inner(picture)
                held.append(session.held_frames())
                return out

            session.track = track
            return session

    results = run(
        tracker_models,
        frames,
        None,
        source_frame_index=0,
        instances=[{"mask": square(0), "label": "car"}],
        tracker=Watching(),
    )
    assert len(results) == 40 and len(held) == 39
    assert all(rle_to_mask(r["instances"][0]["mask"]).shape == (H, W) for r in results)
    bound = tracker.memory_frames + 2  # the source frame's outputs, the memory frames, the current frame
    assert max(held) <= bound and held[-1] == held[10]


def test_forgetting_changes_no_mask(tiny_tracker):
    """The session's masks equal those of the model's own session, which keeps everything, on the same frames."""
    import torch

    tracker = tiny_tracker
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(12)]
    prompt = rle_to_mask(square(0))
    session = tracker.start(pictures[0], [prompt])
    ours = [session.track(p)[0].mask for p in pictures[1:]]

    reference = tracker.processor.init_video_session(
        inference_device=tracker.placement.torch_device, dtype=tracker.placement.torch_dtype
    )
    tracker.processor.add_inputs_to_inference_session(
        reference, frame_idx=0, obj_ids=[0], input_masks=[torch.from_numpy(prompt)], original_size=(H, W)
    )
    theirs = []
    with torch.inference_mode():
        for step, picture in enumerate(pictures):
            out = tracker.model(inference_session=reference, frame=tracker.pixel_values(picture), frame_idx=step)
            logits = tracker.processor.post_process_masks(
                [out.pred_masks.float()], original_sizes=[[H, W]], binarize=False
            )[0]
            theirs.append((logits[0, 0] > 0).cpu().numpy())
    assert len(reference.processed_frames) == 12  # the model's own session kept every frame
    for step, (mine, reference_mask) in enumerate(zip(ours, theirs[1:], strict=True), start=1):
        assert np.array_equal(mine, reference_mask), step


def test_a_low_confidence_threshold_flags_the_propagated_frames(tracker_models, tmp_path):
    kind = tracker_kind(tracker_models)
    config = config_variant(tracker_models, f"strict-{kind}", models={"tracker": {"min_confidence": 0.95}})
    frames, audio, _ = write_clip(tmp_path / "clip", 4)
    results = run(config, frames, audio, source_frame_index=0, instances=[{"mask": square(0), "label": "car"}])
    assert results[0]["low_confidence"] is False  # the source frame's masks are the annotator's
    for result in results[1:]:  # a random tracker is about 0.5 sure of everything
        (instance,) = result["instances"]
        assert instance["confidence"] < 0.95 and instance["low_confidence"] is True and result["low_confidence"]


# --- audio-aware -------------------------------------------------------------------------------------------


def test_a_mask_is_sounding_exactly_on_the_frames_whose_windows_carry_its_sound(tiny_models, tmp_path):
    config = config_variant(tiny_models, "floor", pipeline={"min_tag_score": 0.05})
    spec, frames, audio = write_synth_clip(tmp_path / "ms3")
    tagger = KnownTags(spec, audio)
    dog = np.ones((64, 64), dtype=bool)  # any painted region: the tracker is random
    results = list(
        serving.propagate_stored_clip(
            config_path=config,
            frames=frames,
            audio=audio,
            fps=1.0,
            source_frame_index=0,
            instances=[{"mask": mask_to_rle(dog), "label": "dog"}, {"mask": mask_to_rle(dog), "label": "bird"}],
            tagger=tagger,
        )
    )
    assert sorted(tagger.seen) == [0, 1, 2, 3, 4, 5]  # every window of the range, each once
    for result in results:
        k = result["frame_index"]
        by_label = {i["label"]: i for i in result["instances"]}
        assert {label for label, i in by_label.items() if i["sounding"]} == sounding(spec, k) & {"dog", "bird"}, k
        assert result["silent"] is not (sounding(spec, k) & {"dog", "bird"})
        for label, instance in by_label.items():
            provenance = instance["provenance"]
            if instance["sounding"]:
                assert provenance["supported_by"] == [SOUND[label]] and provenance["reason"] is None
            elif not spec.audible(k):
                assert "silent window" in provenance["reason"] and "pipeline.min_window_rms" in provenance["reason"]
            else:
                assert provenance["reason"] == (
                    f"none of this window's audio tags supports '{label}' in the audio-visual tree"
                )
    silent = results[0]  # window 0 is silent: nothing sounds, whatever the tagger said
    assert silent["provenance"]["silent"] is True and silent["provenance"]["audio_tags"] == []
    assert [i["sounding"] for i in silent["instances"]] == [False, False]


def test_without_an_audio_track_nothing_sounds(tiny_models, tmp_path):
    frames, _, _ = write_clip(tmp_path / "clip", 3)
    results = run(tiny_models, frames, None, source_frame_index=0, instances=[{"mask": square(0), "label": "car"}])
    for result in results:
        (instance,) = result["instances"]
        assert instance["sounding"] is False and instance["provenance"]["reason"] == "the clip has no audio track"
        assert result["silent"] is True


# --- what is refused --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"instances": []}, "instances must list 1 or more"),
        ({"instances": [{"mask": square(0), "label": "car"}] * 21}, "at most 20 instances"),
        ({"instances": [{"mask": square(0), "label": " "}]}, "instances[0].label must be a non-empty string"),
        ({"instances": [{"mask": mask_to_rle(np.ones((10, 10), bool)), "label": "car"}]}, "instances[0].mask is 10x10"),
        ({"instances": [{"mask": {"size": [H, W], "counts": 5}, "label": "car"}]}, "instances[0].mask is not a COCO"),
        ({"instances": [{"mask": mask_to_rle(np.zeros((H, W), bool)), "label": "car"}]}, "instances[0].mask is empty"),
        ({"direction": "sideways"}, "direction must be 'forward' or 'backward'"),
        ({"source_frame_index": 9}, "frame_index 9 is not a frame of this clip (its frames are 0 to 4)"),
        ({"end_frame_index": 7}, "end_frame_index 7 is not a frame of this clip"),
        ({"source_frame_index": 3, "end_frame_index": 1}, "end_frame_index 1 must come after frame_index 3"),
        ({"source_frame_index": 4}, "frame_index 4 is the clip's last frame: there is nothing to propagate forward"),
        ({"end_frame_index": 4, "max_frames": 3}, "The range covers 5 frames, more than the 3"),
    ],
)
def test_bad_input_is_refused_before_any_model_loads(tmp_path, changes, message):
    frames, audio, opens = write_clip(tmp_path / "clip", 5)
    arguments = {"source_frame_index": 0, "instances": [{"mask": square(0), "label": "car"}], **changes}
    with pytest.raises(serving.PropagationInputError) as caught:
        serving.propagate_stored_clip(
            config_path=tmp_path / "nowhere.json", frames=frames, audio=audio, fps=1.0, **arguments
        )
    assert message in str(caught.value)
    assert sum(opens.values()) <= 1  # at most the source frame's header was read


def test_a_configuration_without_a_tracker_says_which_setting_is_missing(tiny_models, tmp_path):
    config = config_variant(tiny_models, "no-tracker", models={"tracker": None})
    frames, audio, _ = write_clip(tmp_path / "clip", 3)
    with pytest.raises(serving.TrackerUnavailableError, match="has no models.tracker"):
        run(config, frames, audio, source_frame_index=0, instances=[{"mask": square(0), "label": "car"}])
    info = serving.tracker_info(config)
    assert info["available"] is False and "has no models.tracker" in info["reason"]
    assert serving.tracker_info(tiny_models) == {
        "available": True,
        "kind": "sam2_video",
        "name": "sam2_video",
        "min_confidence": 0.5,
        "reason": None,
    }


def test_a_damaged_tracker_fails_to_load_naming_the_setting(tracker_models, tmp_path):
    kind = tracker_kind(tracker_models)
    folder = tmp_path / "models" / "broken_tracker"
    folder.mkdir(parents=True)
    source = tracker_models.parent / kind
    for name in ("config.json", "processor_config.json"):
        (folder / name).write_bytes((source / name).read_bytes())
    (folder / "model.safetensors").write_bytes(b"not weights")
    config = config_variant(tracker_models, f"broken-{kind}", models={"tracker": {"path": str(folder)}})
    frames, audio, _ = write_clip(tmp_path / "clip", 3)
    with pytest.raises(ModelLoadError) as caught:
        run(config, frames, audio, source_frame_index=0, instances=[{"mask": square(0), "label": "car"}])
    assert str(caught.value).startswith(f"models.tracker.path = '{folder}': the model could not be loaded")
    missing = config_variant(tracker_models, f"missing-{kind}", models={"tracker": {"path": str(tmp_path / "none")}})
    assert (
        serving.tracker_info(missing)["reason"]
        == f"models.tracker.path = '{tmp_path / 'none'}': no such model directory"
    )
