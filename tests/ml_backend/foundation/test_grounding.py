"""Open-vocabulary boxes (ml_backend.foundation.grounding) with the tiny Grounding DINO and OWLv2."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ml_backend.foundation.grounding import GroundingDinoDetector, prompt_text
from ml_backend.foundation.registry import model_registry

IMAGE = np.random.default_rng(0).integers(0, 255, (60, 100, 3), dtype=np.uint8)  # H=60, W=100


@pytest.fixture(scope="module")
def owlv2(tiny_config, load_context):
    folder = str(Path(tiny_config.models.grounding.path).parent / "owlv2")
    settings = dataclasses.replace(tiny_config.models.grounding, kind="owlv2", path=folder, box_threshold=0.0)
    return model_registry["grounding"](settings, load_context)


def check_boxes(boxes, nouns, *, height=60, width=100):
    assert boxes, "threshold 0 keeps boxes"
    for box in boxes:
        x0, y0, x1, y1 = box.xyxy
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
        assert box.noun in nouns and 0 <= box.score <= 1
    scores = [b.score for b in boxes]
    assert scores == sorted(scores, reverse=True)


def test_grounding_dino_boxes_are_xyxy_pixels_of_the_frame_with_their_noun(tiny):
    detector = tiny("grounding")
    nouns = ["dog", "emergency-car"]
    boxes = detector.detect(IMAGE, nouns)
    check_boxes(boxes, nouns)
    assert len(boxes) <= detector.max_boxes


def test_the_prompt_keeps_each_noun_s_span():
    detector = GroundingDinoDetector(model=None, processor=None)
    text, spans = detector.prompt(["dog", "emergency-car"])
    assert text == "dog. emergency car."
    assert [text[s:e] for s, e in spans] == ["dog", "emergency car"]
    assert prompt_text("Hair_Dryer") == "hair dryer"


def test_thresholds_and_empty_prompts_give_no_boxes(tiny):
    detector = tiny("grounding")
    assert detector.detect(IMAGE, []) == []
    strict = GroundingDinoDetector(detector.model, detector.processor, box_threshold=1.01)
    assert strict.detect(IMAGE, ["dog"]) == []


def test_owlv2_boxes_are_xyxy_pixels_of_the_frame_with_their_noun(owlv2):
    nouns = ["dog", "car"]
    check_boxes(owlv2.detect(IMAGE, nouns), nouns)
