"""OpenAVS: training-free, open-vocabulary audio-visual segmentation through language (REFERENCES.md §1).

Stages, one foundation module each:
1. audio -> text (`foundation.audio_tagging`): CLAP tags each frame's audio window against an open sound
   vocabulary (default: the AudioSet class names; plus the project's labels) in ONE audio pass per clip;
2. prompt translation (`foundation.prompt_translation`): ONE LLM call per clip (plus one retry on junk) turns
   the clip's tags into nouns of visible sounding objects, so a source keeps its name across frames; without an
   LLM, or when it answers junk, the audio-visual tree does;
3. text -> boxes (`foundation.grounding`): per frame, Grounding DINO (or OWLv2) boxes for the nouns that
   frame's sounding sources support (below);
4. boxes -> masks (`foundation.sam`): per frame, ONE SAM image embedding and ONE decoder call for all boxes.
Or, with a concept segmenter (`models.segmenter`: SAM 3, `foundation.concepts`), stages 3-4 are one: the nouns a
frame's sources support prompt SAM 3 directly, which masks every instance of each (mode "frame": each frame alone,
ONE vision-encoder forward and ONE batched call for the frame's nouns; mode "video": SAM 3 video streamed over the
clip, an object keeping its identity from frame to frame, every frame through the model with all the clip's nouns
and each frame reporting only the objects of the nouns its sources support). The per-frame gates below apply
unchanged.

Per-frame sounding sources (BAVS-style; only what sounds in a frame's window is a sounding object there):
- a frame whose window is *silent* (RMS below `min_window_rms`, about -45 dBFS) gets no masks;
- an audible window keeps its top-k tags scoring at least `min_tag_score`; the translator sees only these
  (silent windows contribute none);
- a clip noun is searched for on a frame only when one of the frame's kept tags supports it: a tag the translator
  names as the noun's source (`PromptTranslation.sources`; the LLM's sources are the tags the tree links to the
  noun, else all tags it was shown), or a tag the audio-visual tree links to it (or equal to it).
Each frame's `FrameInstances.provenance` says what was decided: `{"rms", "silent", "audio_tags" (kept),
"nouns" (searched for)}`, plus `"reason"` when nothing was searched for (a silent window, no kept tag, no supported
noun). The translator's tag -> noun mapping is made once per clip; per frame only the support check runs.

Bounded memory (`propose_source`): the clip is read through a `ClipSource`: audio windows are tagged in CLAP's
fixed batches straight from the track (each window's RMS is taken on the way, one float per frame), frames are read
`chunk_frames` at a time and each frame's instances are handed to `emit` as soon as they are ready, so peak memory
does not grow with the clip (the tags, T × top_k, and what `emit` keeps aside). The results do not depend on
`chunk_frames`.

Instances are merged per noun on each frame: `merge="union"` (default) makes one instance whose mask is the
union of the noun's masks (probability: the per-pixel maximum; score: the best member's), `merge="best"` keeps
only the best-scoring mask. A mask's score is box score × SAM's predicted IoU (clipped to [0, 1]); with SAM 3, SAM
3's own score (instance × presence probability; mode "video": the object's detection score).

Options: `clip_labels` relabels each instance with CLIP on its masked crop against the object vocabulary
(OV-AVSS style; project labels, else the tree's object categories); `bavs_filter` drops instances whose label
meets none of the frame's audio tags in the audio-visual tree (BAVS stage 2), rejecting off-screen sounds.

Provenance of each instance: the frame's kept audio tags supporting it -> noun (translator) -> boxes -> model names.
With SAM 3: `"concept"` (the noun it was prompted with), `"segmenter": {"kind", "model", "mode", "score_threshold",
"mask_threshold"}` and `"boxes"`, one per merged SAM 3 mask: `{"xyxy", "score"}` (mode "video": plus `"object_id"`
and `"tracker_score"`).

What is computed on the way and kept for reuse (`ClipProposal.features`, `FrameInstances.embedding`): each
window's tags and its CLAP audio embedding (T×D, unit rows), and each frame's SAM image embedding averaged over the
grid cells covering the frame (C = 256). SAM embeds every frame for it, also frames where nothing was boxed. With SAM
3: its stride-1 FPN features averaged over the grid (`concepts.VISUAL_KIND`, C = 256), every frame too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ml_backend.foundation.audio_tagging import ClapTagger
from ml_backend.foundation.clip_labels import ClipLabeller
from ml_backend.foundation.concepts import ConceptMask, ConceptSegmenter, ConceptSession
from ml_backend.foundation.config import BackendConfig, PipelineSettings
from ml_backend.foundation.grounding import Detector
from ml_backend.foundation.policy import ModelPolicy
from ml_backend.foundation.prompt_translation import (
    AvTree,
    LlmTranslator,
    PromptTranslator,
    TreeTranslator,
    audioset_vocabulary,
    default_av_tree,
)
from ml_backend.foundation.registry import ModelCache, load_context, process_cache
from ml_backend.foundation.sam import SamSegmenter
from ml_backend.media.clip import SILENCE_RMS, WINDOW_SILENCE_RMS, require_audible, window_rms
from ml_backend.media.source import ClipSource, chunks
from ml_backend.pipelines.names import MODEL, openavs_name, segmenter_name
from ml_backend.types import (
    AudioTag,
    AudioTags,
    Box,
    ClipFeatures,
    ClipMedia,
    ClipProposal,
    FrameInstances,
    Instance,
    PromptTranslation,
)

DEFAULT_CHUNK_FRAMES = 16  # frames read at once by `propose_source`
AUDIO_KIND = "clap"  # `ClipFeatures.audio_embedding`: CLAP's unit audio embedding of each window (T×D)
VISUAL_KIND = "sam-mean"  # `FrameInstances.embedding`: SAM's image embedding averaged over the frame's cells (C,)


@dataclass
class OpenAvsOptions:
    top_k: int = 5  # audio tags kept per frame
    merge: str = "union"  # "union" | "best": masks of one noun on one frame
    bavs_filter: bool = False  # drop instances whose label meets none of the frame's tags in the tree
    clip_labels: bool = False  # relabel instances with CLIP (needs a labeller)
    min_rms: float = SILENCE_RMS  # refuse clips whose audio RMS is below this (silent)
    min_tag_score: float = 0.05  # a window keeps its top-k tags scoring at least this (0: all of them)
    min_window_rms: float = WINDOW_SILENCE_RMS  # a frame whose window's RMS is below this is silent: no masks

    @classmethod
    def from_settings(cls, settings: PipelineSettings) -> OpenAvsOptions:
        return cls(
            top_k=settings.top_k,
            merge=settings.merge,
            bavs_filter=settings.bavs_filter,
            clip_labels=settings.clip_labels,
            min_rms=settings.min_rms,
            min_tag_score=settings.min_tag_score,
            min_window_rms=settings.min_window_rms,
        )


class OpenAvsPipeline:
    """The training-free proposer. `propose(clip, labels=...) -> ClipProposal` (model "openavs").

    Components are passed in loaded (see `build_openavs_pipeline`): a `detector` and a SAM `segmenter`, or a
    `concepts` segmenter (SAM 3) in their place; `vocabulary` is the CLAP sound vocabulary (None: the AudioSet class
    names). `timer` is injectable (seconds, monotonic).
    """

    def __init__(
        self,
        *,
        tagger: ClapTagger,
        translator: PromptTranslator,
        detector: Detector | None = None,
        segmenter: SamSegmenter | None = None,
        concepts: ConceptSegmenter | None = None,
        tree: AvTree,
        labeller: ClipLabeller | None = None,
        options: OpenAvsOptions | None = None,
        vocabulary: Sequence[str] | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.tagger = tagger
        self.translator = translator
        self.detector = detector
        self.segmenter = segmenter
        self.concepts = concepts
        self.tree = tree
        self.labeller = labeller
        self.options = options or OpenAvsOptions()
        self.vocabulary = list(vocabulary) if vocabulary is not None else audioset_vocabulary()
        self.timer = timer
        if self.options.clip_labels and labeller is None:
            raise ValueError("clip_labels needs a CLIP labeller")
        if self.options.merge not in ("union", "best"):
            raise ValueError(f"merge must be 'union' or 'best', got {self.options.merge!r}")
        if concepts is None and (detector is None or segmenter is None):
            raise ValueError("give a detector and a SAM segmenter, or a concept segmenter (SAM 3) in their place")
        if concepts is not None and (detector is not None or segmenter is not None):
            raise ValueError("a concept segmenter (SAM 3) replaces the detector and SAM: give one or the other")

    @property
    def models(self) -> dict[str, str | None]:
        """Stage -> model name (the same as `ml_backend.serving.info.openavs_models` of the configuration)."""
        llm = getattr(self.translator, "llm", None)
        names: dict[str, str | None] = {"audio_tagging": self.tagger.name, "llm": llm.name if llm is not None else None}
        if self.concepts is not None:
            names["segmenter"] = segmenter_name(self.concepts.name, self.concepts.mode)
        else:
            assert self.detector is not None and self.segmenter is not None
            names.update(grounding=self.detector.name, sam=self.segmenter.name)
        names["clip"] = self.labeller.name if self.labeller is not None and self.options.clip_labels else None
        return names

    @property
    def name(self) -> str:
        return openavs_name(self.models)

    def sound_vocabulary(self, labels: Sequence[str]) -> list[str]:
        """The CLAP vocabulary for a clip: the open vocabulary plus project labels not already in it."""
        return sound_vocabulary(self.vocabulary, labels)

    def object_vocabulary(self, labels: Sequence[str]) -> list[str]:
        """CLIP's vocabulary: the project labels, else every object category of the tree."""
        return list(dict.fromkeys(labels)) or self.tree.object_categories()

    def propose(self, clip: ClipMedia, *, labels: Sequence[str] = ()) -> ClipProposal:
        """Instances per frame of a decoded clip. Raises `ClipInputError` for a clip without audio or with silent
        audio."""
        return self.propose_source(ClipSource.from_media(clip), labels=labels, chunk_frames=max(1, clip.num_frames))

    def propose_source(
        self,
        source: ClipSource,
        *,
        labels: Sequence[str] = (),
        emit: Callable[[FrameInstances], None] | None = None,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    ) -> ClipProposal:
        """Instances per frame, reading `source` `chunk_frames` frames at a time. With `emit`, each frame's
        `FrameInstances` goes to it in frame order and the returned proposal's `frames` is empty; without, they are
        returned. Raises `ClipInputError` for a clip without audio or with silent audio."""
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
        require_audible(source, min_rms=self.options.min_rms)
        timings: dict[str, float] = {}
        indexes = source.frames.indexes

        start = self.timer()
        levels: list[float] = []  # each window's RMS, taken as the tagger reads it (one window at a time)

        def windows() -> Iterator[np.ndarray]:
            for k in range(source.num_frames):
                window = source.audio_window(k)
                levels.append(window_rms(window))
                yield window

        heard, audio_embedding = self.tagger.tag_and_embed(
            windows(),
            sample_rate=source.sample_rate,
            vocabulary=self.sound_vocabulary(labels),
            top_k=self.options.top_k,
        )
        assert len(heard) == len(levels) == source.num_frames
        tags = [AudioTags(frame_index=int(indexes[k]), tags=t.tags) for k, t in enumerate(heard)]
        kept = [self.sounding_tags(t, rms) for t, rms in zip(tags, levels, strict=True)]
        timings["audio_tagging"] = self.timer() - start

        start = self.timer()
        translation = self.translator.translate(kept, labels=labels)  # once per clip: one name per source
        timings["prompt_translation"] = self.timer() - start

        if self.concepts is not None:
            start = self.timer()
            session: ConceptSession | None = self.concepts.start_clip(translation.nouns)  # the nouns' text, once
            timings.update(segmenter=self.timer() - start, clip_labels=0.0)
        else:
            timings.update(grounding=0.0, sam=0.0, clip_labels=0.0)
            session = None
        collected: list[FrameInstances] = []
        out = emit or collected.append
        try:
            for chunk in chunks(source.num_frames, chunk_frames):
                images = [source.frames.read(k) for k in chunk]
                for k, image in zip(chunk, images, strict=True):
                    out(self._frame(image, int(indexes[k]), kept[k], levels[k], translation, labels, timings, session))
                del images, image  # nothing of this chunk is held while the next one is read
        finally:
            if session is not None:
                session.close()

        meta = {
            "models": self.models,
            "audio_tags": [
                {"frame_index": t.frame_index, "tags": [{"label": a.label, "score": round(a.score, 6)} for a in t.tags]}
                for t in tags
            ],
            "translation": {
                "nouns": translation.nouns,
                "translator": translation.translator,
                "sources": translation.sources,
                "raw": translation.raw,
                "fallback_reason": translation.fallback_reason,
            },
            "options": asdict(self.options),
            "timings": {stage: round(seconds, 6) for stage, seconds in timings.items()},
        }
        features = ClipFeatures(
            audio_tags=tags,
            audio_embedding=audio_embedding,
            audio_kind=AUDIO_KIND,
            visual_kind=self.concepts.visual_kind if self.concepts is not None else VISUAL_KIND,
        )
        return ClipProposal(frames=collected, model=MODEL, meta=meta, features=features)

    def sounding_tags(self, tags: AudioTags, rms: float) -> AudioTags:
        """The tags of a window that count as sounding sources (`sounding_tags`, with this pipeline's options)."""
        return sounding_tags(
            tags, rms, min_window_rms=self.options.min_window_rms, min_tag_score=self.options.min_tag_score
        )

    def supports(self, noun: str, tags: Sequence[AudioTag], translation: PromptTranslation) -> list[AudioTag]:
        """Those of a frame's kept `tags` that support searching for `noun` there (`supporting_tags`, with the
        translator's sources of the noun)."""
        return supporting_tags(noun, tags, self.tree, sources=translation.sources.get(noun, ()))

    def _frame(
        self,
        image: np.ndarray,
        k: int,
        tags: AudioTags,
        rms: float,
        translation: PromptTranslation,
        labels: Sequence[str],
        timings: dict[str, float],
        session: ConceptSession | None = None,
    ) -> FrameInstances:
        """One frame: `tags` are its window's kept tags (`sounding_tags`), `rms` its window's RMS; `session`: the
        clip's SAM 3 session (None: Grounding DINO + SAM)."""
        silent = rms < self.options.min_window_rms
        nouns = [noun for noun in translation.nouns if self.supports(noun, tags.tags, translation)]
        provenance: dict[str, Any] = {
            "rms": round(rms, 6),
            "silent": silent,
            "audio_tags": [{"label": t.label, "score": round(t.score, 6)} for t in tags.tags],
            "nouns": nouns,
        }
        reason = silence_reason(
            rms, tags, min_window_rms=self.options.min_window_rms, min_tag_score=self.options.min_tag_score
        )
        if reason is not None:
            provenance["reason"] = reason
        elif not nouns:
            provenance["reason"] = "none of the clip's nouns is supported by this window's audio tags"

        if session is not None:  # SAM 3: every frame goes through it (its pooled embedding; mode video: tracking)
            start = self.timer()
            found = session.segment(image, nouns)
            timings["segmenter"] += self.timer() - start
            pooled = found.pooled
            if not found.masks:
                return FrameInstances(frame_index=k, instances=[], embedding=pooled, provenance=provenance)
            instances = self._merge_concepts(found.masks, tags, translation)
        else:
            assert self.detector is not None and self.segmenter is not None
            start = self.timer()
            boxes = self.detector.detect(image, nouns) if nouns else []
            timings["grounding"] += self.timer() - start

            start = self.timer()
            embedding = self.segmenter.embed(image)  # every frame: its pooled embedding is kept (`ClipFeatures`)
            pooled = self.segmenter.pooled(embedding)
            if not boxes:
                timings["sam"] += self.timer() - start
                return FrameInstances(frame_index=k, instances=[], embedding=pooled, provenance=provenance)
            predicted = self.segmenter.predict_boxes(embedding, np.array([b.xyxy for b in boxes], dtype=np.float32))
            del embedding
            timings["sam"] += self.timer() - start

            instances = self._merge(boxes, predicted.masks, predicted.probabilities, predicted.iou, tags, translation)
        if self.options.clip_labels:
            assert self.labeller is not None
            start = self.timer()
            named = self.labeller.label(image, [i.mask for i in instances], self.object_vocabulary(labels))
            for instance, choice in zip(instances, named, strict=True):
                instance.label = choice.label
                instance.provenance["clip_label"] = {"label": choice.label, "score": round(choice.score, 6)}
            timings["clip_labels"] += self.timer() - start
        if self.options.bavs_filter:
            frame_tags = [t.label for t in tags.tags]
            instances = [i for i in instances if self.tree.allows(i.label, frame_tags)]
        return FrameInstances(
            frame_index=k, instances=sorted(instances, key=lambda i: -i.score), embedding=pooled, provenance=provenance
        )

    def _merge_concepts(
        self, found: list[ConceptMask], tags: AudioTags, translation: PromptTranslation
    ) -> list[Instance]:
        """One instance per noun from SAM 3's masks: union of its masks (or its best mask), as `_merge`."""
        assert self.concepts is not None
        segmenter = {
            "kind": self.concepts.kind,
            "model": self.concepts.name,
            "mode": self.concepts.mode,
            "score_threshold": getattr(self.concepts, "score_threshold", None),
            "mask_threshold": getattr(self.concepts, "mask_threshold", None),
        }
        instances = []
        for noun in dict.fromkeys(m.noun for m in found):
            members = sorted((m for m in found if m.noun == noun), key=lambda m: -m.score)
            if self.options.merge == "best":
                members = members[:1]
            instances.append(
                Instance(
                    mask=np.any([m.mask for m in members], axis=0),
                    label=noun,
                    score=float(members[0].score),
                    probability=np.max([m.probability for m in members], axis=0),
                    provenance={
                        "audio_tags": [
                            {"label": t.label, "score": round(t.score, 6)}
                            for t in self.supports(noun, tags.tags, translation)
                        ],
                        "clip_audio_tags": translation.sources.get(noun, []),
                        "noun": noun,
                        "concept": noun,  # what SAM 3 was prompted with
                        "translator": translation.translator,
                        **({"translator_note": translation.fallback_reason} if translation.fallback_reason else {}),
                        "segmenter": segmenter,
                        "boxes": [_concept_box(m) for m in members],
                        "merge": self.options.merge,
                        "models": self.models,
                    },
                )
            )
        return instances

    def _merge(
        self,
        boxes: list[Box],
        masks: np.ndarray,
        probabilities: np.ndarray,
        iou: np.ndarray,
        tags: AudioTags,
        translation: PromptTranslation,
    ) -> list[Instance]:
        """One instance per noun: union of its masks (or its best mask). masks, probabilities: N×H×W."""
        scores = np.array([b.score for b in boxes]) * np.clip(iou, 0.0, 1.0)
        instances = []
        for noun in dict.fromkeys(b.noun for b in boxes):
            members = [i for i, b in enumerate(boxes) if b.noun == noun]
            members.sort(key=lambda i: -scores[i])
            if self.options.merge == "best":
                members = members[:1]
            instances.append(
                Instance(
                    mask=masks[members].any(axis=0),
                    label=noun,
                    score=float(scores[members[0]]),
                    probability=probabilities[members].max(axis=0),
                    provenance={
                        "audio_tags": [
                            {"label": t.label, "score": round(t.score, 6)}
                            for t in self.supports(noun, tags.tags, translation)
                        ],
                        "clip_audio_tags": translation.sources.get(noun, []),
                        "noun": noun,
                        "translator": translation.translator,
                        **({"translator_note": translation.fallback_reason} if translation.fallback_reason else {}),
                        "boxes": [
                            {
                                "xyxy": [round(v, 2) for v in boxes[i].xyxy],
                                "score": round(boxes[i].score, 6),
                                "mask_iou": round(float(iou[i]), 6),
                            }
                            for i in members
                        ],
                        "merge": self.options.merge,
                        "models": self.models,
                    },
                )
            )
        return instances


