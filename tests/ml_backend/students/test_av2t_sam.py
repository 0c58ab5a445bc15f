"""The AV2T-SAM student on the tiny random CLAP, CLIP and SAM (loaded by the project's real loaders)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from ml_backend.foundation.config import ConfigError
from ml_backend.media.clip import ClipInputError
from ml_backend.media.source import ClipSource, StoredFrame, StoredFrames, WavAudio, bytes_opener
from ml_backend.media.video import write_wav
from ml_backend.students.av2t_sam import (
    Av2tSamConfig,
    Av2tSamStudent,
    build_av2t_sam,
    decode_batch,
    load_av2t_sam,
)
from ml_backend.students.base import FoundationModels, StudentConfig, TrainItem
from ml_backend.students.registry import build_student, load_student, student_config_from_dict
from ml_backend.types import ClipMedia, ClipProposal

RATE = 16_000
H, W = 48, 64


def square_items(count: int, *, seed: int = 0) -> list[TrainItem]:
    """Frames of dark noise with one red 20×20 square (the sounding object) somewhere; noise audio."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(count):
        frame = rng.integers(0, 60, (H, W, 3), dtype=np.uint8)
        y, x = int(rng.integers(0, H - 20)), int(rng.integers(0, W - 20))
        frame[y : y + 20, x : x + 20] = (230, 40, 40)
        target = np.zeros((H, W), np.float32)
        target[y : y + 20, x : x + 20] = 1.0
        audio = np.round(rng.standard_normal(RATE) * 0.1 * 32767) / 32768.0  # exactly what a 16-bit WAV holds
        items.append(
            TrainItem(
                frame=frame,
                audio=audio.astype(np.float32),
                sample_rate=RATE,
                target=target,
                label="dog",
                clip_key=f"clip{i // 4}",
                frame_index=i % 4,
            )
        )
    return items


def clip_of(items: list[TrainItem]) -> ClipMedia:
    return ClipMedia(
        frames=np.stack([item.frame for item in items]),
        timestamps=np.arange(len(items)) + 0.94,
        fps=1.0,
        audio=np.concatenate([item.audio for item in items]),
        sample_rate=RATE,
        source="squares",
    )


def mean_iou(proposal: ClipProposal, items: list[TrainItem]) -> float:
    ious = []
    for frame, item in zip(proposal.frames, items, strict=True):
        predicted = frame.instances[0].mask if frame.instances else np.zeros((H, W), bool)
        truth = item.target > 0.5
        ious.append((predicted & truth).sum() / max((predicted | truth).sum(), 1))
    return float(np.mean(ious))


CONFIG = dict(epochs=10, batch_size=4, learning_rate=1e-2, input_size=32, width=32, mlp_hidden=64, seed=0)


@pytest.fixture(scope="module")
def models(tiny):
    return {"clap": tiny("clap"), "clip": tiny("clip"), "sam": tiny("sam")}


@pytest.fixture(scope="module")
def items():
    return square_items(8)


@pytest.fixture(scope="module")
def trained(models, items):
    """(student before training's predictions, the SAM weights before, the trained student, its report)."""
    sam = models["sam"].model
    before = {k: v.detach().clone() for k, v in sam.state_dict().items()}
    student = build_av2t_sam(Av2tSamConfig(**CONFIG), **models)
    untrained = student.predict(clip_of(items))
    initial_decoder = {k: v.detach().clone() for k, v in student.head.mask_decoder.state_dict().items()}
    report = student.fit(items, Av2tSamConfig(**CONFIG))
    return {
        "student": student,
        "report": report,
        "untrained": untrained,
        "sam_before": before,
        "decoder_before": initial_decoder,
    }


def test_shapes_of_features_prompts_and_masks(models, items):
    student = build_av2t_sam(Av2tSamConfig(**CONFIG, prompt_tokens=3), **models)
    features = student.featurizer.features(
        [item.frame for item in items[:2]], [item.audio for item in items[:2]], sample_rate=RATE
    )
    clap_dim = models["clap"].model.config.projection_dim
    clip_dim = models["clip"].model.config.projection_dim
    assert features.audio.shape == (2, clap_dim) and features.visual.shape == (2, clip_dim)
    assert torch.allclose(features.audio.norm(dim=-1), torch.ones(2)) and torch.allclose(
        features.visual.norm(dim=-1), torch.ones(2)
    )
    sam = models["sam"].model
    embed_dim = sam.prompt_encoder.embed_dim
    assert features.image[0].shape == (embed_dim, 8, 8)  # the tiny SAM's 8×8 image embedding
    assert features.input_sizes[0] == (48, 64) and features.sizes[0] == (H, W)

    audio, visual, image = student._batch(features, [0, 1])
    fused = student.head.fused(audio, visual)
    assert fused.shape == (2, 32)  # f_CLIP ⊙ f_CLAP at the common width
    assert student.head.mlp(fused).view(2, 3, -1).shape == (2, 3, embed_dim)  # 3 sparse prompt tokens for SAM
    assert student.head(audio, visual, image).shape == (2, 1, 32, 32)  # SAM's low-resolution masks (4 × 8)


