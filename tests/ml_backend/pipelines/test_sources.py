"""Per-frame sounding sources in OpenAVS (ml_backend.pipelines.openavs): on synthetic MS3 clips, whose sources switch
on and off per window, masks appear exactly on the frames whose windows carry a source's sound, silent windows get
none (their provenance says so), a noun is grounded only where the window's tags support it, and the translator is
asked once per clip.

The tagger is a fixture that returns known tags per window (a random CLAP's tags mean nothing); the detector, SAM and
LLM are the tiny random models (thresholds 0: every noun asked for on a frame yields a box there)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import pytest

from ml_backend.foundation.prompt_translation import LlmTranslator, TreeTranslator, default_av_tree
from ml_backend.media.synth import SynthClip, make_clips
from ml_backend.pipelines.openavs import OpenAvsOptions, OpenAvsPipeline
from ml_backend.serving.encoding import frame_to_dict
from ml_backend.types import AudioTag, AudioTags, Box, ClipMedia

SOUND = {"bell": "Bell", "bird": "Bird", "dog": "Bark", "car": "Car"}  # AudioSet tag of each synthetic class
HEARD, LEAK = 0.6, 0.03  # a sounding class's tag score; a silent class's leak (below the default floor 0.05)


def ms3(seed: int, frames: int = 6) -> tuple[SynthClip, ClipMedia]:
    """A synthetic MS3 clip (2-3 sources switching per window, 1 fps, 64×64) decoded in memory."""
    (spec,) = make_clips(clips=1, seed=seed, layout="ms3", frames=frames, size=64)
    clip = ClipMedia(
        frames=np.stack([spec.frame(k) for k in range(frames)]),
        timestamps=np.arange(frames) + 0.94,
        fps=1.0,
        audio=spec.audio(sample_rate=16_000),
        sample_rate=16_000,
        source=spec.vid,
    )
    return spec, clip


def sounding(spec: SynthClip, k: int) -> set[str]:
    """Classes whose sound plays in window k (visible sources and the off-screen sound)."""
    names = {o.cls.name for o in spec.sources if o.sounding[k]}
    if spec.offscreen is not None and spec.offscreen_windows[k]:
        names.add(spec.offscreen.name)
    return names


class KnownTagger:
    """Tags per window from the clip's ground truth: each sounding class's tag at `HEARD`, every other class of the
    clip leaking at `LEAK`; a silent window is still tagged "Bark" (a tagger always answers something)."""

    name = "known-tags"

    def __init__(self, spec: SynthClip) -> None:
        self.spec = spec
        self.calls = 0
        self.window_types: list[type] = []

    def tag_and_embed(
        self, windows: Iterable[np.ndarray], *, sample_rate: int, vocabulary: Sequence[str], top_k: int = 5
    ) -> tuple[list[AudioTags], np.ndarray]:
        self.calls += 1
        self.window_types.append(type(windows))
        clip_classes = {o.cls.name for o in self.spec.sources} | (
            {self.spec.offscreen.name} if self.spec.offscreen else set()
        )
        out = []
        for k, window in enumerate(windows):  # read one at a time, as CLAP's batches do
            assert window.shape == (sample_rate,)
            heard = sounding(self.spec, k)
            if heard:
                tags = [AudioTag(SOUND[c], HEARD) for c in sorted(heard)]
                tags += [AudioTag(SOUND[c], LEAK) for c in sorted(clip_classes - heard)]
            else:
                tags = [AudioTag("Bark", 0.4)]
            out.append(AudioTags(frame_index=k, tags=tags[:top_k]))
        return out, np.zeros((len(out), 8), dtype=np.float32)


class SpyDetector:
    """The tiny Grounding DINO, recording the nouns asked for on each call."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.asked: list[list[str]] = []

    def detect(self, image: np.ndarray, nouns: Sequence[str]) -> list[Box]:
        self.asked.append(list(nouns))
        return self.inner.detect(image, nouns)


