"""Prompt translation: a clip's audio tags -> nouns of visible sounding objects.

Two translators with one interface, `translate(tags, labels=...) -> PromptTranslation`:
- `LlmTranslator`: a chat LLM, called ONCE per clip, answers strict JSON `{"objects": ["dog", ...]}`; the answer
  is validated and the call retried once; when both answers are junk the `AvTree` translates instead and the
  result says why (`translator="av_tree"`, `fallback_reason`).
- `TreeTranslator`: the deterministic audio-visual tree (BAVS-style, `ml_backend/data/av_tree.json`): each
  AudioSet sound class maps to object categories; a class not in the tree takes its nearest listed ancestors'
  objects in the AudioSet hierarchy.

Tags are pooled over the clip: a label's clip score is its best probability over the frames' top-k tags.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

import torch

from ml_backend.foundation.config import LlmSettings
from ml_backend.foundation.loading import (
    FollowsModel,
    LoadContext,
    ModelLoadError,
    Placement,
    load_pretrained,
    model_name,
)
from ml_backend.types import AudioTags, PromptTranslation

SETTING = "models.llm.path"


def normalize_noun(text: str) -> str:
    """Canonical form for comparing object names: lower case, single spaces, hyphens and underscores as spaces."""
    return " ".join(re.sub(r"[-_]+", " ", text).lower().split())


# --- the audio-visual tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OntologyClass:
    id: str
    name: str
    child_ids: tuple[str, ...]
    restrictions: tuple[str, ...] = ()


class AvTree:
    """Sound classes (AudioSet names) -> visual object categories, with inheritance along the ontology.

    `objects_for(label)`: the explicit entry when the tree lists `label`, else the union over its parents of
    their objects (recursively); `[]` for a label the ontology does not know.
    """

    def __init__(self, sound_to_objects: Mapping[str, Sequence[str]], ontology: Sequence[OntologyClass]) -> None:
        self.sound_to_objects = {name: tuple(objects) for name, objects in sound_to_objects.items()}
        self.ontology = tuple(ontology)
        by_id = {c.id: c for c in ontology}
        self._parents: dict[str, list[str]] = {c.name: [] for c in ontology}
        for parent in ontology:
            for child_id in parent.child_ids:
                self._parents[by_id[child_id].name].append(parent.name)
        unknown = sorted(set(self.sound_to_objects) - set(self._parents))
        if unknown:
            raise ValueError(f"the audio-visual tree names sound classes the ontology lacks: {unknown[:5]}")

    @functools.cache  # noqa: B019 - trees are few and live for the process
    def objects_for(self, label: str) -> tuple[str, ...]:
        if label in self.sound_to_objects:
            return self.sound_to_objects[label]
        found: dict[str, None] = {}
        for parent in self._parents.get(label, ()):
            found.update(dict.fromkeys(self.objects_for(parent)))
        return tuple(found)

    def vocabulary(self) -> list[str]:
        """Sound class names usable as an open audio vocabulary: neither `abstract` nor `blacklist`."""
        return [c.name for c in self.ontology if not {"abstract", "blacklist"} & set(c.restrictions)]

    def object_categories(self) -> list[str]:
        """Every object category the tree can produce, sorted."""
        return sorted({o for objects in self.sound_to_objects.values() for o in objects})

    def allows(self, label: str, tag_labels: Iterable[str]) -> bool:
        """BAVS check: does the object `label` meet one of the audio tags in the tree (or equal a tag)?"""
        wanted = normalize_noun(label)
        for tag in tag_labels:
            if normalize_noun(tag) == wanted or wanted in {normalize_noun(o) for o in self.objects_for(tag)}:
                return True
        return False


@functools.cache
def default_av_tree() -> AvTree:
    """The tree shipped in `ml_backend/data/` (read once per process)."""
    data = resources.files("ml_backend.data")
    ontology = json.loads(data.joinpath("audioset_ontology.json").read_text(encoding="utf-8"))
    tree = json.loads(data.joinpath("av_tree.json").read_text(encoding="utf-8"))
    classes = [
        OntologyClass(c["id"], c["name"], tuple(c["child_ids"]), tuple(c.get("restrictions", ()))) for c in ontology
    ]
    return AvTree(tree["sound_to_objects"], classes)


def audioset_vocabulary() -> list[str]:
    """The default CLAP vocabulary: AudioSet class names that are neither abstract nor blacklisted (543)."""
    return default_av_tree().vocabulary()


def pool_tags(tags: Sequence[AudioTags]) -> list[tuple[str, float]]:
    """Clip-level tags: each label's best probability over the frames' top-k, best first."""
    best: dict[str, float] = {}
    for frame in tags:
        for tag in frame.tags:
            best[tag.label] = max(best.get(tag.label, 0.0), tag.score)
    return sorted(best.items(), key=lambda item: -item[1])


class PromptTranslator(Protocol):
    name: str

    def translate(self, tags: Sequence[AudioTags], *, labels: Sequence[str] = ()) -> PromptTranslation: ...


class TreeTranslator:
    """Deterministic translation through the audio-visual tree.

    A tag that equals a project label (project labels join the sound vocabulary) is its own noun. Nouns are
    ranked by the summed clip scores of the tags that lead to them; at most `max_nouns`.
    """

    name = "av_tree"

    def __init__(self, tree: AvTree, *, max_nouns: int = 5) -> None:
        self.tree = tree
        self.max_nouns = max_nouns

    def translate(self, tags: Sequence[AudioTags], *, labels: Sequence[str] = ()) -> PromptTranslation:
        by_label = {normalize_noun(label): label for label in labels}
        weight: dict[str, float] = {}
        sources: dict[str, list[str]] = {}
        for tag, score in pool_tags(tags):
            own = by_label.get(normalize_noun(tag))
            for noun in (own,) if own is not None else self.tree.objects_for(tag):
                weight[noun] = weight.get(noun, 0.0) + score
                sources.setdefault(noun, []).append(tag)
        nouns = sorted(weight, key=lambda noun: -weight[noun])[: self.max_nouns]
        return PromptTranslation(nouns=nouns, translator=self.name, sources={n: sources[n] for n in nouns})


# --- the LLM ---------------------------------------------------------------------------------------------


class ChatLlm(FollowsModel):
    """A causal LM with a chat template: `complete(messages) -> str`, greedy decoding.

    model: a transformers causal LM (eval); tokenizer: its tokenizer with a `chat_template`. Inputs go to
    `placement`, by default where the model is.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        placement: Placement | None = None,
        name: str = "llm",
        max_new_tokens: int = 64,
    ) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the LLM's tokenizer has no chat template")
        self.model = model
        self.tokenizer = tokenizer
        self.placement = placement  # None: follow the model
        self.name = name
        self.max_new_tokens = max_new_tokens

    @torch.inference_mode()
    def complete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The assistant's answer to `messages` (`[{"role": "system"|"user"|"assistant", "content": str}]`)."""
        try:
            encoded = self.tokenizer.apply_chat_template(
                list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        except Exception:  # some templates (e.g. Gemma's) refuse a system turn: fold it into the first user turn
            if not messages or messages[0]["role"] != "system":
                raise
            system, first, *rest = messages
            merged = [{"role": "user", "content": f"{system['content']}\n\n{first['content']}"}, *rest]
            encoded = self.tokenizer.apply_chat_template(
                merged, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        input_ids = encoded["input_ids"].to(self.placement.device)
        attention_mask = encoded["attention_mask"].to(self.placement.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        output = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=pad,
        )
        return self.tokenizer.decode(output[0, input_ids.shape[1] :], skip_special_tokens=True).strip()


SYSTEM_PROMPT = (
    "You turn the sound tags of a video clip into the names of the visible objects that make those sounds. "
    'Answer with JSON only, exactly of the form {"objects": ["noun", ...]}: at most {max_nouns} short lower-case '
    "nouns of people, animals, instruments, vehicles or other things a camera can see; no sounds, no adjectives, "
    "no explanations. Use an empty list when nothing visible makes the sounds."
)
RETRY_PROMPT = 'That was not valid. Answer again with JSON only, exactly of the form {"objects": ["noun", ...]}.'
_NOUN = re.compile(r"^[a-z][a-z' -]{0,39}$")
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_objects_json(answer: str, *, max_nouns: int) -> list[str] | None:
    """The nouns of a strict `{"objects": [...]}` answer (a ```json fence is tolerated), or None when invalid.

    Each noun must be 1-4 lower-case words of letters (hyphens and apostrophes allowed); duplicates are
    dropped; more than `max_nouns` nouns are cut.
    """
    text = answer.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or set(data) != {"objects"} or not isinstance(data["objects"], list):
        return None
    nouns: list[str] = []
    for item in data["objects"]:
        if not isinstance(item, str):
            return None
        noun = " ".join(item.strip().lower().split())
        if not _NOUN.match(noun) or len(noun.split()) > 4:
            return None
        if noun not in nouns:
            nouns.append(noun)
    return nouns[:max_nouns]


class LlmTranslator:
    """LLM prompt translation, once per clip, with one retry and the tree as fallback."""

    name = "llm"

    def __init__(self, llm: ChatLlm, *, fallback: TreeTranslator, max_nouns: int = 5, max_tags: int = 10) -> None:
        self.llm = llm
        self.fallback = fallback
        self.max_nouns = max_nouns
        self.max_tags = max_tags

    def messages(self, tags: Sequence[AudioTags], labels: Sequence[str]) -> list[dict[str, str]]:
        pooled = pool_tags(tags)[: self.max_tags]
        lines = [
            f"Sound tags (probability): {', '.join(f'{label} ({score:.2f})' for label, score in pooled) or 'none'}."
        ]
        if labels:
            lines.append(f"Prefer these object names when they fit: {', '.join(labels)}.")
        system = SYSTEM_PROMPT.replace("{max_nouns}", str(self.max_nouns))
        return [{"role": "system", "content": system}, {"role": "user", "content": " ".join(lines)}]

    def translate(self, tags: Sequence[AudioTags], *, labels: Sequence[str] = ()) -> PromptTranslation:
        messages = self.messages(tags, labels)
        answers: list[str] = []
        for _attempt in range(2):
            answer = self.llm.complete(messages)
            answers.append(answer)
            nouns = parse_objects_json(answer, max_nouns=self.max_nouns)
            if nouns is not None:
                return PromptTranslation(
                    nouns=nouns, translator=self.name, sources=self._sources(nouns, tags), raw=answer
                )
            messages = [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": RETRY_PROMPT}]
        result = self.fallback.translate(tags, labels=labels)
        result.raw = answers[-1]
        result.fallback_reason = (
            f"the LLM ({self.llm.name}) answered {len(answers)} times without valid JSON "
            f'{{"objects": [...]}}; the audio-visual tree translated instead'
        )
        return result

    def _sources(self, nouns: Sequence[str], tags: Sequence[AudioTags]) -> dict[str, list[str]]:
        """For each noun, the pooled tags the tree links to it; all tags shown to the LLM when none is."""
        pooled = [label for label, _ in pool_tags(tags)[: self.max_tags]]
        tree = self.fallback.tree
        sources = {}
        for noun in nouns:
            linked = [tag for tag in pooled if tree.allows(noun, [tag])]
            sources[noun] = linked or pooled
        return sources


def build_chat_llm(settings: LlmSettings, context: LoadContext) -> ChatLlm:
    """Load a causal LM (`AutoModelForCausalLM` + `AutoTokenizer`) from `settings.path`; raises `ModelLoadError`."""
    model, tokenizer = load_pretrained(
        settings.path,
        setting=SETTING,
        context=context,
        model_class="AutoModelForCausalLM",
        processor_class="AutoTokenizer",
        vocab_size=lambda config: config.vocab_size,
    )
    if not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(SETTING, settings.path, "its tokenizer has no chat template: use an instruct/chat model")
    return ChatLlm(
        model,
        tokenizer,
        placement=context.placement,
        name=model_name(settings.path),
        max_new_tokens=settings.max_new_tokens,
    )
