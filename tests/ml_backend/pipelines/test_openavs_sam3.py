"""OpenAVS with SAM 3 as its text -> masks stage (`models.segmenter`): the translator's nouns prompt the tiny random
SAM 3 directly, per frame or with SAM 3 video over the clip, and the per-frame sounding sources gate it exactly as they
gate Grounding DINO + SAM: masks appear exactly on the frames whose windows carry the source's sound (synthetic MS3
clips, whose sources switch on and off per window; a fixture tagger gives the known tags per window)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pytest

from ml_backend.foundation.concepts import VISUAL_KIND
from ml_backend.foundation.prompt_translation import TreeTranslator, default_av_tree
from ml_backend.pipelines.openavs import OpenAvsOptions, OpenAvsPipeline, build_openavs_pipeline
from ml_backend.serving.encoding import frame_to_dict
from ml_backend.serving.info import openavs_models
from tests.ml_backend.pipelines.test_sources import SOUND, KnownTagger, ms3, sounding


class SpySegmenter:
    """A concept segmenter (the tiny SAM 3), recording the nouns each frame asked for and the sessions' lives."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name, self.kind, self.mode, self.visual_kind = inner.name, inner.kind, inner.mode, inner.visual_kind
        self.score_threshold, self.mask_threshold = inner.score_threshold, inner.mask_threshold
        self.asked: list[list[str]] = []
        self.clips: list[list[str]] = []
        self.closed = 0

    def start_clip(self, nouns: Sequence[str]):
        self.clips.append(list(nouns))
        session, spy = self.inner.start_clip(nouns), self

        class Session:
            def segment(self, image, nouns):
                spy.asked.append(list(nouns))
                return session.segment(image, nouns)

            def close(self):
                spy.closed += 1
                session.close()

        return Session()


@pytest.fixture(scope="module", params=["frame", "video"])
def sam3(request, tiny_sam3_config, load_context):
    """The tiny SAM 3 in each mode (thresholds 0: every query of every frame yields a mask of every pixel)."""
    from ml_backend.foundation.registry import model_registry

    settings = dataclasses.replace(tiny_sam3_config.models.segmenter, mode=request.param)
    return model_registry["segmenter"](settings, load_context)


def pipeline(segmenter, spec, **options) -> OpenAvsPipeline:
    tree = default_av_tree()
    return OpenAvsPipeline(
        tagger=KnownTagger(spec),
        translator=TreeTranslator(tree),
        concepts=SpySegmenter(segmenter),
        tree=tree,
        options=OpenAvsOptions(**options),
    )


@pytest.mark.parametrize("seed", [5, 11])
def test_sam3_masks_appear_exactly_on_the_frames_whose_windows_carry_the_source_s_sound(sam3, seed):
    spec, clip = ms3(seed)
    openavs = pipeline(sam3, spec)
    proposal = openavs.propose(clip)

    nouns = proposal.meta["translation"]["nouns"]
    assert set(nouns) == set().union(*(sounding(spec, k) for k in range(clip.num_frames)))
    silent = [k for k in range(clip.num_frames) if not spec.audible(k)]
    assert silent, "the clip should have a silent window"
    for frame in proposal.frames:
        k = frame.frame_index
        assert {i.label for i in frame.instances} == sounding(spec, k), k  # nothing on a silent window
        assert frame.provenance["silent"] is (k in silent)
        assert all(i.mask.any() and i.mask.shape == clip.size for i in frame.instances)
        for instance in frame.instances:
            assert [t["label"] for t in instance.provenance["audio_tags"]] == [SOUND[instance.label]]
    # SAM 3 was asked, on each frame, for the nouns that frame's sources support (none on silent windows) ...
    assert openavs.concepts.asked == [sorted(sounding(spec, k), key=nouns.index) for k in range(clip.num_frames)]
    # ... within one session per clip, prompted with the clip's nouns (named once), closed at the end
    assert openavs.concepts.clips == [nouns] and openavs.concepts.closed == 1