class CountingLlm:
    """The tiny LLM (always answers {"objects": ["dog"]}), counting the calls."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.messages: list = []

    def complete(self, messages):
        self.messages.append(messages)
        return self.inner.complete(messages)


def pipeline(tiny, spec, *, translator=None, **options) -> OpenAvsPipeline:
    tree = default_av_tree()
    return OpenAvsPipeline(
        tagger=KnownTagger(spec),
        translator=translator or TreeTranslator(tree),
        detector=SpyDetector(tiny("grounding")),
        segmenter=tiny("sam"),
        tree=tree,
        options=OpenAvsOptions(**options),
    )


@pytest.mark.parametrize("seed", [5, 6, 11])
def test_masks_appear_exactly_on_the_frames_whose_windows_carry_the_source_s_sound(tiny, seed):
    spec, clip = ms3(seed)
    openavs = pipeline(tiny, spec)
    proposal = openavs.propose(clip)

    clip_classes = set().union(*(sounding(spec, k) for k in range(clip.num_frames)))
    assert set(proposal.meta["translation"]["nouns"]) == clip_classes  # one name per source, for the whole clip
    silent = [k for k in range(clip.num_frames) if not spec.audible(k)]
    assert silent, "the clip should have a silent window"
    for frame in proposal.frames:
        k = frame.frame_index
        labels = {i.label for i in frame.instances}
        assert labels == sounding(spec, k), k  # no leak below the floor, nothing on a silent window
        assert all(i.mask.any() for i in frame.instances)
        assert frame.provenance["silent"] is (k in silent)
        assert set(frame.provenance["nouns"]) == sounding(spec, k)
        for instance in frame.instances:  # each mask says which of the window's tags it comes from
            assert [t["label"] for t in instance.provenance["audio_tags"]] == [SOUND[instance.label]]
    # only supported nouns were searched for, and nothing at all on silent windows
    assert openavs.detector.asked == [
        sorted(sounding(spec, k), key=proposal.meta["translation"]["nouns"].index)
        for k in range(clip.num_frames)
        if k not in silent
    ]
    assert openavs.tagger.calls == 1 and not issubclass(openavs.tagger.window_types[0], list | tuple)


def test_a_silent_window_gets_no_masks_and_its_provenance_says_so(tiny):
    spec, clip = ms3(5)  # window 0 is silent (noise floor + a ramp's tail: RMS ≈ 0.004, below ≈ −45 dBFS)
    proposal = pipeline(tiny, spec).propose(clip)
    frame = proposal.frames[0]
    assert frame.instances == []
    assert frame.provenance["silent"] is True and frame.provenance["nouns"] == []
    assert 0 < frame.provenance["rms"] < 0.0056
    assert "silent window" in frame.provenance["reason"]
    encoded = frame_to_dict(frame, timestamp=0.94)  # what the proposal's JSON carries
    assert encoded["instances"] == [] and encoded["provenance"]["silent"] is True
    audible = frame_to_dict(proposal.frames[1], timestamp=1.94)["provenance"]
    assert audible["silent"] is False and audible["rms"] > 0.05 and "reason" not in audible
    assert audible["audio_tags"] == [{"label": "Bird", "score": HEARD}]  # the leaks fell below the floor


def test_without_the_gates_every_noun_is_searched_for_on_every_frame(tiny):
    """The same clip with the floor and the silence gate off: tags that merely leak, and the tag a silent window
    still gets, now lead to masks where nothing of that class sounds (what the gates prevent)."""
    spec, clip = ms3(5)
    openavs = pipeline(tiny, spec, min_tag_score=0.0, min_window_rms=0.0)
    proposal = openavs.propose(clip)
    nouns = proposal.meta["translation"]["nouns"]
    assert set(nouns) == {"bird", "dog", "bell"}
    assert openavs.detector.asked == [["dog"]] + [nouns] * 5  # "Bark" on the silent window; every leak elsewhere
    assert {i.label for i in proposal.frames[0].instances} == {"dog"}
    assert not any(frame.provenance["silent"] for frame in proposal.frames)
    assert sum(len(f.instances) for f in proposal.frames) > sum(len(sounding(spec, k)) for k in range(6))


def test_the_llm_is_asked_once_per_clip_and_its_noun_grounded_only_where_supported(tiny):
    spec, clip = ms3(5)  # bird in window 1, dog in 2-4, bell in 4-5; window 0 silent
    llm = CountingLlm(tiny("llm"))
    translator = LlmTranslator(llm, fallback=TreeTranslator(default_av_tree()))
    proposal = pipeline(tiny, spec, translator=translator).propose(clip)
    assert len(llm.messages) == 1  # one call for the six frames
    user = llm.messages[0][-1]["content"]
    assert all(tag in user for tag in ("Bird", "Bark", "Bell"))  # every window's kept tags, pooled
    assert proposal.meta["translation"]["nouns"] == ["dog"] and proposal.meta["translation"]["translator"] == "llm"
    dog = [k for k in range(clip.num_frames) if "dog" in sounding(spec, k)]
    assert dog == [2, 3, 4]
    assert [f.frame_index for f in proposal.frames if f.instances] == dog
    for frame in proposal.frames:
        if frame.frame_index not in dog and not frame.provenance["silent"]:
            assert frame.provenance["reason"] == "none of the clip's nouns is supported by this window's audio tags"


def test_a_window_whose_tags_are_all_below_the_floor_is_searched_for_nothing(tiny):
    spec, clip = ms3(5)
    proposal = pipeline(tiny, spec, min_tag_score=0.7).propose(clip)  # above every tag the fixture gives
    assert proposal.meta["translation"]["nouns"] == []
    for frame in proposal.frames[1:]:
        assert frame.instances == [] and frame.provenance["audio_tags"] == []
        assert "no audio tag of this window scores at least pipeline.min_tag_score 0.7" in frame.provenance["reason"]


def test_the_settings_reach_the_pipeline(tiny_config):
    settings = dataclasses.replace(tiny_config.pipeline, min_tag_score=0.2, min_window_rms=0.01)
    options = OpenAvsOptions.from_settings(settings)
    assert (options.min_tag_score, options.min_window_rms) == (0.2, 0.01)
    assert OpenAvsOptions().min_tag_score == 0.05 and tiny_config.pipeline.min_tag_score == 0.0
