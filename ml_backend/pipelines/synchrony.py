"""A weight-free **baseline** proposer: image regions whose change over time follows the audio's energy.

This is not a sounding-object segmenter in the sense of OpenAVS or a trained model: it knows no classes
and no appearance. It exists so that the platform's loop (propose → review → evaluate) runs on a fresh
machine with no model weights, and as the floor that real proposers must beat. Method (audio-visual
synchrony, in the spirit of Hershey & Movellan, "Audio Vision", NIPS 1999, and Kidron et al., "Pixels
that Sound", CVPR 2005, reduced to what 1 fps frames allow):

1. **Audio energy per window**: RMS (dBFS) of frame k's window [k/fps, (k+1)/fps). A window is *silent*
   at or below `silence_db`, or quieter than the clip's loudest window by more than `dynamic_range_db`;
   silent windows get an empty mask. Activity a_k ∈ [0, 1] rescales the level between the two bounds.
2. **Visual change**: D_k = Gaussian-smoothed max over RGB of |F_k − R_k|, with R_k the previous kept
   frame (the next one for frame 0), or, when finer `context` frames are given, the latest context
   frame at least `reference_lag` seconds before frame k's picture (if it is less than two windows older).
   Pixels with D_k > `motion_threshold` move.
3. **Regions**: moving pixels are cleaned (opening), joined (closing: a uniformly coloured shape that
   moves changes only along its leading and trailing edges) and hole-filled; small components go.
4. **Object vs. uncovered background**: a region holds both where the object is now and where it was
   (the uncovered background). Pixels whose colour in F_k differs from the region's surrounding ring
   (median colour) by more than `color_threshold` are kept; opening and a minimum area finish.
5. **Synchrony**: each object's motion over the clip is followed by a crude colour tracker (its median
   colour, searched near its previous position) as the series of mean change D_j over it; this series is
   correlated (Pearson, shrunk towards 0 when the motion barely varies) with the audible/silent series
   of the windows, and objects below `min_synchrony` are dropped — a thing that moves all the time, or
   only while the clip is silent, is not the sound source. The on/off series is used rather than the
   level, because an off-screen or merely louder source changes the level without any on-screen change.
   Only windows whose change is measured against an earlier picture enter the correlation (not frame 0
   without context frames), and the test is skipped when all of them are audible (the audio then
   carries no timing information).

Each remaining component is an `Instance` labelled "sounding object" with score a_k · (1 + ρ)/2
(ρ the region's correlation, 0 when undefined) and provenance `{"method": "synchrony-baseline", ...}`.

Features kept for reuse (`ClipProposal.features`, `FrameInstances.embedding`; the baseline has no learned
embedding): per audio window `audio_features` (its level and 16 mel-spaced band energies, dB) and per frame
`colour_layout` (the mean RGB of a 4×4 grid of cells, in [0, 1]).

Bounded memory (`propose_source`): the clip is read through a `ClipSource`, never whole. Pass 1 reads the frames
in chunks of `chunk_frames` (plus each one's reference picture) and keeps the candidate objects of audible frames
as RLE masks with their colour and motion; pass 2 (only when the audio varies) follows at most `track_group`
candidates at a time through the clip, once forwards and once backwards, one frame (and its reference) at a
time; pass 3 hands out each frame's instances in frame order. Peak memory: about `chunk_frames` frames and change
maps, plus the candidates (RLE, the size of the results) and `track_group` × T motion values. The results are
those of the whole-clip computation, whatever `chunk_frames` and `track_group`.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from ml_backend.media.source import ClipSource, FrameReader, chunks
from ml_backend.types import AudioTags, ClipFeatures, ClipMedia, ClipProposal, FrameInstances, Instance

METHOD = "synchrony-baseline"
LABEL = "sounding object"
DEFAULT_CHUNK_FRAMES = 16  # frames read at once in pass 1
TRACK_GROUP = 64  # candidates followed through the clip together in pass 2
AUDIO_BANDS = 16  # mel-spaced bands of `audio_features`
COLOUR_GRID = 4  # cells per side of `colour_layout`
AUDIO_KIND = "baseline-bands"  # `ClipFeatures.audio_embedding`: `audio_features` (T×(1 + AUDIO_BANDS))
VISUAL_KIND = "baseline-colour-grid"  # `FrameInstances.embedding`: `colour_layout` (COLOUR_GRID² × 3,)


@dataclass
class SynchronyConfig:
    """Parameters of the synchrony baseline (pixel values are 0–255; lengths in pixels of the frame)."""

    silence_db: float = -45.0  # window RMS in dBFS at or below which a window is silent
    dynamic_range_db: float = 30.0  # windows this much quieter than the loudest are silent too
    motion_threshold: float = 20.0  # change (max over RGB, smoothed) that counts as motion
    smooth_sigma: float = 1.0  # Gaussian σ (px) applied to difference maps
    open_radius: int = 2  # px: opening that removes specks and thin slivers (slow drift, codec noise)
    close_radius: int = 5  # px: closing that joins the leading and trailing edges of a moving shape
    color_threshold: float = 45.0  # RGB distance from the surrounding ring's median colour to count as object
    ring_width: int = 4  # px: width of the ring that samples the local background colour
    min_area_fraction: float = 0.002  # components smaller than this fraction of the frame are dropped
    min_synchrony: float = 0.3  # minimum correlation of an object's motion with the audible windows
    synchrony_floor: float = 1.0  # added to the motion series' std (grey levels) ...
    synchrony_relative: float = 0.25  # ... plus this fraction of its mean: barely varying motion correlates ~0
    max_step: float = 0.25  # fraction of max(H, W) an object may move between kept frames (tracking)
    reference_lag: float = 0.5  # s: with context frames, compare with the picture this long before


def _disk(radius: int) -> np.ndarray:
    r = max(int(radius), 0)
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


def _as_source(clip: ClipMedia | ClipSource) -> ClipSource:
    return clip if isinstance(clip, ClipSource) else ClipSource.from_media(clip)


def window_levels_db(clip: ClipMedia | ClipSource) -> np.ndarray:
    """(T,) RMS level in dBFS of each frame's audio window (−200 for digital silence), one window read at a time."""
    source = _as_source(clip)
    levels = []
    for k in range(source.num_frames):
        window = source.audio_window(k).astype(np.float64)
        rms = float(np.sqrt(np.mean(window * window))) if window.size else 0.0
        levels.append(20 * np.log10(rms) if rms > 1e-10 else -200.0)
    return np.array(levels)