def test_sam3_provenance_names_the_concept_the_score_and_the_model(sam3):
    spec, clip = ms3(5)
    openavs = pipeline(sam3, spec)
    proposal = openavs.propose(clip)
    mode = sam3.mode
    expected_models = {
        "audio_tagging": "known-tags",
        "llm": None,
        "segmenter": "sam3" if mode == "frame" else "sam3:video",
    }
    assert proposal.meta["models"] == {**expected_models, "clip": None}
    assert "grounding" not in proposal.meta["timings"] and proposal.meta["timings"]["segmenter"] >= 0
    assert proposal.features.visual_kind == VISUAL_KIND
    assert all(f.embedding.shape == (128,) for f in proposal.frames)  # every frame, silent ones too
    instances = [i for f in proposal.frames for i in f.instances]
    assert instances
    for instance in instances:
        provenance = instance.provenance
        assert provenance["concept"] == provenance["noun"] == instance.label
        assert provenance["segmenter"] == {
            "kind": "sam3",
            "model": "sam3",
            "mode": mode,
            "score_threshold": 0.0,
            "mask_threshold": 0.0,
        }
        assert provenance["models"]["segmenter"] == expected_models["segmenter"]
        boxes = provenance["boxes"]
        assert boxes and instance.score == pytest.approx(boxes[0]["score"], abs=1e-6)
        assert boxes[0]["score"] == max(b["score"] for b in boxes)
        for box in boxes:
            assert 0 < box["score"] <= 1 and len(box["xyxy"]) == 4
            if mode == "video":
                assert isinstance(box["object_id"], int) and "tracker_score" in box
            else:
                assert "object_id" not in box
        assert provenance["merge"] == "union"
    encoded = frame_to_dict(next(f for f in proposal.frames if f.instances), timestamp=0.0)
    assert encoded["instances"][0]["provenance"]["segmenter"]["model"] == "sam3"  # the JSON the server stores


def test_video_mode_objects_keep_their_ids_across_the_frames_where_they_sound(tiny_sam3_config, load_context):
    from ml_backend.foundation.registry import model_registry

    settings = dataclasses.replace(tiny_sam3_config.models.segmenter, mode="video")
    spec, clip = ms3(5)  # dog sounds in windows 2-4
    proposal = pipeline(model_registry["segmenter"](settings, load_context), spec).propose(clip)
    dog = [
        {b["object_id"] for b in i.provenance["boxes"]}
        for f in proposal.frames
        for i in f.instances
        if i.label == "dog"
    ]
    assert len(dog) == 3 and dog[0] & dog[1] & dog[2]  # an object found on the first frame is the same on the next


def test_best_keeps_sam3_s_best_mask(tiny_sam3_config, load_context):
    from ml_backend.foundation.registry import model_registry

    segmenter = model_registry["segmenter"](tiny_sam3_config.models.segmenter, load_context)
    spec, clip = ms3(5)
    union = pipeline(segmenter, spec).propose(clip)
    best = pipeline(segmenter, spec, merge="best").propose(clip)
    for u, b in zip(union.frames, best.frames, strict=True):
        assert [i.label for i in u.instances] == [i.label for i in b.instances]
        for iu, ib in zip(u.instances, b.instances, strict=True):
            assert len(ib.provenance["boxes"]) == 1 and ib.score == pytest.approx(iu.score)
            assert not (ib.mask & ~iu.mask).any()  # the union contains the best mask
            assert np.all(ib.probability <= iu.probability + 1e-6)


def test_the_configuration_builds_the_sam3_pipeline_without_grounding(tiny_sam3_config, load_context):
    from ml_backend.foundation.registry import ModelCache

    cache = ModelCache()
    openavs = build_openavs_pipeline(tiny_sam3_config, cache=cache)
    assert openavs.concepts is not None and openavs.detector is None and openavs.segmenter is None
    assert set(cache.load_counts) == {"clap", "segmenter", "llm"}  # neither Grounding DINO nor SAM is loaded
    assert openavs.models == openavs_models(tiny_sam3_config)  # what the server is told before loading anything


def test_the_pipeline_takes_one_text_to_masks_stage(tiny):
    tree = default_av_tree()
    with pytest.raises(ValueError, match="or a concept segmenter"):
        OpenAvsPipeline(tagger=None, translator=TreeTranslator(tree), detector=tiny("grounding"), tree=tree)
    with pytest.raises(ValueError, match="replaces the detector and SAM"):
        OpenAvsPipeline(
            tagger=None,
            translator=TreeTranslator(tree),
            detector=tiny("grounding"),
            segmenter=tiny("sam"),
            concepts=object(),
            tree=tree,
        )