def _concept_box(mask: ConceptMask) -> dict[str, Any]:
    """Provenance of one SAM 3 mask: its box, its score, and in mode "video" its object's identity and the tracker's
    score that it is visible on this frame."""
    entry: dict[str, Any] = {"xyxy": [round(v, 2) for v in mask.xyxy], "score": round(mask.score, 6)}
    if mask.object_id is not None:
        entry["object_id"] = mask.object_id
        entry["tracker_score"] = round(mask.tracker_score, 6) if mask.tracker_score is not None else None
    return entry


# --- per-frame sounding sources (shared with the annotator's mask propagation, `ml_backend.serving.propagation`) ---


def sound_vocabulary(vocabulary: Sequence[str], labels: Sequence[str]) -> list[str]:
    """The CLAP vocabulary for a clip: `vocabulary` (the open sound vocabulary) plus `labels` not already in it."""
    known = {v.lower() for v in vocabulary}
    return list(vocabulary) + [label for label in dict.fromkeys(labels) if label.lower() not in known]


def sounding_tags(tags: AudioTags, rms: float, *, min_window_rms: float, min_tag_score: float) -> AudioTags:
    """The tags of a window that count as sounding sources: none when the window is silent (RMS below
    `min_window_rms`), else its top-k tags scoring at least `min_tag_score` (best first)."""
    if rms < min_window_rms:
        return AudioTags(frame_index=tags.frame_index, tags=[])
    return AudioTags(frame_index=tags.frame_index, tags=[t for t in tags.tags if t.score >= min_tag_score])


