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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ml_backend.types import ClipMedia, ClipProposal, FrameInstances, Instance

METHOD = "synchrony-baseline"
LABEL = "sounding object"


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


def window_levels_db(clip: ClipMedia) -> np.ndarray:
    """(T,) RMS level in dBFS of each frame's audio window (−200 for digital silence)."""
    levels = []
    for k in range(clip.num_frames):
        window = clip.audio_window(k).astype(np.float64)
        rms = float(np.sqrt(np.mean(window * window))) if window.size else 0.0
        levels.append(20 * np.log10(rms) if rms > 1e-10 else -200.0)
    return np.array(levels)


class SynchronyProposer:
    """Weight-free baseline: masks where the picture changes in step with the audio energy (see module doc).

    `propose(clip)` needs only the clip's kept frames (T×H×W×3) and audio; `context` may add frames at a
    finer rate (their `timestamps` in clip seconds) to measure motion inside each window.
    """

    name = METHOD

    def __init__(self, config: SynchronyConfig | None = None) -> None:
        self.config = config or SynchronyConfig()

    # ------------------------------------------------------------------------------------------ audio
    def activity(self, clip: ClipMedia) -> tuple[np.ndarray, np.ndarray]:
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
    def _references(self, clip: ClipMedia, context: ClipMedia | None) -> tuple[list[np.ndarray], list[float]]:
        frames = clip.frames
        refs: list[np.ndarray] = []
        times: list[float] = []
        for k in range(clip.num_frames):
            ref_index = k - 1 if k > 0 else 1
            ref, ref_time = frames[ref_index], float(clip.timestamps[ref_index])
            if context is not None and context.num_frames:
                target = float(clip.timestamps[k]) - self.config.reference_lag
                earlier = np.flatnonzero(context.timestamps <= target + 1e-6)
                if earlier.size and context.frames.shape[1:3] == frames.shape[1:3]:
                    j = int(earlier[-1])
                    if context.timestamps[j] > float(clip.timestamps[k]) - 2.0 / clip.fps:
                        ref, ref_time = context.frames[j], float(context.timestamps[j])
            refs.append(ref)
            times.append(ref_time)
        return refs, times

    def change_maps(self, clip: ClipMedia, context: ClipMedia | None = None) -> tuple[np.ndarray, list[float]]:
        """(T×H×W float32 change D_k in 0–255, reference time of each frame in seconds)."""
        refs, times = self._references(clip, context)
        maps = []
        for frame, ref in zip(clip.frames, refs, strict=True):
            diff = np.abs(frame.astype(np.int16) - ref.astype(np.int16)).max(axis=-1).astype(np.float32)
            if self.config.smooth_sigma > 0:
                diff = ndimage.gaussian_filter(diff, self.config.smooth_sigma)
            maps.append(diff)
        return np.stack(maps), times

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

    def object_motion(self, frames: np.ndarray, changes: np.ndarray, mask: np.ndarray, frame_index: int) -> np.ndarray:
        """(T,) how much the object `mask` of frame `frame_index` moves in each window: mean change D_j over it.

        A crude colour tracker follows it: in frame j (stepping away from `frame_index`) the object is the
        pixels with its median colour (within `color_threshold`) less than `max_step` · max(H, W) from where
        it was in the previous step; where none are found it is taken not to have moved (D_j = 0 there).
        """
        cfg = self.config
        colour = np.median(frames[frame_index][mask].astype(np.float32), axis=0)
        max_step = cfg.max_step * max(mask.shape)
        series = np.zeros(len(frames))
        series[frame_index] = float(changes[frame_index][mask].mean())
        for step in (-1, 1):
            previous = mask
            j = frame_index + step
            while 0 <= j < len(frames):
                near = np.linalg.norm(frames[j].astype(np.float32) - colour, axis=-1) < cfg.color_threshold
                near &= ndimage.distance_transform_edt(~previous) <= max_step
                if near.any():
                    series[j] = float(changes[j][near].mean())
                    previous = near
                j += step
        return series

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
        """Per-frame instances of sounding regions. Raises ValueError for a clip without audio."""
        if not clip.has_audio:
            raise ValueError(
                f"{clip.source or 'clip'} has no audio track: the synchrony baseline localises sound by its "
                "timing and cannot run without audio"
            )
        cfg = self.config
        levels, activity = self.activity(clip)
        meta = {"config": asdict(cfg), "levels_db": [round(float(v), 2) for v in levels]}
        if clip.num_frames < 2:
            meta["note"] = "a single frame carries no change over time: no proposals"
            return ClipProposal(frames=[FrameInstances(0, [])], model=METHOD, meta=meta)
        changes, ref_times = self.change_maps(clip, context)
        h, w = clip.size
        min_area = cfg.min_area_fraction * h * w
        audible = (activity > 0).astype(np.float64)
        # D_k measures motion inside window k only when its reference picture comes earlier (not for frame 0
        # compared with frame 1): only those windows enter the correlation.
        timed = np.array([ref < t for ref, t in zip(ref_times, clip.timestamps, strict=True)])
        audio_varies = 0 < audible[timed].sum() < timed.sum()
        frames: list[FrameInstances] = []
        for k in range(clip.num_frames):
            instances: list[Instance] = []
            if activity[k] > 0:
                labels, n = self._regions(changes[k] > cfg.motion_threshold)
                for index in range(1, n + 1):
                    region = labels == index
                    if not region.any():
                        continue
                    parts, m = ndimage.label(self._object_pixels(clip.frames[k], region))
                    for part in range(1, m + 1):
                        mask = parts == part
                        area = int(mask.sum())
                        if area < min_area:
                            continue
                        series = self.object_motion(clip.frames, changes, mask, k)
                        rho = self.synchrony(series[timed], audible[timed]) if audio_varies else None
                        if rho is not None and rho < cfg.min_synchrony:
                            continue
                        ys, xs = np.nonzero(mask)
                        instances.append(
                            Instance(
                                mask=mask,
                                label=LABEL,
                                score=float(activity[k] * (1.0 + (rho or 0.0)) / 2.0),
                                provenance={
                                    "method": METHOD,
                                    "audio_level_db": round(float(levels[k]), 2),
                                    "activity": round(float(activity[k]), 4),
                                    "synchrony": None if rho is None else round(rho, 4),
                                    "motion": round(float(changes[k][mask].mean()), 2),
                                    "reference_time": round(ref_times[k], 4),
                                    "box": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1],
                                    "area": area,
                                },
                            )
                        )
            frames.append(FrameInstances(frame_index=k, instances=instances))
        return ClipProposal(frames=frames, model=METHOD, meta=meta)


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
