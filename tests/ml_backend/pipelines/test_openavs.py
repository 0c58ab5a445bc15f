"""The OpenAVS pipeline end to end on decoded clips, with the tiny models (ml_backend.pipelines.openavs)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ml_backend.foundation.prompt_translation import TreeTranslator, default_av_tree
from ml_backend.media.clip import ClipInputError, load_clip
from ml_backend.media.synth import make_clips, write_mp4
from ml_backend.pipelines.openavs import OpenAvsOptions, OpenAvsPipeline, build_openavs_pipeline
from ml_backend.types import ClipMedia
from tests.media_files import make_video


@pytest.fixture(scope="module")
def synth_clip(tmp_path_factory) -> ClipMedia:
    """A 3-second synthetic clip (64×64, a sounding shape and distractors) decoded at 1 fps."""
    (clip,) = make_clips(clips=1, seed=5, layout="s4", frames=3, size=64)
    path = write_mp4(tmp_path_factory.mktemp("synth") / f"{clip.vid}.mp4", clip)
    return load_clip(path, fps=1.0, sample_rate=16_000)


@pytest.fixture(scope="module")
def wide_clip(tmp_path_factory) -> ClipMedia:
    """2 s of 80×48 grey pictures with a 440 Hz tone, decoded at 2 fps (4 frames, H != W)."""
    path = make_video(tmp_path_factory.mktemp("wide") / "wide.mp4", seconds=2.0, width=80, height=48, audio_rate=16_000)
    return load_clip(path, fps=2.0, sample_rate=16_000)


@pytest.fixture
def pipeline(tiny_config, tiny_cache):
    return build_openavs_pipeline(tiny_config, cache=tiny_cache)


@pytest.fixture
def counted(pipeline):
    """Counts of SAM image-encoder forwards, CLAP audio-encoder forwards and LLM generate calls."""
    counts = {"sam_encoder": 0, "clap_audio": 0, "llm_generate": 0}

    def bump(name):
        return lambda *_: counts.__setitem__(name, counts[name] + 1)

    hooks = [
        pipeline.segmenter.model.image_encoder.register_forward_hook(bump("sam_encoder")),
        pipeline.tagger.model.audio_model.register_forward_hook(bump("clap_audio")),
    ]
    model = pipeline.translator.llm.model
    generate = model.generate
    model.generate = lambda *a, **k: bump("llm_generate")() or generate(*a, **k)
    yield counts
    del model.generate
    for hook in hooks:
        hook.remove()


def test_a_clip_gets_masks_per_frame_with_provenance(pipeline, synth_clip, counted):
    proposal = pipeline.propose(synth_clip, labels=["dog", "man"])
    assert proposal.model == "openavs"
    assert [f.frame_index for f in proposal.frames] == [0, 1, 2]
    for frame in proposal.frames:
        assert len(frame.instances) == 1  # one noun ("dog", the tiny LLM's answer), masks merged by union
        (instance,) = frame.instances
        assert instance.label == "dog" and 0.0 <= instance.score <= 1.0
        assert instance.mask.shape == (64, 64) and instance.mask.dtype == bool and instance.mask.any()
        assert instance.probability.shape == (64, 64) and np.array_equal(instance.mask, instance.probability > 0.5)
        provenance = instance.provenance
        assert provenance["noun"] == "dog" and provenance["translator"] == "llm"
        assert provenance["models"] == {
            "audio_tagging": "clap",
            "llm": "llm",
            "grounding": "grounding_dino",
            "sam": "tiny_sam",
            "clip": None,
        }
        frame_tags = {t["label"] for t in proposal.meta["audio_tags"][frame.frame_index]["tags"]}
        sources = set(proposal.meta["translation"]["sources"]["dog"])
        assert {t["label"] for t in provenance["audio_tags"]} == frame_tags & sources
        assert all({"xyxy", "score", "mask_iou"} <= set(box) for box in provenance["boxes"])
        best = provenance["boxes"][0]
        assert instance.score == pytest.approx(best["score"] * min(max(best["mask_iou"], 0.0), 1.0), abs=1e-5)
        assert set(provenance["clip_audio_tags"]) == set(proposal.meta["translation"]["sources"]["dog"])
    assert counted == {"sam_encoder": 3, "clap_audio": 1, "llm_generate": 1}
    tags = proposal.meta["audio_tags"]
    assert len(tags) == 3 and len(tags[0]["tags"]) == 5
    assert proposal.meta["translation"]["translator"] == "llm" and proposal.meta["translation"]["nouns"] == ["dog"]
    assert set(proposal.meta["timings"]) == {"audio_tagging", "prompt_translation", "grounding", "sam", "clip_labels"}


def test_masks_have_the_frame_s_height_and_width(pipeline, wide_clip, counted):
    proposal = pipeline.propose(wide_clip)
    assert len(proposal.frames) == 4
    for frame in proposal.frames:
        for instance in frame.instances:
            assert instance.mask.shape == (48, 80)
            for box in instance.provenance["boxes"]:
                x0, y0, x1, y1 = box["xyxy"]
                assert 0 <= x0 <= x1 <= 80 and 0 <= y0 <= y1 <= 48
    assert counted == {"sam_encoder": 4, "clap_audio": 1, "llm_generate": 1}


def test_without_an_llm_the_audio_visual_tree_translates(tiny_config, tiny_cache, synth_clip):
    pipeline_settings = dataclasses.replace(tiny_config.pipeline, vocabulary=("Bark", "Dog", "Meow"))
    config = dataclasses.replace(
        tiny_config, models=dataclasses.replace(tiny_config.models, llm=None), pipeline=pipeline_settings
    )
    pipeline = build_openavs_pipeline(config, cache=tiny_cache)
    assert isinstance(pipeline.translator, TreeTranslator)
    proposal = pipeline.propose(synth_clip)
    assert proposal.meta["translation"]["translator"] == "av_tree"
    assert set(proposal.meta["translation"]["nouns"]) == {"dog", "cat"}  # Bark, Dog -> dog; Meow -> cat
    labels = {i.label for f in proposal.frames for i in f.instances}
    assert labels <= {"dog", "cat"} and labels
    instance = proposal.frames[0].instances[0]
    assert instance.provenance["translator"] == "av_tree" and "translator_note" not in instance.provenance
    assert {t["label"] for t in instance.provenance["audio_tags"]} <= {"Bark", "Dog", "Meow"}


def test_an_llm_answer_that_is_not_json_falls_back_to_the_tree(pipeline, synth_clip, monkeypatch):
    monkeypatch.setattr(pipeline.translator.llm, "complete", lambda messages: "I think a dog, maybe a car.")
    proposal = pipeline.propose(synth_clip)
    translation = proposal.meta["translation"]
    assert translation["translator"] == "av_tree" and translation["raw"] == "I think a dog, maybe a car."
    assert "without valid JSON" in translation["fallback_reason"]
    for frame in proposal.frames:
        for instance in frame.instances:
            assert instance.provenance["translator"] == "av_tree"
            assert "the audio-visual tree translated instead" in instance.provenance["translator_note"]


def test_best_keeps_one_mask_that_the_union_contains(tiny_cache, tiny_config, synth_clip):
    union = build_openavs_pipeline(tiny_config, cache=tiny_cache).propose(synth_clip)
    best_config = dataclasses.replace(tiny_config, pipeline=dataclasses.replace(tiny_config.pipeline, merge="best"))
    best = build_openavs_pipeline(best_config, cache=tiny_cache).propose(synth_clip)
    for u, b in zip(union.frames, best.frames, strict=True):
        (ui,), (bi,) = u.instances, b.instances
        assert len(bi.provenance["boxes"]) == 1 and len(ui.provenance["boxes"]) >= 1
        assert not (bi.mask & ~ui.mask).any() and ui.score == pytest.approx(bi.score)


def test_clip_labels_and_the_bavs_filter(tiny_config, tiny_cache, synth_clip):
    settings = dataclasses.replace(tiny_config.pipeline, clip_labels=True, vocabulary=("Bark", "Dog"))
    config = dataclasses.replace(tiny_config, pipeline=settings)
    labelled = build_openavs_pipeline(config, cache=tiny_cache).propose(synth_clip, labels=["piano", "violin"])
    for frame in labelled.frames:
        for instance in frame.instances:
            assert instance.label in {"piano", "violin"} and instance.provenance["noun"] == "dog"
            assert instance.provenance["clip_label"]["label"] == instance.label
            assert instance.provenance["models"]["clip"] == "clip"
    # piano/violin meet none of the tags (Bark, Dog, piano, violin ranked by the random CLAP): BAVS drops
    # whatever CLIP calls a piano or violin unless that very label is among the frame's tags.
    filtered_config = dataclasses.replace(config, pipeline=dataclasses.replace(settings, bavs_filter=True))
    filtered = build_openavs_pipeline(filtered_config, cache=tiny_cache).propose(synth_clip, labels=["piano", "violin"])
    for frame, tags in zip(filtered.frames, filtered.meta["audio_tags"], strict=True):
        frame_tags = {t["label"] for t in tags["tags"]}
        assert all(instance.label in frame_tags for instance in frame.instances)


def test_bavs_filter_keeps_masks_whose_label_meets_a_tag(tiny_config, tiny_cache, synth_clip):
    settings = dataclasses.replace(tiny_config.pipeline, bavs_filter=True, vocabulary=("Bark", "Dog"), top_k=2)
    config = dataclasses.replace(tiny_config, pipeline=settings)
    proposal = build_openavs_pipeline(config, cache=tiny_cache).propose(synth_clip)
    assert all(len(f.instances) == 1 and f.instances[0].label == "dog" for f in proposal.frames)


def test_a_clip_without_audio_or_with_silent_audio_is_refused(pipeline, tmp_path):
    quiet = load_clip(make_video(tmp_path / "mute.mp4", seconds=2.0))
    assert quiet.audio is None
    with pytest.raises(ClipInputError, match="no audio track"):
        pipeline.propose(quiet)
    (clip,) = make_clips(clips=1, seed=1, layout="s4", frames=2, size=64)
    silent = load_clip(write_mp4(tmp_path / "silent.mp4", clip, audio=np.zeros(32_000, np.float32)))
    assert silent.has_audio
    with pytest.raises(ClipInputError, match="audio track is silent"):
        pipeline.propose(silent)


def test_options_are_checked():
    with pytest.raises(ValueError, match="clip_labels needs a CLIP labeller"):
        OpenAvsPipeline(
            tagger=None, translator=None, detector=None, segmenter=None, tree=default_av_tree(),
            options=OpenAvsOptions(clip_labels=True),
        )  # fmt: skip
