"""Prompt translation: the audio-visual tree and the LLM with its fallback (ml_backend.foundation.prompt_translation)."""

from __future__ import annotations

import pytest

from ml_backend.evaluation.classes import AVSBENCH_CLASSES
from ml_backend.foundation.config import LlmSettings
from ml_backend.foundation.loading import LoadContext
from ml_backend.foundation.prompt_translation import (
    AvTree,
    LlmTranslator,
    TreeTranslator,
    build_chat_llm,
    default_av_tree,
    parse_objects_json,
)
from ml_backend.foundation.tiny import build_tiny_llm
from ml_backend.types import AudioTag, AudioTags


def frame_tags(*per_frame: list[tuple[str, float]]) -> list[AudioTags]:
    return [AudioTags(k, [AudioTag(label, score) for label, score in tags]) for k, tags in enumerate(per_frame)]


def test_the_tree_reaches_all_70_avsbench_classes():
    tree = default_av_tree()
    reachable = {o for name in tree.vocabulary() for o in tree.objects_for(name)}
    missing = [name for name, _ in AVSBENCH_CLASSES if name not in reachable]
    assert len(AVSBENCH_CLASSES) == 70 and missing == []


def test_child_sound_classes_take_their_ancestors_objects():
    tree = default_av_tree()
    assert tree.objects_for("Bark") == ("dog",)  # Bark -> Dog
    assert tree.objects_for("Electric guitar") == ("guitar",)
    assert set(tree.objects_for("Growling")) == {"dog", "cat", "lion", "tiger", "leopard", "wolf"}  # 4 parents
    assert tree.objects_for("Police car (siren)") == ("emergency-car",)
    assert tree.objects_for("Speech synthesizer") == ()  # listed as nothing visible: no inheritance
    assert tree.objects_for("Pop music") == ()  # genres name no object
    assert tree.objects_for("not a sound class") == ()


def test_a_tree_naming_unknown_sound_classes_is_refused():
    with pytest.raises(ValueError, match="sound classes the ontology lacks"):
        AvTree({"Barking loudly": ["dog"]}, default_av_tree().ontology)


def test_the_tree_translator_ranks_nouns_by_their_tags():
    tags = frame_tags([("Bark", 0.6), ("Speech", 0.3)], [("Dog", 0.5), ("Car", 0.2)])
    result = TreeTranslator(default_av_tree(), max_nouns=3).translate(tags)
    assert result.translator == "av_tree"
    assert result.nouns[0] == "dog" and len(result.nouns) == 3
    assert result.sources["dog"] == ["Bark", "Dog"]


def test_a_tag_that_is_a_project_label_is_its_own_noun():
    tags = frame_tags([("hand bell", 0.9), ("Bark", 0.1)])
    result = TreeTranslator(default_av_tree()).translate(tags, labels=["hand bell"])
    assert result.nouns == ["hand bell", "dog"]


def test_bavs_check_meets_labels_and_tags_in_the_tree():
    tree = default_av_tree()
    assert tree.allows("dog", ["Bark", "Speech"])
    assert tree.allows("emergency car", ["Ambulance (siren)"])  # hyphen or space
    assert not tree.allows("piano", ["Bark", "Speech"])


@pytest.mark.parametrize(
    ("answer", "nouns"),
    [
        ('{"objects": ["dog", "Acoustic Guitar"]}', ["dog", "acoustic guitar"]),
        ('```json\n{"objects": ["dog", "dog"]}\n```', ["dog"]),
        ('{"objects": []}', []),
        ('{"objects": ["a", "b", "c", "d", "e", "f", "g"]}', ["a", "b", "c", "d", "e"]),
        ("dog, guitar", None),
        ('Sure! {"objects": ["dog"]}', None),
        ('{"objects": "dog"}', None),
        ('{"objects": ["dog"], "why": "barking"}', None),
        ('{"objects": ["the sound of a very loud barking dog"]}', None),
        ('{"objects": [3]}', None),
    ],
)
def test_llm_answers_must_be_strict_json(answer, nouns):
    assert parse_objects_json(answer, max_nouns=5) == nouns


def test_the_llm_is_called_once_and_its_nouns_are_used(tiny):
    llm = tiny("llm")
    calls = []
    translator = LlmTranslator(llm, fallback=TreeTranslator(default_av_tree()))
    original = llm.complete
    llm.complete = lambda messages: calls.append(messages) or original(messages)
    try:
        result = translator.translate(frame_tags([("Bark", 0.7), ("Speech", 0.2)]), labels=["dog", "man"])
    finally:
        del llm.complete
    assert len(calls) == 1
    assert "Bark (0.70)" in calls[0][1]["content"] and "dog, man" in calls[0][1]["content"]
    assert result.translator == "llm" and result.nouns == ["dog"] and result.raw == '{"objects": ["dog"]}'
    assert result.sources == {"dog": ["Bark"]} and result.fallback_reason == ""


def test_an_llm_answering_junk_is_retried_once_then_the_tree_translates(tmp_path):
    model, tokenizer = build_tiny_llm(seed=1, nouns=None)  # random weights: answers are not JSON
    model.save_pretrained(tmp_path / "llm")
    tokenizer.save_pretrained(tmp_path / "llm")
    llm = build_chat_llm(LlmSettings(path=str(tmp_path / "llm"), max_new_tokens=8), LoadContext())
    calls = []
    original = llm.complete
    llm.complete = lambda messages: calls.append(messages) or original(messages)
    result = LlmTranslator(llm, fallback=TreeTranslator(default_av_tree())).translate(frame_tags([("Bark", 0.9)]))
    assert len(calls) == 2 and calls[1][-1]["content"].startswith("That was not valid.")
    assert result.translator == "av_tree" and result.nouns == ["dog"]
    assert "without valid JSON" in result.fallback_reason and result.raw


def test_a_chat_template_refusing_system_turns_gets_the_instructions_in_the_user_turn(tiny, monkeypatch):
    llm = tiny("llm")
    refusing = "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    monkeypatch.setattr(llm.tokenizer, "chat_template", refusing + llm.tokenizer.chat_template)
    answer = llm.complete([{"role": "system", "content": "Answer JSON."}, {"role": "user", "content": "Bark"}])
    assert answer == '{"objects": ["dog"]}'
