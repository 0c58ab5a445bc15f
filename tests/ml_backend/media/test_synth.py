"""Synthetic AV clips: deterministic, exact masks, real h264/aac mp4s whose 0.94 s pictures are the layout frames."""

from __future__ import annotations

import hashlib
import json
import math

import av
import numpy as np
import pytest

from ml_backend.__main__ import main
from ml_backend.evaluation.datasets import read_binary_mask, read_image, read_layout, read_wav
from ml_backend.media.synth import (
    SYNTH_CLASSES,
    assign_splits,
    class_sound,
    generate_dataset,
    make_clips,
    shape_area,
    shape_mask,
)


def digest_tree(root, pattern: str) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.glob(pattern))}


@pytest.fixture(scope="module")
def s4(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth_s4")
    dataset = generate_dataset(root, clips=4, seed=3, layout="s4", splits=(("test", 1.0),))
    return root, dataset


def window_rms_db(audio: np.ndarray, k: int, rate: int = 16000) -> float:
    w = audio[k * rate : (k + 1) * rate].astype(np.float64)
    return 20 * math.log10(max(float(np.sqrt(np.mean(w * w))), 1e-10))


def test_same_seed_same_bytes_other_seed_other_masks(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for root, seed in ((a, 9), (b, 9), (c, 10)):
        generate_dataset(root, clips=3, seed=seed, layout="ms3", size=64)
    masks_a = digest_tree(a, "gt_masks/**/*.png")
    assert masks_a and masks_a == digest_tree(b, "gt_masks/**/*.png")
    assert digest_tree(a, "videos/*.mp4") == digest_tree(b, "videos/*.mp4")
    assert digest_tree(a, "audio_wav/**/*.wav") == digest_tree(b, "audio_wav/**/*.wav")
    assert (a / "synth_manifest.json").read_bytes() == (b / "synth_manifest.json").read_bytes()
    masks_c = {k.replace("synth10_", "synth9_"): v for k, v in digest_tree(c, "gt_masks/**/*.png").items()}
    assert masks_c != masks_a


def test_masks_are_the_visible_pixels_of_the_sounding_shapes(s4):
    root, _ = s4
    manifest = json.loads((root / "synth_manifest.json").read_text())
    records = {r.vid: r for r in read_layout(root, protocol="s4")}
    n_empty = n_sounding = 0
    for clip in manifest["clips"]:
        record = records[clip["vid"]]
        objects = clip["objects"]  # drawing order: later objects cover earlier ones
        for k in range(clip["frames"]):
            shapes = [
                shape_mask(
                    o["shape"],
                    center=tuple(o["kept_centers"][k]),
                    radius=o["radius"] * o["kept_scales"][k],
                    size=(224, 224),
                )
                for o in objects
            ]
            expected = np.zeros((224, 224), bool)
            for i, o in enumerate(objects):
                if o["sounding"][k]:
                    visible = shapes[i] & ~np.any(shapes[i + 1 :], axis=0) if i + 1 < len(shapes) else shapes[i]
                    expected |= visible
            mask = read_binary_mask(record.mask_paths[k])
            np.testing.assert_array_equal(mask, expected, err_msg=f"{clip['vid']} frame {k + 1}")
            n_empty += not expected.any()
            n_sounding += expected.any()
    assert n_empty and n_sounding  # both kinds of frames occur


def test_shape_masks_have_their_geometric_area():
    for shape in ("circle", "square", "diamond", "triangle"):
        mask = shape_mask(shape, center=(50.3, 40.7), radius=20.0, size=(100, 100))
        assert mask.sum() == pytest.approx(shape_area(shape, 20.0), rel=0.03), shape
        assert mask[40, 50]  # the centre
    tri = shape_mask("triangle", center=(50, 50), radius=20, size=(100, 100))
    assert tri[32, 50] and not tri[32, 45] and tri[59, 40]  # apex up, wide base


def test_mp4_has_h264_video_aac_audio_and_the_stated_duration(s4):
    root, dataset = s4
    for clip in dataset.clips:
        with av.open(str(dataset.videos[clip.vid])) as container:
            video, audio = container.streams.video[0], container.streams.audio[0]
            assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
            assert (video.width, video.height) == (224, 224) and audio.sample_rate == 16000
            assert container.duration / 1e6 == pytest.approx(5.0, abs=0.05)
            assert sum(1 for _ in container.decode(video=0)) == 125


def test_frames_at_the_094_position_are_the_layout_frames(s4):
    root, dataset = s4
    for record in read_layout(root, protocol="s4"):
        with av.open(str(dataset.videos[record.vid])) as container:
            pictures = [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
        for k, path in enumerate(record.frame_paths):
            on_screen = [image for t, image in pictures if t <= k + 0.94 + 1e-9][-1]
            nearest = min(pictures, key=lambda p: abs(p[0] - (k + 0.94)))[1]
            layout = read_image(path).astype(np.int16)
            for decoded in (on_screen, nearest):  # either decoder rule gives the same picture
                assert np.abs(decoded.astype(np.int16) - layout).mean() < 3.0


def test_mp4_audio_is_the_wav_and_sounding_windows_are_loud(s4):
    root, dataset = s4
    manifest = {c["vid"]: c for c in json.loads((root / "synth_manifest.json").read_text())["clips"]}
    for record in read_layout(root, protocol="s4"):
        wav, rate = read_wav(record.audio_path)
        assert rate == 16000 and len(wav) == 5 * 16000
        with av.open(str(dataset.videos[record.vid])) as container:
            decoded = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])[: len(wav)]
        for k in range(5):
            level = window_rms_db(wav, k)
            assert window_rms_db(decoded, k) == pytest.approx(level, abs=1.5)  # AAC keeps the levels in place
            if manifest[record.vid]["audible"][k]:
                assert level > -30
            else:
                assert level < -45


def test_class_sounds_are_distinct():
    rng = np.random.default_rng(0)
    centroids = []
    for cls in SYNTH_CLASSES:
        x = class_sound(cls, n=16000, sample_rate=16000, rng=rng)
        assert np.sqrt(np.mean(x * x)) == pytest.approx(1.0)
        spectrum = np.abs(np.fft.rfft(x))
        freqs = np.fft.rfftfreq(len(x), 1 / 16000)
        centroids.append(float((spectrum * freqs).sum() / spectrum.sum()))
        if cls.sound == "tone":
            assert freqs[np.argmax(spectrum)] == pytest.approx(cls.freq_hz, abs=2)
    assert len({round(c, -2) for c in centroids}) == len(SYNTH_CLASSES)
    assert len({c.name for c in SYNTH_CLASSES}) == len({c.shape for c in SYNTH_CLASSES}) == 4


def test_off_screen_sound_is_audible_with_empty_ground_truth():
    clips = make_clips(clips=20, seed=1, layout="ms3", size=64)
    found = 0
    for clip in clips:
        for k in range(clip.num_frames):
            if clip.offscreen_windows[k] and not any(o.sounding[k] for o in clip.objects):
                audio = clip.audio()
                assert window_rms_db(audio, k) > -30
                assert not clip.sounding_mask(k).any()
                found += 1
    assert found
    assert any(not o.is_source for c in clips for o in c.objects)  # silent distractors exist


def test_objects_start_and_stop_sounding_within_clips():
    clips = make_clips(clips=10, seed=2, layout="s4", size=64)
    patterns = {o.sounding for c in clips for o in c.sources}
    assert any(0 < sum(p) < 5 for p in patterns)
    assert all(len(c.sources) == 1 and c.category == c.sources[0].cls.name for c in clips)


def test_splits_are_seeded_and_proportional():
    splits = assign_splits(10, seed=4)
    assert sorted(splits) == ["test"] * 2 + ["train"] * 6 + ["val"] * 2
    assert splits == assign_splits(10, seed=4) and splits != assign_splits(10, seed=5)


def test_cli_writes_a_layout_and_refuses_a_non_empty_folder(tmp_path, capsys):
    out = tmp_path / "avss"
    code = main(["synth", "--out", str(out), "--clips", "2", "--seed", "1", "--layout", "avss", "--size", "64"])
    assert code == 0 and "wrote 2 AVSS clips" in capsys.readouterr().out
    assert (out / "metadata.csv").is_file() and (out / "label2idx.json").is_file()
    assert len(list((out / "videos").glob("*.mp4"))) == 2
    assert len(read_layout(out, protocol="avss")) == 2
    code = main(["synth", "--out", str(out), "--clips", "2", "--layout", "avss"])
    assert code == 2 and "not empty" in capsys.readouterr().err
    code = main(["synth", "--out", str(tmp_path / "odd"), "--clips", "1", "--layout", "s4", "--size", "65"])
    assert code == 2 and "even" in capsys.readouterr().err
