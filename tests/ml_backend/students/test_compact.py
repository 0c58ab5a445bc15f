"""The compact AVS student (ml_backend.students.compact): it learns, and it proposes like a pipeline."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
from PIL import Image

from ml_backend.evaluation.metrics import binary_scores
from ml_backend.media.source import ArrayAudio, ClipSource, StoredFrame, StoredFrames, bytes_opener
from ml_backend.students.base import TrainProgress
from ml_backend.students.compact import METHOD, CompactStudent, LogMel, mel_filterbank, tiny_config
from ml_backend.types import ClipMedia
from tests.ml_backend.counting import CountingFrames


def held_out_scores(student: CompactStudent, test) -> tuple[float, float]:
    report = binary_scores((np.stack(student.probabilities(clip)[1]), gt) for clip, gt in test)
    return report.miou, report.fscore


@pytest.fixture(scope="module")
def trained(synth_set) -> CompactStudent:
    student = CompactStudent(tiny_config())
    student.fit(synth_set.train, tiny_config())
    return student


def test_training_on_synthetic_clips_beats_the_untrained_student_on_held_out_clips(synth_set, trained):
    untrained_miou, untrained_f = held_out_scores(CompactStudent(tiny_config()), synth_set.test)
    miou, fscore = held_out_scores(trained, synth_set.test)
    assert miou > untrained_miou + 0.2 and miou > 0.4
    assert fscore > untrained_f + 0.2
    # Frames where something sounds: the right object is found, not just "nothing sounds" on silent frames.
    ious = []
    for clip, gt in synth_set.test:
        for prob, mask in zip(trained.probabilities(clip)[1], gt, strict=True):
            if mask.any():
                predicted = prob > 0.5
                ious.append((predicted & mask).sum() / (predicted | mask).sum())
    assert np.mean(ious) > 0.25
    assert trained.label in {"bell", "bird", "dog", "car"}  # the most frequent label of its training items


def stored_source(clip: ClipMedia, *, first_index: int = 0) -> ClipSource:
    """The clip as the server stores it: PNG pictures read one at a time, frame indexes from `first_index` (the
    track then starts with `first_index` windows of silence, so that frame k + first_index hears window k)."""
    pictures = []
    for k, frame in enumerate(clip.frames):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="PNG")
        pictures.append(StoredFrame(first_index + k, float(clip.timestamps[k]), bytes_opener(buffer.getvalue())))
    lead = np.zeros(int(round(first_index * clip.sample_rate / clip.fps)), dtype=np.float32)
    audio = ArrayAudio(np.concatenate([lead, clip.audio]), clip.sample_rate)
    return ClipSource(StoredFrames(pictures), audio, clip.fps, clip.source)


def test_predicting_from_stored_frames_equals_predicting_from_a_decoded_clip_and_reads_in_bounded_batches(
    trained, small_clip
):
    student = CompactStudent(dataclasses.replace(trained.config, predict_batch=2))
    student.net.load_state_dict(trained.net.state_dict())
    student.label = trained.label
    from_media = student.predict(small_clip)
    source = stored_source(small_clip)
    counting = CountingFrames(source.frames)
    source.frames = counting
    from_source = student.predict(source)
    assert counting.reads == small_clip.num_frames and counting.peak_alive <= 2
    assert [f.frame_index for f in from_source.frames] == list(range(small_clip.num_frames))
    for a, b in zip(from_media.frames, from_source.frames, strict=True):
        assert len(a.instances) == len(b.instances)
        for x, y in zip(a.instances, b.instances, strict=True):
            assert np.array_equal(x.probability, y.probability) and np.array_equal(x.mask, y.mask)
            assert x.score == y.score
    # Batches of 2 or of 16 frames: the same probabilities (up to float rounding).
    whole = trained.probabilities(small_clip)[1]
    for a, b in zip(whole, student.probabilities(small_clip)[1], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_proposals_keep_probabilities_at_frame_resolution_and_skip_frames_where_nothing_sounds(trained, small_clip):
    proposal = trained.predict(stored_source(small_clip, first_index=10))
    assert proposal.model == METHOD
    assert [f.frame_index for f in proposal.frames] == list(range(10, 10 + small_clip.num_frames))
    height, width = small_clip.size
    _, maps = trained.probabilities(small_clip)
    instances = 0
    for frame, prob in zip(proposal.frames, maps, strict=True):
        if not (prob > trained.config.threshold).any():
            assert frame.instances == []
            continue
        (instance,) = frame.instances
        instances += 1
        assert instance.probability.dtype == np.float32 and instance.probability.shape == (height, width)
        assert np.array_equal(instance.mask, instance.probability > trained.config.threshold)
        assert instance.score == pytest.approx(float(instance.probability[instance.mask].mean()))
        assert instance.label == trained.label and instance.provenance["method"] == METHOD
    assert instances > 0
    strict = CompactStudent(dataclasses.replace(trained.config, threshold=1.0))
    strict.net.load_state_dict(trained.net.state_dict())
    assert all(frame.instances == [] for frame in strict.predict(small_clip).frames)
    relabelled = trained.predict(small_clip, labels=["guitar", "piano"])
    assert {i.label for f in relabelled.frames for i in f.instances} <= {"guitar"}


def test_a_clip_without_audio_is_proposed_as_silent(trained, small_clip):
    silent = dataclasses.replace(small_clip, audio=None)
    proposal = trained.predict(silent)
    assert len(proposal.frames) == small_clip.num_frames and proposal.meta["has_audio"] is False


def test_the_log_mel_spectrogram_puts_a_tone_in_its_mel_band():
    bank = mel_filterbank(512, 40, 16000)
    assert bank.shape == (257, 40) and (bank >= 0).all()
    assert (np.diff(bank.argmax(dim=0).numpy()) >= 0).all()  # filters ordered by frequency
    t = torch.arange(16000) / 16000
    logmel = LogMel(sample_rate=16000, n_fft=512, hop_length=160, n_mels=40)
    for hz in (300.0, 1000.0, 4000.0):
        band = int(logmel(torch.sin(2 * torch.pi * hz * t)[None])[0, 0].mean(dim=1).argmax())
        bin_ = round(hz / (16000 / 512))
        assert bank[bin_, band] == bank[bin_].max()  # the loudest band is the filter centred on the tone


def test_it_trains_and_proposes_on_the_available_device(synth_set, small_clip, device):
    """CUDA when the machine has a GPU, else the CPU; 'auto' picks the same."""
    config = tiny_config(epochs=1, device=device)
    student = CompactStudent(config)
    seen: list[TrainProgress] = []
    student.fit(synth_set.train[:16], config, progress=seen.append)
    assert {p.device.type for p in student.net.parameters()} == {device}
    assert len(seen) == 1 and np.isfinite(seen[0].loss)
    assert len(student.predict(small_clip).frames) == small_clip.num_frames
    assert CompactStudent(tiny_config(device="auto")).device.type == device


def test_the_default_configuration_needs_no_weights_and_is_small():
    student = CompactStudent(dataclasses.replace(tiny_config(), **{"width": 16, "depth": 4, "input_size": 128}))
    assert sum(p.numel() for p in student.net.parameters()) < 1_000_000
    tiny = CompactStudent(tiny_config())
    assert sum(p.numel() for p in tiny.net.parameters()) < 10_000


def test_frozen_sam_and_clap_features_are_optional_and_travel_with_the_saved_student(
    synth_set, small_clip, tiny, tmp_path
):
    from ml_backend.students.base import FoundationModels
    from ml_backend.students.registry import load_student

    models = FoundationModels(sam=tiny("sam"), clap=tiny("clap"))
    config = tiny_config(epochs=1, visual="sam", audio="clap")
    student = CompactStudent(config, models=models)
    report = student.fit(synth_set.train[:10], config)
    assert len(report.curve) == 1 and np.isfinite(report.curve[0])
    student.save(tmp_path / "student")
    with pytest.raises(ValueError, match="needs a SAM model"):
        load_student(tmp_path / "student", device="cpu")
    loaded = load_student(tmp_path / "student", device="cpu", models=models)
    for a, b in zip(student.probabilities(small_clip)[1], loaded.probabilities(small_clip)[1], strict=True):
        assert np.array_equal(a, b)