def test_batched_decoding_equals_sams_decoder_called_per_image(models):
    head = build_av2t_sam(Av2tSamConfig(**CONFIG), **models).head.cpu()
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(3, 32, 8, 8, generator=generator)
    sparse = torch.randn(3, 4, 32, generator=generator)
    dense = torch.randn(3, 32, 8, 8, generator=generator)
    with torch.no_grad():
        batched = decode_batch(head.mask_decoder, image, head.image_pe, sparse, dense)
        single = [
            head.mask_decoder(
                image_embeddings=image[i : i + 1],
                image_pe=head.image_pe,
                sparse_prompt_embeddings=sparse[i : i + 1],
                dense_prompt_embeddings=dense[i : i + 1],
                multimask_output=False,
            )[0]
            for i in range(3)
        ]
    assert torch.allclose(batched, torch.cat(single), atol=1e-5)


def test_fit_trains_the_decoder_and_leaves_sam_untouched(trained, models):
    student = trained["student"]
    sam = models["sam"].model
    for key, value in sam.state_dict().items():  # image encoder, prompt encoder and SAM's own decoder
        assert torch.equal(value, trained["sam_before"][key]), key
    changed = [
        key
        for key, value in student.head.mask_decoder.state_dict().items()
        if not torch.equal(value.cpu(), trained["decoder_before"][key].cpu())
    ]
    assert len(changed) > len(trained["decoder_before"]) // 2  # the student's copy of the decoder was trained
    assert all(p.grad is None for p in sam.parameters())  # no gradient ever reached the foundation SAM


def test_training_lowers_the_loss_and_segments_the_sounding_object(trained, items):
    report = trained["report"]
    assert len(report.curve) == CONFIG["epochs"] and report.items == 8 and report.human_items == 8
    assert report.curve[-1] < 0.5 * report.curve[0]
    after = trained["student"].predict(clip_of(items))
    assert mean_iou(after, items) > 0.5 > mean_iou(trained["untrained"], items)


def test_predict_gives_probabilities_at_frame_resolution_from_a_clip_and_a_stored_source(trained, items):
    student = trained["student"]
    media = clip_of(items[:3])
    from_media = student.predict(media)
    assert isinstance(from_media, ClipProposal) and from_media.model == "av2t_sam"
    assert [f.frame_index for f in from_media.frames] == [0, 1, 2]
    for frame in from_media.frames:
        (instance,) = frame.instances
        assert instance.label == "dog"  # the training targets' label
        assert instance.probability.shape == (H, W) and instance.probability.dtype == np.float32
        assert np.array_equal(instance.mask, instance.probability > 0.5)
        assert 0.5 < instance.score <= 1.0

    def png(image: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        return buffer.getvalue()

    wav = io.BytesIO()
    write_wav(wav, np.round(media.audio * 32768).astype(np.int16), RATE)
    stored = ClipSource(
        frames=StoredFrames([StoredFrame(k, k + 0.94, bytes_opener(png(media.frames[k]))) for k in range(3)]),
        audio=WavAudio(bytes_opener(wav.getvalue())),
        fps=1.0,
        source="stored",
    )
    with stored:
        from_source = student.predict(stored)
    for a, b in zip(from_media.frames, from_source.frames, strict=True):
        assert a.frame_index == b.frame_index
        assert np.allclose(a.instances[0].probability, b.instances[0].probability, atol=1e-5)

    silent = ClipMedia(media.frames, media.timestamps, 1.0, None, RATE)
    with pytest.raises(ClipInputError, match="no audio track"):
        student.predict(silent)


def test_save_and_load_give_identical_predictions(trained, models, items, tmp_path):
    student = trained["student"]
    student.save(tmp_path / "av2t")
    assert sorted(p.name for p in (tmp_path / "av2t").iterdir()) == ["student.json", "weights.safetensors"]
    meta = json.loads((tmp_path / "av2t" / "student.json").read_text())
    assert meta["kind"] == "av2t_sam" and meta["config"]["width"] == 32 and meta["label"] == "dog"
    assert meta["meta"]["report"]["curve"] == trained["report"].curve
    from safetensors import safe_open

    with safe_open(str(tmp_path / "av2t" / "weights.safetensors"), "pt") as saved:
        keys = list(saved.keys())
    assert any(k.startswith("mask_decoder.") for k in keys) and any(k.startswith("audio_proj.") for k in keys)
    assert not any("image_encoder" in k or "prompt_encoder" in k for k in keys)  # frozen parts are not saved

    loaded = load_av2t_sam(tmp_path / "av2t", **models)
    again = load_student(tmp_path / "av2t", models=FoundationModels(**models))  # the registry's entry point
    assert isinstance(again, Av2tSamStudent)
    clip = clip_of(items[:4])
    expected = student.predict(clip)
    for other in (loaded, again):
        for a, b in zip(expected.frames, other.predict(clip).frames, strict=True):
            assert len(a.instances) == len(b.instances)
            for x, y in zip(a.instances, b.instances, strict=True):
                assert np.array_equal(x.probability, y.probability) and x.label == y.label

    with pytest.raises(ValueError, match="needs the loaded foundation models"):
        load_student(tmp_path / "av2t", models=FoundationModels(sam=models["sam"]))
    with pytest.raises(ValueError, match="not a saved student"):
        load_av2t_sam(tmp_path, **models)


def test_a_student_trained_on_other_models_is_refused(trained, models, tmp_path):
    trained["student"].save(tmp_path / "av2t")
    meta_path = tmp_path / "av2t" / "student.json"
    meta = json.loads(meta_path.read_text())
    meta["meta"]["dims"]["clap"] = 512
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="other foundation models than those configured \\(clap"):
        load_av2t_sam(tmp_path / "av2t", **models)


