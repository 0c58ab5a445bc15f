"""The weight-free synchrony baseline: beats trivial guesses on synthetic data, follows the sound's timing."""

from __future__ import annotations

import av
import numpy as np
import pytest

from ml_backend.evaluation.datasets import load_clip_media, read_ground_truth, read_layout
from ml_backend.evaluation.metrics import binary_scores
from ml_backend.media.synth import generate_dataset
from ml_backend.pipelines.synchrony import SynchronyProposer, proposal_probabilities
from ml_backend.types import ClipMedia

RATE = 16000


@pytest.fixture(scope="module")
def synthetic_s4(tmp_path_factory):
    root = tmp_path_factory.mktemp("sync_s4")
    dataset = generate_dataset(root, clips=8, seed=0, layout="s4", splits=(("test", 1.0),))
    return dataset, read_layout(root, protocol="s4", split="test")


def decode_context(path, *, fps: float) -> ClipMedia:
    """Pictures of the mp4 at multiples of 1/fps (decoded here with PyAV), as context frames."""
    with av.open(str(path)) as container:
        pictures = [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    kept = [(t, image) for t, image in pictures if abs(t * fps - round(t * fps)) < 1e-6]
    return ClipMedia(
        frames=np.stack([i for _, i in kept]),
        timestamps=np.array([t for t, _ in kept]),
        fps=fps,
        audio=None,
        sample_rate=RATE,
    )


def test_baseline_beats_all_background_and_all_foreground(synthetic_s4):
    _, records = synthetic_s4
    proposer = SynchronyProposer()
    runs: dict[str, list] = {"baseline": [], "background": [], "foreground": []}
    for record in records:
        clip = load_clip_media(record)
        gt = read_ground_truth(record)
        proposal = proposer.propose(clip)
        assert proposal.model == "synchrony-baseline" and len(proposal.frames) == 5
        runs["baseline"].append((proposal_probabilities(proposal, size=clip.size), gt))
        runs["background"].append((np.zeros(gt.shape, np.float32), gt))
        runs["foreground"].append((np.ones(gt.shape, np.float32), gt))
    scores = {name: binary_scores(pairs) for name, pairs in runs.items()}
    base, bg, fg = scores["baseline"], scores["background"], scores["foreground"]
    assert base.miou > bg.miou + 0.2 and base.miou > fg.miou + 0.2
    assert base.fscore > bg.fscore + 0.3 and base.fscore > fg.fscore + 0.3
    assert base.fscore_at_0_5 > bg.fscore_at_0_5 + 0.3 and base.fscore_at_0_5 > fg.fscore_at_0_5 + 0.3


def test_instances_carry_label_score_provenance_and_silent_windows_are_empty(synthetic_s4):
    dataset, records = synthetic_s4
    silent_frames = 0
    for record, clip_spec in zip(records, dataset.clips, strict=True):
        clip = load_clip_media(record)
        proposal = SynchronyProposer().propose(clip)
        for frame in proposal.frames:
            if not clip_spec.audible(frame.frame_index):
                assert frame.instances == []
                silent_frames += 1
            for instance in frame.instances:
                assert instance.label == "sounding object" and 0.0 < instance.score <= 1.0
                assert instance.mask.shape == clip.size and instance.mask.dtype == bool and instance.mask.any()
                assert instance.provenance["method"] == "synchrony-baseline"
                assert {"audio_level_db", "synchrony", "box", "reference_time"} <= set(instance.provenance)
    assert silent_frames


def test_context_frames_from_the_mp4_work_and_do_not_hurt(synthetic_s4):
    dataset, records = synthetic_s4
    proposer = SynchronyProposer()
    plain, with_context = [], []
    for record in records[:4]:
        clip = load_clip_media(record)
        gt = read_ground_truth(record)
        context = decode_context(dataset.videos[record.vid], fps=5.0)
        proposal = proposer.propose(clip, context=context)
        times = [i.provenance["reference_time"] for f in proposal.frames for i in f.instances]
        assert all(abs(t - round(t * 5) / 5) < 1e-6 for t in times)  # references are context pictures
        plain.append((proposal_probabilities(proposer.propose(clip), size=clip.size), gt))
        with_context.append((proposal_probabilities(proposal, size=clip.size), gt))
    assert binary_scores(with_context).miou >= binary_scores(plain).miou - 0.05


def square_clip(*, sound: list[bool], wanderer: bool) -> ClipMedia:
    """6 frames, 96×96 grey: a red square that moves only in sounding windows (+ a blue one always moving)."""
    frames = np.full((6, 96, 96, 3), 128, dtype=np.uint8)
    x = 10
    for k in range(6):
        if sound[k] and k > 0:
            x += 12
        frames[k, 40:56, x : x + 16] = (220, 30, 30)
        if wanderer:
            frames[k, 70:86, 5 + 12 * k : 21 + 12 * k] = (30, 30, 220)
    t = np.arange(6 * RATE) / RATE
    gate = np.repeat(np.array(sound, dtype=np.float32), RATE)
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) * gate).astype(np.float32)
    return ClipMedia(frames=frames, timestamps=np.arange(6) + 0.94, fps=1.0, audio=audio, sample_rate=RATE)


def test_masks_follow_the_object_that_moves_with_the_sound_not_the_wanderer():
    sound = [False, False, True, True, True, False]
    proposal = SynchronyProposer().propose(square_clip(sound=sound, wanderer=True))
    for frame in proposal.frames:
        if not sound[frame.frame_index]:
            assert frame.instances == []
            continue
        assert len(frame.instances) == 1
        mask = frame.instances[0].mask
        ys, xs = np.nonzero(mask)
        assert ys.min() >= 38 and ys.max() <= 57  # the red square's rows, not the blue wanderer's
        assert mask.sum() == pytest.approx(256, rel=0.2)
        assert frame.instances[0].provenance["synchrony"] > 0.3


def test_sound_without_any_motion_gives_no_masks():
    clip = square_clip(sound=[True] * 6, wanderer=False)
    clip.frames[:] = clip.frames[0]  # nothing moves
    assert all(f.instances == [] for f in SynchronyProposer().propose(clip).frames)


def test_clip_without_audio_is_refused():
    clip = square_clip(sound=[True] * 6, wanderer=False)
    clip.audio = None
    with pytest.raises(ValueError, match="no audio track"):
        SynchronyProposer().propose(clip)
