"""Self-training entry points (`ml_backend.serving.training`): a student trained from stored frames, a stored WAV
track and RLE targets, resumed from its checkpoint, then proposing a stored clip like the other proposers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml_backend import serving
from ml_backend.foundation.config import ConfigError
from ml_backend.media.source import path_opener
from ml_backend.media.video import write_wav
from ml_backend.serving.encoding import mask_to_rle

SIZE = 64
TINY = {
    "kind": "compact",
    "epochs": 3,
    "batch_size": 4,
    "learning_rate": 1e-2,
    "input_size": 32,
    "width": 4,
    "depth": 3,
    "film_scales": 2,
    "n_mels": 16,
    "n_fft": 256,
    "hop_length": 256,
    "audio_width": 4,
    "audio_dim": 8,
    "device": "cpu",
}


def stored_clip(folder: Path, frames: int = 6):
    """PNG frames with a bright square (the sounding object) at a moving place, a tone as the WAV track; returns
    (stored frames, audio opener, the square's masks)."""
    folder.mkdir(parents=True, exist_ok=True)
    stored, masks = [], []
    for k in range(frames):
        picture = np.full((SIZE, SIZE, 3), 40, dtype=np.uint8)
        mask = np.zeros((SIZE, SIZE), dtype=bool)
        x = 8 + 6 * k
        mask[20:40, x : x + 20] = True
        picture[mask] = (230, 60, 60)
        Image.fromarray(picture).save(folder / f"{k}.png")
        stored.append(serving.StoredFrame(k, k + 0.94, path_opener(folder / f"{k}.png")))
        masks.append(mask)
    t = np.arange(frames * 16_000) / 16_000
    write_wav(folder / "audio.wav", (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), 16_000)
    return stored, path_opener(folder / "audio.wav"), masks


def training_frames(stored, audio, masks, *, pseudo_from: int = 4) -> list[serving.TrainingFrame]:
    out = []
    for frame, mask in zip(stored, masks, strict=True):
        source = "human" if frame.index < pseudo_from else "pseudo"
        out.append(
            serving.TrainingFrame(
                frame=frame, audio=audio, fps=1.0, source=source, clip_key="clip-1", masks=(mask_to_rle(mask),)
            )
        )
    return out


def test_a_student_trains_on_stored_frames_resumes_and_proposes(tmp_path):
    stored, audio, masks = stored_clip(tmp_path / "clip")
    frames = training_frames(stored, audio, masks)
    seen = []

    class Killed(BaseException):
        pass

    def die_after_first_epoch(progress: dict) -> None:
        seen.append(progress)
        if progress["step"] * progress["epochs"] == progress["epoch"] * progress["steps"]:
            raise Killed

    checkpoints = tmp_path / "checkpoints"
    with pytest.raises(Killed):
        serving.train_student(
            frames, TINY, progress=die_after_first_epoch, checkpoint_dir=checkpoints, output_dir=tmp_path / "out"
        )
    assert seen[-1]["epoch"] == 1 and (checkpoints / "checkpoint.pt").is_file()

    result = serving.train_student(
        frames, TINY, progress=seen.append, checkpoint_dir=checkpoints, output_dir=tmp_path / "student"
    )
    report = result["report"]
    assert report["resumed_from_epoch"] == 1 and len(report["curve"]) == 3
    assert (report["human_items"], report["pseudo_items"]) == (4, 2)
    assert result["kind"] == "compact" and result["config"]["epochs"] == 3
    assert (tmp_path / "student" / "student.json").is_file()

    proposal = serving.propose_stored_clip_student(
        student_path=tmp_path / "student",
        frames=stored,
        audio=audio,
        fps=1.0,
        name="clip-1",
        chunk_frames=4,
        model_name="student round 1",
        model_hash="abc",
    )
    assert proposal["model"] == {"kind": "student", "name": "student round 1", "config_hash": "abc", "reason": None}
    assert [f["frame_index"] for f in proposal["frames"]] == list(range(6))
    for entry in proposal["frames"]:
        assert all(i["mask"]["size"] == [SIZE, SIZE] for i in entry["instances"])


def test_probability_maps_are_pseudo_label_targets(tmp_path):
    stored, audio, masks = stored_clip(tmp_path / "clip", frames=1)
    small = (masks[0][::2, ::2] * 200).astype(np.uint8)  # half resolution, 200/255 ≈ 0.78 inside
    Image.fromarray(small).save(tmp_path / "prob.png")
    spec = serving.TrainingFrame(
        frame=stored[0],
        audio=audio,
        fps=1.0,
        source="pseudo",
        clip_key="clip-1",
        probability=path_opener(tmp_path / "prob.png"),
    )
    item = serving.training.training_item(spec)
    assert item.target.shape == (SIZE, SIZE) and item.frame.shape == (SIZE, SIZE, 3)
    assert item.target[30, 10:26].min() > 0.7 and item.target[5, 5] == 0.0
    assert item.source == "pseudo" and len(item.audio) == 16_000 and item.sample_rate == 16_000


def test_invalid_student_settings_name_the_setting():
    with pytest.raises(ConfigError, match="students.compact.epochs must be a positive integer"):
        serving.student_config_check({**TINY, "epochs": 0})
    assert serving.student_config_check({"kind": "compact"})["epochs"] >= 1


def test_an_av2t_sam_student_builds_on_the_configured_foundation_models(tmp_path, tiny_models):
    """AV2T-SAM takes CLAP, CLIP and SAM from the model configuration (the process cache), when training and when
    proposing; without a configuration it says what is missing."""
    stored, audio, masks = stored_clip(tmp_path / "clip", frames=4)
    frames = training_frames(stored, audio, masks, pseudo_from=3)
    settings = {"kind": "av2t_sam", "epochs": 1, "batch_size": 4, "input_size": 32, "device": "cpu"}
    with pytest.raises(ValueError, match="builds on clap, clip, sam: a model configuration naming them is needed"):
        serving.train_student(frames, settings, output_dir=tmp_path / "none")

    result = serving.train_student(
        frames, settings, checkpoint_dir=tmp_path / "ck", output_dir=tmp_path / "av2t", model_config_path=tiny_models
    )
    assert result["kind"] == "av2t_sam" and len(result["report"]["curve"]) == 1
    proposal = serving.propose_stored_clip_student(
        student_path=tmp_path / "av2t", frames=stored, audio=audio, fps=1.0, model_config_path=tiny_models
    )
    assert [f["frame_index"] for f in proposal["frames"]] == list(range(4))
    assert proposal["model"]["kind"] == "student"