def test_an_interrupted_fit_resumes_from_its_checkpoint(models, items, tmp_path):
    config = Av2tSamConfig(**{**CONFIG, "epochs": 3})
    items = items[:4]
    whole = build_av2t_sam(config, **models)
    whole.fit(items, config)

    class Killed(Exception):
        pass

    def kill_after_epoch_2(progress):  # the worker dies right after epoch 2's checkpoint
        if progress.epoch == 2:
            raise Killed

    interrupted = build_av2t_sam(config, **models)
    with pytest.raises(Killed):
        interrupted.fit(items, config, progress=kill_after_epoch_2, checkpoint_dir=tmp_path)
    resumed = build_av2t_sam(config, **models)
    report = resumed.fit(items, config, checkpoint_dir=tmp_path)
    assert report.resumed_from_epoch == 2 and len(report.curve) == 3
    for key, value in whole.head.state_dict().items():
        assert torch.allclose(value, resumed.head.state_dict()[key], atol=1e-5), key


def test_settings_are_validated_by_name(models):
    with pytest.raises(ConfigError, match="students.av2t_sam.prompt_tokens must be a positive integer"):
        student_config_from_dict({"kind": "av2t_sam", "prompt_tokens": 0})
    with pytest.raises(ConfigError, match="students.av2t_sam.cache_dtype must be 'float16' or 'float32'"):
        student_config_from_dict({"kind": "av2t_sam", "cache_dtype": "int8"})
    with pytest.raises(ConfigError, match="students.av2t_sam.width must be a positive integer"):
        build_av2t_sam(Av2tSamConfig(width=0), **models)
    config = student_config_from_dict({"kind": "av2t_sam", "epochs": 3, "width": 16})
    student = build_student(config, models=FoundationModels(**models))  # the registry's entry point
    assert isinstance(student, Av2tSamStudent) and student.config.epochs == 3 and student.config.width == 16
    plain = build_av2t_sam(StudentConfig(kind="av2t_sam", epochs=3, seed=5), **models)
    assert plain.config.epochs == 3 and plain.config.seed == 5 and plain.config.width == 256
    with pytest.raises(ValueError, match="builds on CLAP, CLIP and SAM: models.clip is not configured"):
        build_student(config, models=FoundationModels(clap=models["clap"], sam=models["sam"]))


def test_the_student_runs_where_sam_is(models, tmp_path):
    student = build_av2t_sam(Av2tSamConfig(**CONFIG), **models)
    where = models["sam"].placement.torch_device.type  # "cuda" when the models loaded on a GPU
    assert next(student.head.parameters()).device.type == where and student.device.type == where
    student.save(tmp_path)
    on_cpu = load_av2t_sam(tmp_path, **models, device="cpu")
    assert next(on_cpu.head.parameters()).device.type == "cpu"