def supporting_tags(
    noun: str, tags: Sequence[AudioTag], tree: AvTree, *, sources: Iterable[str] = ()
) -> list[AudioTag]:
    """Those of a window's kept `tags` that support `noun` (an object's name) there: tags named in `sources` (the
    translator's sources of the noun), or that the audio-visual tree links to the noun (or that equal it)."""
    named = set(sources)
    return [t for t in tags if t.label in named or tree.allows(noun, [t.label])]


def silence_reason(rms: float, kept: AudioTags, *, min_window_rms: float, min_tag_score: float) -> str | None:
    """Why nothing sounds in a window whose RMS is `rms` and whose kept tags (`sounding_tags`) are `kept`: a silent
    window, or no tag above the floor; None when something may sound there."""
    if rms < min_window_rms:
        return f"silent window (RMS {rms:.2g}, below pipeline.min_window_rms {min_window_rms:.2g}): nothing sounds here"
    if not kept.tags:
        return f"no audio tag of this window scores at least pipeline.min_tag_score {min_tag_score:g}"
    return None


def build_openavs_pipeline(
    config: BackendConfig, *, cache: ModelCache | None = None, policy: ModelPolicy | None = None
) -> OpenAvsPipeline:
    """Load (through the process cache, once per process) every model `config` names and assemble the pipeline.

    `policy` (default `ModelPolicy()`) decides whether `models.sam.builder` may name code outside ml_backend and
    the cache's budget; checking the rest of `config` against it is the caller's (`load_config(policy=...)`).
    With `models.segmenter` (SAM 3), it replaces Grounding DINO + SAM: neither is loaded, even when configured.
    Raises `ModelLoadError` naming the setting and path when a model cannot be loaded.
    """
    cache = process_cache if cache is None else cache
    policy = ModelPolicy() if policy is None else policy
    cache.apply(policy)
    context = load_context(config, policy)
    models, settings = config.models, config.pipeline
    tree = default_av_tree()
    tagger = cache.get("clap", models.clap, context)
    stages: dict[str, Any]
    if models.segmenter is not None:
        stages = {"concepts": cache.get("segmenter", models.segmenter, context)}
    else:
        stages = {
            "detector": cache.get("grounding", models.grounding, context),
            "segmenter": cache.get("sam", models.sam, context),
        }
    tree_translator = TreeTranslator(tree, max_nouns=settings.max_nouns)
    translator: PromptTranslator = tree_translator
    if models.llm is not None:
        llm = cache.get("llm", models.llm, context)
        translator = LlmTranslator(llm, fallback=tree_translator, max_nouns=settings.max_nouns)
    labeller = cache.get("clip", models.clip, context) if settings.clip_labels and models.clip is not None else None
    return OpenAvsPipeline(
        tagger=tagger,
        translator=translator,
        tree=tree,
        labeller=labeller,
        options=OpenAvsOptions.from_settings(settings),
        vocabulary=settings.vocabulary,
        **stages,
    )