def audio_features(clip: ClipMedia | ClipSource, *, bands: int = AUDIO_BANDS) -> np.ndarray:
    """T×(1 + bands) float32, one row per frame's audio window, read one at a time: the window's RMS level in dBFS
    (as `window_levels_db`), then its energy in `bands` bands spaced evenly on the mel scale from 50 Hz to the
    Nyquist frequency: 10·log10 of the mean power of the Hann-windowed spectrum over the band's bins (the bin
    nearest the band's centre when it holds none), floor −200 dB."""
    source = _as_source(clip)
    rate = float(source.sample_rate)
    mel_edges = np.linspace(_mel(50.0), _mel(rate / 2), bands + 1)
    edges = 700.0 * (10 ** (mel_edges / 2595.0) - 1.0)
    rows = np.full((source.num_frames, 1 + bands), -200.0, dtype=np.float32)
    for k in range(source.num_frames):
        window = source.audio_window(k).astype(np.float64)
        if not window.size:
            continue
        rms = float(np.sqrt(np.mean(window * window)))
        rows[k, 0] = 20 * np.log10(rms) if rms > 1e-10 else -200.0
        power = np.abs(np.fft.rfft(window * np.hanning(window.size))) ** 2 / window.size
        freqs = np.fft.rfftfreq(window.size, 1.0 / rate)
        for b in range(bands):
            inside = (freqs >= edges[b]) & (freqs < edges[b + 1])
            value = (
                power[inside].mean()
                if inside.any()
                else power[np.argmin(np.abs(freqs - (edges[b] + edges[b + 1]) / 2))]
            )
            rows[k, 1 + b] = 10 * np.log10(value) if value > 1e-20 else -200.0
    return rows


def _mel(hz: float) -> float:
    return 2595.0 * float(np.log10(1.0 + hz / 700.0))


def colour_layout(frame: np.ndarray, *, grid: int = COLOUR_GRID) -> np.ndarray:
    """(grid² · 3,) float32 in [0, 1]: the mean RGB of each cell of a grid×grid split of the H×W×3 uint8 frame, rows
    of cells top to bottom, cells left to right, then R, G, B."""
    cells = [
        part.reshape(-1, 3).mean(axis=0)
        for band in np.array_split(frame, grid, axis=0)
        for part in np.array_split(band, grid, axis=1)
    ]
    return (np.stack(cells).reshape(-1) / 255.0).astype(np.float32)


class CompactMask:
    """An H×W bool mask kept as COCO RLE (bytes): what is held per candidate object between passes."""

    __slots__ = ("rle",)

    def __init__(self, mask: np.ndarray) -> None:
        from pycocotools import mask as coco_mask

        self.rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))

    def decode(self) -> np.ndarray:
        from pycocotools import mask as coco_mask

        with warnings.catch_warnings():  # pycocotools 2.0.11 calls np.array(copy=False) internally under numpy 2
            warnings.simplefilter("ignore", DeprecationWarning)
            return np.ascontiguousarray(coco_mask.decode(self.rle).astype(bool))


@dataclass
class _Candidate:
    """An object found on an audible frame (pass 1), before the synchrony test."""

    position: int
    mask: CompactMask
    colour: np.ndarray  # (3,) float32 median RGB of the object
    motion: float  # mean change D_k over the object on its own frame
    area: int
    box: list[int]
    rho: float | None = field(default=None)


class _Frames:
    """Reads frames through a small LRU cache (a change map needs a frame and its reference)."""

    def __init__(self, reader: FrameReader, capacity: int) -> None:
        self.reader = reader
        self.capacity = max(2, capacity)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def read(self, position: int) -> np.ndarray:
        if position in self._cache:
            self._cache.move_to_end(position)
            return self._cache[position]
        frame = self.reader.read(position)
        self._cache[position] = frame
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return frame

    def clear(self) -> None:
        self._cache.clear()


Reference = tuple[bool, int, float]  # (from the context frames?, position there, time in seconds)


class SynchronyProposer:
    """Weight-free baseline: masks where the picture changes in step with the audio energy (see module doc).

    `propose(clip)` needs only the clip's kept frames (T×H×W×3) and audio; `context` may add frames at a
    finer rate (their `timestamps` in clip seconds) to measure motion inside each window. `propose_source`
    does the same reading the clip frame by frame (bounded memory).
    """

    name = METHOD

    def __init__(self, config: SynchronyConfig | None = None, *, track_group: int = TRACK_GROUP) -> None:
        self.config = config or SynchronyConfig()
        if track_group < 1:
            raise ValueError(f"track_group must be at least 1, got {track_group}")
        self.track_group = track_group

    # ------------------------------------------------------------------------------------------ audio
    def activity(self, clip: ClipMedia | ClipSource) -> tuple[np.ndarray, np.ndarray]:
        """(levels_db (T,), activity (T,) in [0, 1], 0 for silent windows)."""
        cfg = self.config
        levels = window_levels_db(clip)
        loudest = float(levels.max()) if levels.size else -200.0
        floor = max(cfg.silence_db, loudest - cfg.dynamic_range_db)
        audible = (levels > cfg.silence_db) & (levels >= loudest - cfg.dynamic_range_db)
        span = max(loudest - floor, 1e-6)
        activity = np.where(audible, np.clip((levels - floor) / span, 0.05, 1.0), 0.0)
        return levels, activity

    # ------------------------------------------------------------------------------------------ vision
    def _references(self, source: ClipSource, context: ClipSource | None) -> list[Reference]:
        """Per position k: the picture D_k is measured against (see the module doc, step 2)."""
        refs: list[Reference] = []
        times = source.timestamps
        use_context = context is not None and context.num_frames > 0 and context.size == source.size
        for k in range(source.num_frames):
            ref_index = k - 1 if k > 0 else 1
            ref: Reference = (False, ref_index, float(times[ref_index]))
            if use_context:
                assert context is not None
                target = float(times[k]) - self.config.reference_lag
                earlier = np.flatnonzero(context.timestamps <= target + 1e-6)
                if earlier.size:
                    j = int(earlier[-1])
                    if context.timestamps[j] > float(times[k]) - 2.0 / source.fps:
                        ref = (True, j, float(context.timestamps[j]))
            refs.append(ref)
        return refs

    def change_map(self, frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """H×W float32 change D in 0–255: Gaussian-smoothed max over RGB of |frame − reference|."""
        diff = np.abs(frame.astype(np.int16) - reference.astype(np.int16)).max(axis=-1).astype(np.float32)
        if self.config.smooth_sigma > 0:
            diff = ndimage.gaussian_filter(diff, self.config.smooth_sigma)
        return diff

    def _regions(self, moving: np.ndarray) -> tuple[np.ndarray, int]:
        cfg = self.config
        min_area = cfg.min_area_fraction * moving.size
        cleaned = ndimage.binary_opening(moving, structure=_disk(cfg.open_radius)) if cfg.open_radius else moving
        joined = ndimage.binary_closing(cleaned, structure=_disk(cfg.close_radius), border_value=0)
        filled = ndimage.binary_fill_holes(joined)
        labels, n = ndimage.label(filled)
        if n:
            areas = ndimage.sum_labels(filled, labels, index=np.arange(1, n + 1))
            keep = np.concatenate([[False], areas >= min_area])
            labels = np.where(keep[labels], labels, 0)
        return labels, n

    def _object_pixels(self, frame: np.ndarray, region: np.ndarray) -> np.ndarray:
        cfg = self.config
        ring = ndimage.binary_dilation(region, structure=_disk(cfg.ring_width)) & ~region
        if not ring.any():
            return region
        background = np.median(frame[ring].astype(np.float32), axis=0)
        distance = np.linalg.norm(frame.astype(np.float32) - background, axis=-1)
        pixels = region & (distance > cfg.color_threshold)
        if cfg.open_radius:
            pixels = ndimage.binary_opening(pixels, structure=_disk(cfg.open_radius))
        return pixels

    def synchrony(self, series: np.ndarray, audible: np.ndarray) -> float:
        """Correlation of a motion series with the audible (1) / silent (0) windows, in [−1, 1].

        Pearson's r, with the motion's standard deviation inflated by `synchrony_floor` +
        `synchrony_relative` · its mean, so that motion that barely varies (a steady wanderer, codec noise)
        correlates close to 0 instead of at random.
        """
        cfg = self.config
        a = audible - audible.mean()
        m = series - series.mean()
        spread = series.std() + cfg.synchrony_floor + cfg.synchrony_relative * abs(series.mean())
        denominator = spread * audible.std()
        return float(np.mean(a * m) / denominator) if denominator > 0 else 0.0

    # ------------------------------------------------------------------------------------------ propose
    def propose(self, clip: ClipMedia, *, context: ClipMedia | None = None) -> ClipProposal:
        """Per-frame instances of sounding regions of a decoded clip. Raises ValueError for a clip without audio."""
        return self.propose_source(
            ClipSource.from_media(clip),
            context=ClipSource.from_media(context) if context is not None else None,
            chunk_frames=max(1, clip.num_frames),
        )

    def propose_source(
        self,
        source: ClipSource,
        *,
        context: ClipSource | None = None,
        emit: Callable[[FrameInstances], None] | None = None,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    ) -> ClipProposal:
        """Per-frame instances of sounding regions, reading `source` in chunks of `chunk_frames` frames.

        With `emit`, each frame's `FrameInstances` goes to it, in frame order, and the returned proposal's `frames`
        is empty; without, they are returned. Raises ValueError for a clip without audio.
        """
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
        if not source.has_audio:
            raise ValueError(
                f"{source.source or 'clip'} has no audio track: the synchrony baseline localises sound by its "
                "timing and cannot run without audio"
            )
        collected: list[FrameInstances] = []
        out = emit or collected.append
        cfg = self.config
        levels, activity = self.activity(source)
        meta = {"config": asdict(cfg), "levels_db": [round(float(v), 2) for v in levels]}
        features = ClipFeatures(
            audio_tags=[AudioTags(int(index), []) for index in source.frames.indexes],
            audio_embedding=audio_features(source),
            audio_kind=AUDIO_KIND,
            visual_kind=VISUAL_KIND,
        )
        if source.num_frames < 2:
            meta["note"] = "a single frame carries no change over time: no proposals"
            if source.num_frames:
                layout = colour_layout(source.frames.read(0))
                out(FrameInstances(int(source.frames.indexes[0]), [], embedding=layout))
            else:
                out(FrameInstances(0, []))
            return ClipProposal(frames=collected, model=METHOD, meta=meta, features=features)
        refs = self._references(source, context)
        frames = _Frames(source.frames, chunk_frames + 1)  # a chunk and the reference of its first frame
        context_frames = _Frames(context.frames, 2) if context is not None else None

        def change(position: int) -> np.ndarray:
            from_context, ref_position, _ = refs[position]
            reader = context_frames if from_context else frames
            assert reader is not None
            return self.change_map(frames.read(position), reader.read(ref_position))

        audible = (activity > 0).astype(np.float64)
        # D_k measures motion inside window k only when its reference picture comes earlier (not for frame 0
        # compared with frame 1): only those windows enter the correlation.
        timed = np.array([ref[2] < t for ref, t in zip(refs, source.timestamps, strict=True)])
        audio_varies = bool(0 < audible[timed].sum() < timed.sum())

        layouts = np.zeros((source.num_frames, 3 * COLOUR_GRID * COLOUR_GRID), dtype=np.float32)
        candidates = self._candidates(source, frames, change, activity, chunk_frames, layouts)
        frames.clear()
        if audio_varies:
            for start in range(0, len(candidates), self.track_group):
                group = candidates[start : start + self.track_group]
                series = self._track(group, frames, change, source.num_frames)
                for candidate, motion in zip(group, series, strict=True):
                    candidate.rho = self.synchrony(motion[timed], audible[timed])
                frames.clear()

        by_position: dict[int, list[_Candidate]] = {}
        for candidate in candidates:
            by_position.setdefault(candidate.position, []).append(candidate)
        for k in range(source.num_frames):
            instances = [
                self._instance(c, levels[k], activity[k], refs[k][2])
                for c in by_position.pop(k, [])
                if c.rho is None or c.rho >= cfg.min_synchrony
            ]
            out(FrameInstances(frame_index=int(source.frames.indexes[k]), instances=instances, embedding=layouts[k]))
        return ClipProposal(frames=collected, model=METHOD, meta=meta, features=features)

    def _candidates(
        self,
        source: ClipSource,
        frames: _Frames,
        change: Callable[[int], np.ndarray],
        activity: np.ndarray,
        chunk_frames: int,
        layouts: np.ndarray,
    ) -> list[_Candidate]:
        """Pass 1: the objects of every audible frame (module doc, steps 3–4), a chunk of frames at a time; the
        `colour_layout` of every frame goes into `layouts` (T×C)."""
        cfg = self.config
        h, w = source.size
        min_area = cfg.min_area_fraction * h * w
        candidates: list[_Candidate] = []
        for chunk in chunks(source.num_frames, chunk_frames):
            audible = [k for k in chunk if activity[k] > 0]
            for k in chunk:  # a silent frame is read for its layout only, past the cache (not needed again)
                if activity[k] <= 0:
                    layouts[k] = colour_layout(frames.reader.read(k))
            for k in audible:
                frames.read(k)
            for k in audible:
                frame = frames.read(k)
                layouts[k] = colour_layout(frame)
                changes = change(k)
                labels, n = self._regions(changes > cfg.motion_threshold)
                for index in range(1, n + 1):
                    region = labels == index
                    if not region.any():
                        continue
                    parts, m = ndimage.label(self._object_pixels(frame, region))
                    for part in range(1, m + 1):
                        mask = parts == part
                        area = int(mask.sum())
                        if area < min_area:
                            continue
                        ys, xs = np.nonzero(mask)
                        candidates.append(
                            _Candidate(
                                position=k,
                                mask=CompactMask(mask),
                                colour=np.median(frame[mask].astype(np.float32), axis=0),
                                motion=float(changes[mask].mean()),
                                area=area,
                                box=[int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1],
                            )
                        )
            frame = changes = None  # nothing of this chunk is held (beyond the cache) while the next one is read
        return candidates

    def _track(
        self, group: Sequence[_Candidate], frames: _Frames, change: Callable[[int], np.ndarray], total: int
    ) -> np.ndarray:
        """Pass 2: len(group)×T motion series, each object followed from its frame to both ends of the clip.

        A crude colour tracker: in frame j (stepping away from the object's frame) the object is the pixels with
        its median colour (within `color_threshold`) less than `max_step` · max(H, W) from where it was in the
        previous step; where none are found it is taken not to have moved (D_j = 0 there). Frames are read once
        per direction for the whole group; each object's previous position is kept as RLE.
        """
        cfg = self.config
        series = np.zeros((len(group), total))
        for i, candidate in enumerate(group):
            series[i, candidate.position] = candidate.motion
        for step in (1, -1):
            previous: dict[int, CompactMask] = {}
            order = range(total) if step == 1 else range(total - 1, -1, -1)
            for j in order:
                active = [i for i, c in enumerate(group) if (c.position - j) * step < 0]
                if not active:
                    continue
                frame = frames.read(j).astype(np.float32)
                changes = change(j)
                for i in active:
                    candidate = group[i]
                    last = previous.get(i, candidate.mask).decode()
                    max_step = cfg.max_step * max(last.shape)
                    near = np.linalg.norm(frame - candidate.colour, axis=-1) < cfg.color_threshold
                    near &= ndimage.distance_transform_edt(~last) <= max_step
                    if near.any():
                        series[i, j] = float(changes[near].mean())
                        previous[i] = CompactMask(near)
        return series

    def _instance(self, candidate: _Candidate, level: float, activity: float, reference_time: float) -> Instance:
        rho = candidate.rho
        return Instance(
            mask=candidate.mask.decode(),
            label=LABEL,
            score=float(activity * (1.0 + (rho or 0.0)) / 2.0),
            provenance={
                "method": METHOD,
                "audio_level_db": round(float(level), 2),
                "activity": round(float(activity), 4),
                "synchrony": None if rho is None else round(rho, 4),
                "motion": round(candidate.motion, 2),
                "reference_time": round(reference_time, 4),
                "box": candidate.box,
                "area": candidate.area,
            },
        )


def proposal_probabilities(proposal: ClipProposal, *, size: tuple[int, int]) -> np.ndarray:
    """T×H×W float32 map for evaluation: 1.0 inside any instance's mask, 0.0 elsewhere. size: (H, W)."""
    out = np.zeros((len(proposal.frames), *size), dtype=np.float32)
    for t, frame in enumerate(proposal.frames):
        for instance in frame.instances:
            out[t][instance.mask] = 1.0
    return out


def build_synchrony_proposer(config: SynchronyConfig | None = None) -> SynchronyProposer:
    """Build the baseline (no weights to load)."""
    return SynchronyProposer(config)
