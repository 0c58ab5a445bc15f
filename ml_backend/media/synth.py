"""Synthetic audio-visual clips with exact ground truth, written as mp4 + AVSBench layouts.

A clip is T windows of 1 s (frames at fps = 1, AVSBench timing): coloured shapes on a textured
background, each shape class with a characteristic sound (`SYNTH_CLASSES`). Per window, every
*source* object either sounds or is silent; a sounding object plays its class sound, moves
(`velocity` px per second of sounding) and pulses in size (its scale follows a slow sine), a silent one
holds still. *Distractors* never sound: most drift slowly, some (40 %) wander all the time, so that
motion alone does not reveal the sounding object. Some clips add an *off-screen* sound:
a class sound with no visible object, played in windows where no source sounds (audible, empty
ground truth). The ground truth of frame k is the visible pixels (after occlusion, in drawing order)
of the objects sounding in window k, from the geometry at the frame's kept time (k + 0.94)/fps — the
ingest rule (`ml_backend.media.video`, `server.media.models`).

The mp4 (h264 yuv420p at `VIDEO_FPS` + AAC mono at 16 kHz, `T` seconds) renders picture i at time
i / VIDEO_FPS, except that pictures within `HOLD_SECONDS` of a kept time show the geometry *at* that
kept time: at 25 fps the pictures at k + 0.92 s and k + 0.96 s both show the kept geometry, so the
frame a decoder picks at 0.94 s (last picture ≤ 0.94 s, or the nearest one) is the layout's frame up
to codec loss. Shapes are drawn without anti-aliasing, so a frame's rendered pixels of an object are
exactly its mask.

Everything is deterministic given the seed: clip i draws from `np.random.default_rng([seed, i])` (a
clip does not depend on how many clips are generated), the split assignment from
`np.random.default_rng([seed, 7919])`. The encoders run single-threaded, so the mp4 bytes repeat too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from ml_backend.evaluation.classes import label2idx
from ml_backend.evaluation.datasets import FRAME_POSITION, PROTOCOLS, LayoutClip, write_layout

VIDEO_FPS = 25  # pictures per second of the mp4
FPS = 1.0  # kept frames per second (AVSBench)
HOLD_SECONDS = 0.05  # pictures this close to a kept time show the kept geometry
SAMPLE_RATE = 16000  # Hz of the wav files and of the mp4's AAC track
DEFAULT_SPLITS: tuple[tuple[str, float], ...] = (("train", 0.6), ("val", 0.2), ("test", 0.2))
MANIFEST = "synth_manifest.json"
_PULSE = 0.18  # relative size change of a sounding object
_SPLIT_STREAM = 7919  # rng stream of the split assignment
_SOURCE_RMS = 0.08  # RMS of one sounding source (≈ −22 dBFS); the noise floor is 0.002 (≈ −54 dBFS)


@dataclass(frozen=True)
class SynthClass:
    """A shape class: AVSBench class name, shape, RGB colour, sound kind and its base frequency (Hz)."""

    name: str
    shape: str  # circle | square | triangle | diamond
    color: tuple[int, int, int]
    sound: str  # tone | chirp | noise_burst | am_tone
    freq_hz: float


SYNTH_CLASSES: tuple[SynthClass, ...] = (
    SynthClass("bell", "circle", (245, 205, 30), "tone", 880.0),  # steady tone + 2nd harmonic
    SynthClass("bird", "triangle", (30, 140, 245), "chirp", 2000.0),  # rising 2→4 kHz chirps, 3.3/s
    SynthClass("dog", "square", (225, 45, 45), "noise_burst", 900.0),  # band-passed noise bursts, ~3/s
    SynthClass("car", "diamond", (40, 195, 95), "am_tone", 180.0),  # harmonic tone, 8 Hz amplitude modulation
)
SHAPES = tuple(c.shape for c in SYNTH_CLASSES)


def _fold(value: float, lo: float, hi: float) -> float:
    """Reflect `value` into [lo, hi] (a ball bouncing between two walls)."""
    span = hi - lo
    if span <= 0:
        return (lo + hi) / 2
    u = (value - lo) % (2 * span)
    return lo + (u if u <= span else 2 * span - u)


def shape_mask(shape: str, *, center: tuple[float, float], radius: float, size: tuple[int, int]) -> np.ndarray:
    """H×W bool: pixels whose centre (x + 0.5, y + 0.5) lies in the shape.

    center: (x, y) pixels; radius: circle radius / square half side / diamond half diagonal / triangle
    circumradius (an upright equilateral triangle). size: (H, W).
    """
    h, w = size
    cx, cy = center
    ys = np.arange(h, dtype=np.float64)[:, None] + 0.5 - cy
    xs = np.arange(w, dtype=np.float64)[None, :] + 0.5 - cx
    if shape == "circle":
        return xs * xs + ys * ys <= radius * radius
    if shape == "square":
        return (np.abs(xs) <= radius) & (np.abs(ys) <= radius)
    if shape == "diamond":
        return np.abs(xs) + np.abs(ys) <= radius
    if shape == "triangle":
        # apex (0, -r), base at y = r/2 with half width r·√3/2
        half = math.sqrt(3) / 2 * radius
        inside_base = ys <= radius / 2
        sides = np.abs(xs) <= (ys + radius) / (1.5 * radius) * half
        return inside_base & sides & (ys >= -radius)
    raise ValueError(f"unknown shape {shape!r} (one of {SHAPES})")


def shape_area(shape: str, radius: float) -> float:
    """Exact area (px²) of `shape_mask`'s continuous shape."""
    return {
        "circle": math.pi * radius**2,
        "square": 4 * radius**2,
        "diamond": 2 * radius**2,
        "triangle": 3 * math.sqrt(3) / 4 * radius**2,
    }[shape]


@dataclass(frozen=True)
class SynthObject:
    """A shape on screen. Positions are pixels (x right, y down); times are seconds from clip start.

    sounding: per window, whether the object sounds (always False for a distractor). velocity: px per
    second *of sounding* (it moves only while it sounds); drift: px per second, always. The centre
    bounces off the frame edges (kept one radius inside).
    """

    cls: SynthClass
    radius: float
    start: tuple[float, float]
    velocity: tuple[float, float]
    drift: tuple[float, float]
    sounding: tuple[bool, ...]
    pulse_hz: float
    frame_size: int

    @property
    def is_source(self) -> bool:
        return any(self.sounding)

    def window(self, t: float) -> int:
        return min(max(int(math.floor(t * FPS)), 0), len(self.sounding) - 1)

    def sounds_at(self, t: float) -> bool:
        return self.sounding[self.window(t)]

    def sounding_time(self, t: float) -> float:
        """Seconds of sounding in [0, t]."""
        k = self.window(t)
        done = sum(self.sounding[:k]) / FPS
        return done + (t - k / FPS) * self.sounding[k]

    def center(self, t: float) -> tuple[float, float]:
        s = self.sounding_time(t)
        margin = self.radius * (1 + _PULSE) + 1
        lo, hi = margin, self.frame_size - margin
        x = self.start[0] + self.velocity[0] * s + self.drift[0] * t
        y = self.start[1] + self.velocity[1] * s + self.drift[1] * t
        return _fold(x, lo, hi), _fold(y, lo, hi)

    def scale(self, t: float) -> float:
        if not self.sounds_at(t):
            return 1.0
        return 1.0 + _PULSE * (0.5 + 0.5 * math.sin(2 * math.pi * self.pulse_hz * t))

    def mask(self, t: float) -> np.ndarray:
        """H×W bool of the whole shape at time t (before occlusion)."""
        return shape_mask(
            self.cls.shape,
            center=self.center(t),
            radius=self.radius * self.scale(t),
            size=(self.frame_size, self.frame_size),
        )


@dataclass(frozen=True)
class SynthClip:
    """One synthetic clip: objects in drawing order (later on top), optional off-screen sound, seeds."""

    vid: str
    split: str
    num_frames: int
    size: int
    objects: tuple[SynthObject, ...]
    offscreen: SynthClass | None
    offscreen_windows: tuple[bool, ...]
    background: tuple[tuple[int, int, int], tuple[int, int, int]]
    noise_seed: int
    layout: str

    @property
    def duration(self) -> float:
        return self.num_frames / FPS

    @property
    def sources(self) -> list[SynthObject]:
        return [o for o in self.objects if o.is_source]

    @property
    def category(self) -> str:
        """S4 category: the class of the (first) source."""
        return self.sources[0].cls.name

    @property
    def a_obj(self) -> str:
        """AVSS `a_obj`: audible classes joined by '_' (plus `off-the-screen`)."""
        names = sorted({o.cls.name for o in self.sources})
        if self.offscreen is not None:
            names.append("off-the-screen")
        return "_".join(names)

    @property
    def subset(self) -> str:
        """AVSS subset label: v1s (one source), v1m (several), v2 when the clip is not 5 frames."""
        if self.num_frames != 5:
            return "v2"
        return "v1s" if len(self.sources) == 1 else "v1m"

    def kept_time(self, frame_index: int) -> float:
        """Seconds of the picture kept for frame `frame_index`: (k + 0.94)/fps."""
        return (frame_index + FRAME_POSITION) / FPS

    def geometry_time(self, t: float) -> float:
        """The time whose geometry the picture at t shows (t, or a kept time within HOLD_SECONDS)."""
        k = int(round(t * FPS - FRAME_POSITION))
        if 0 <= k < self.num_frames and abs(t - self.kept_time(k)) < HOLD_SECONDS:
            return self.kept_time(k)
        return t

    def owner_map(self, t: float) -> np.ndarray:
        """H×W int: index into `objects` of the object drawn on top at geometry time t, −1 for background."""
        owner = np.full((self.size, self.size), -1, dtype=np.int16)
        for i, obj in enumerate(self.objects):
            owner[obj.mask(t)] = i
        return owner

    @cached_property
    def background_image(self) -> np.ndarray:
        """H×W×3 uint8 static background: a vertical gradient plus a smooth seeded texture."""
        rng = np.random.default_rng(self.noise_seed)
        top, bottom = (np.array(c, dtype=np.float64) for c in self.background)
        ramp = np.linspace(0.0, 1.0, self.size)[:, None, None]
        image = top * (1 - ramp) + bottom * ramp
        coarse = rng.normal(0.0, 9.0, size=(max(self.size // 16, 2), max(self.size // 16, 2), 3)).astype(np.float32)
        texture = np.stack(
            [
                np.asarray(Image.fromarray(coarse[..., c]).resize((self.size, self.size), Image.BICUBIC))
                for c in range(3)
            ],
            axis=-1,
        )
        image = image + texture
        return np.clip(np.round(image), 0, 255).astype(np.uint8)

    def render(self, t: float) -> np.ndarray:
        """H×W×3 uint8 RGB picture at time t (geometry at `geometry_time(t)`)."""
        g = self.geometry_time(t)
        image = self.background_image.copy()
        owner = self.owner_map(g)
        for i, obj in enumerate(self.objects):
            image[owner == i] = obj.cls.color
        return image

    def frame(self, frame_index: int) -> np.ndarray:
        """H×W×3 uint8: the kept picture of frame `frame_index` (what the layout stores)."""
        return self.render(self.kept_time(frame_index))

    def label_map(self, frame_index: int) -> np.ndarray:
        """H×W uint8 AVSS label indices of the objects sounding in window `frame_index` (0 elsewhere)."""
        indices = label2idx()
        owner = self.owner_map(self.kept_time(frame_index))
        labels = np.zeros((self.size, self.size), dtype=np.uint8)
        for i, obj in enumerate(self.objects):
            if obj.sounding[frame_index]:
                labels[owner == i] = indices[obj.cls.name]
        return labels

    def sounding_mask(self, frame_index: int) -> np.ndarray:
        """H×W bool ground truth of frame `frame_index` (visible pixels of the sounding objects)."""
        return self.label_map(frame_index) > 0

    def audible(self, frame_index: int) -> bool:
        """Whether any sound (on- or off-screen) plays in window `frame_index`."""
        return any(o.sounding[frame_index] for o in self.objects) or self.offscreen_windows[frame_index]

    def audio(self, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """(N,) float32 mono in [−1, 1], N = duration · sample_rate: the sum of the sounding classes + a noise floor."""
        n = int(round(self.duration * sample_rate))
        rng = np.random.default_rng([self.noise_seed, 1])
        out = rng.normal(0.0, 0.002, size=n)
        players: list[tuple[SynthClass, tuple[bool, ...]]] = [(o.cls, o.sounding) for o in self.sources]
        if self.offscreen is not None:
            players.append((self.offscreen, self.offscreen_windows))
        for cls, windows in players:
            out += (
                _SOURCE_RMS * class_sound(cls, n=n, sample_rate=sample_rate, rng=rng) * _gate(windows, n, sample_rate)
            )
        peak = np.abs(out).max()
        if peak > 0.9:
            out *= 0.9 / peak
        return out.astype(np.float32)

    def describe(self) -> dict[str, Any]:
        """JSON-able description (the manifest entry)."""
        return {
            "vid": self.vid,
            "split": self.split,
            "frames": self.num_frames,
            "size": self.size,
            "objects": [
                {
                    "class": o.cls.name,
                    "shape": o.cls.shape,
                    "radius": o.radius,  # full precision: the masks can be recomputed exactly
                    "sounding": list(o.sounding),
                    "kept_centers": [list(o.center(self.kept_time(k))) for k in range(self.num_frames)],
                    "kept_scales": [o.scale(self.kept_time(k)) for k in range(self.num_frames)],
                }
                for o in self.objects
            ],
            "offscreen": None
            if self.offscreen is None
            else {"class": self.offscreen.name, "windows": list(self.offscreen_windows)},
            "audible": [self.audible(k) for k in range(self.num_frames)],
        }


def _gate(windows: tuple[bool, ...], n: int, sample_rate: int, ramp_s: float = 0.01) -> np.ndarray:
    """(n,) 0..1 envelope: 1 inside sounding windows, raised-cosine ramps of `ramp_s` at on/off edges."""
    per = int(round(sample_rate / FPS))
    gate = np.repeat(np.array(windows, dtype=np.float64), per)[:n]
    if len(gate) < n:
        gate = np.pad(gate, (0, n - len(gate)))
    r = max(int(ramp_s * sample_rate), 1)
    kernel = np.hanning(2 * r + 1)
    kernel /= kernel.sum()
    return np.convolve(np.pad(gate, r, mode="edge"), kernel, mode="valid")[:n]


def class_sound(cls: SynthClass, *, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) float64 continuous sound of a class with unit RMS (before gating)."""
    t = np.arange(n) / sample_rate
    f = cls.freq_hz
    if cls.sound == "tone":
        x = np.sin(2 * np.pi * f * t) + 0.35 * np.sin(2 * np.pi * 2 * f * t)
    elif cls.sound == "chirp":
        period, length = 0.3, 0.18
        tau = np.mod(t, period)
        phase = 2 * np.pi * (f * tau + f * tau**2 / (2 * length))  # instantaneous frequency f → 2f
        window = np.where(tau < length, np.sin(np.pi * np.clip(tau / length, 0, 1)) ** 2, 0.0)
        x = np.sin(phase) * window
    elif cls.sound == "noise_burst":
        noise = rng.normal(0.0, 1.0, size=n)
        spectrum = np.fft.rfft(noise)
        freqs = np.fft.rfftfreq(n, 1 / sample_rate)
        spectrum[(freqs < f / 3) | (freqs > f * 3)] = 0
        band = np.fft.irfft(spectrum, n=n)
        tau = np.mod(t, 0.35)
        x = band * np.where(tau < 0.15, np.exp(-tau / 0.05), 0.0)
    elif cls.sound == "am_tone":
        carrier = sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3, 4))
        x = carrier * (0.6 + 0.4 * np.sin(2 * np.pi * 8.0 * t))
    else:
        raise ValueError(f"unknown sound {cls.sound!r}")
    rms = float(np.sqrt(np.mean(x * x)))
    return x / rms if rms > 0 else x


# ---------------------------------------------------------------------------------------------- sampling


def _contiguous(rng: np.random.Generator, num_frames: int, *, min_len: int) -> tuple[bool, ...]:
    length = int(rng.integers(min(min_len, num_frames), num_frames + 1))
    start = int(rng.integers(0, num_frames - length + 1))
    return tuple(start <= k < start + length for k in range(num_frames))


def sample_clip(
    rng: np.random.Generator, *, vid: str, split: str, layout: str, num_frames: int, size: int
) -> SynthClip:
    """Draw one clip's composition. s4: 1 source; ms3: 2–3; avss: 1 or 2–3 (half each)."""
    scale = size / 224
    if layout == "s4":
        n_sources = 1
    elif layout == "ms3":
        n_sources = int(rng.integers(2, 4))
    else:
        n_sources = 1 if rng.random() < 0.5 else int(rng.integers(2, 4))
    n_distractors = int(rng.integers(1, 3))
    source_classes = rng.choice(len(SYNTH_CLASSES), size=n_sources, replace=False)
    windows = [_contiguous(rng, num_frames, min_len=2 if n_sources == 1 else 1) for _ in range(n_sources)]
    distractor_classes = rng.integers(0, len(SYNTH_CLASSES), size=n_distractors)

    objects: list[SynthObject] = []
    placed: list[tuple[float, float, float]] = []
    specs = [(int(c), w) for c, w in zip(source_classes, windows, strict=True)]
    specs += [(int(c), (False,) * num_frames) for c in distractor_classes]
    for class_index, sounding in specs:
        radius = float(rng.uniform(16, 26)) * scale
        margin = radius * (1 + _PULSE) + 1
        for _ in range(100):
            x, y = (float(v) for v in rng.uniform(margin, size - margin, size=2))
            if all(math.hypot(x - px, y - py) > radius + pr + 4 * scale for px, py, pr in placed):
                break
        placed.append((x, y, radius))
        angle = float(rng.uniform(0, 2 * math.pi))
        if any(sounding):
            speed, drift = float(rng.uniform(28, 45)) * scale, 0.0
        elif rng.random() < 0.4:  # a silent wanderer: moves all the time, never sounds
            speed, drift = 0.0, float(rng.uniform(15, 30)) * scale
        else:
            speed, drift = 0.0, float(rng.uniform(0, 2)) * scale
        drift_angle = float(rng.uniform(0, 2 * math.pi))
        objects.append(
            SynthObject(
                cls=SYNTH_CLASSES[class_index],
                radius=radius,
                start=(x, y),
                velocity=(speed * math.cos(angle), speed * math.sin(angle)),
                drift=(drift * math.cos(drift_angle), drift * math.sin(drift_angle)),
                sounding=sounding,
                pulse_hz=float(rng.uniform(2.3, 3.7)),
                frame_size=size,
            )
        )
    # Drawing order: shuffled, so sources are sometimes partly hidden by distractors.
    order = rng.permutation(len(objects))
    objects = [objects[i] for i in order]

    offscreen: SynthClass | None = None
    off_windows = (False,) * num_frames
    if rng.random() < 0.4:
        unused = [i for i in range(len(SYNTH_CLASSES)) if i not in set(int(c) for c in source_classes)]
        if unused:
            offscreen = SYNTH_CLASSES[int(rng.choice(unused))]
            silent = [k for k in range(num_frames) if not any(o.sounding[k] for o in objects)]
            if silent:
                chosen = {k for k in silent if rng.random() < 0.7} or {silent[int(rng.integers(len(silent)))]}
            else:
                chosen = {int(rng.integers(num_frames))}
            off_windows = tuple(k in chosen for k in range(num_frames))

    tone = rng.uniform(60, 200, size=3)
    top = tuple(int(v) for v in tone)
    bottom = tuple(int(v) for v in np.clip(tone + rng.uniform(-50, 50, size=3), 30, 225))
    return SynthClip(
        vid=vid,
        split=split,
        num_frames=num_frames,
        size=size,
        objects=tuple(objects),
        offscreen=offscreen,
        offscreen_windows=off_windows,
        background=(top, bottom),  # type: ignore[arg-type]
        noise_seed=int(rng.integers(2**31)),
        layout=layout,
    )


def assign_splits(n: int, *, seed: int, weights: tuple[tuple[str, float], ...] = DEFAULT_SPLITS) -> list[str]:
    """Seeded split of n clips: counts by largest remainder of n · weight, then a seeded shuffle."""
    total = sum(w for _, w in weights)
    if total <= 0 or any(w < 0 for _, w in weights):
        raise ValueError(f"split weights must be ≥ 0 with a positive sum, got {weights}")
    exact = [n * w / total for _, w in weights]
    counts = [int(math.floor(e)) for e in exact]
    for i in sorted(range(len(weights)), key=lambda i: counts[i] - exact[i])[: n - sum(counts)]:
        counts[i] += 1
    labels = [name for (name, _), c in zip(weights, counts, strict=True) for _ in range(c)]
    rng = np.random.default_rng([seed, _SPLIT_STREAM])
    return [labels[i] for i in rng.permutation(n)]


def make_clips(
    *,
    clips: int,
    seed: int,
    layout: str,
    frames: int = 5,
    size: int = 224,
    splits: tuple[tuple[str, float], ...] = DEFAULT_SPLITS,
) -> list[SynthClip]:
    """Sample `clips` clips (no files written). vid of clip i: `synth{seed}_{i:04d}`."""
    if layout not in PROTOCOLS:
        raise ValueError(f"layout must be one of {PROTOCOLS}, got {layout!r}")
    if clips < 1:
        raise ValueError(f"clips must be ≥ 1, got {clips}")
    if frames < 1:
        raise ValueError(f"frames must be ≥ 1, got {frames}")
    if size < 64 or size % 2:
        raise ValueError(f"size must be an even number of pixels ≥ 64 (h264 yuv420p), got {size}")
    assigned = assign_splits(clips, seed=seed, weights=splits)
    return [
        sample_clip(
            np.random.default_rng([seed, i]),
            vid=f"synth{seed}_{i:04d}",
            split=assigned[i],
            layout=layout,
            num_frames=frames,
            size=size,
        )
        for i in range(clips)
    ]


# ---------------------------------------------------------------------------------------------- files


def write_mp4(path: str | Path, clip: SynthClip, *, audio: np.ndarray | None = None, crf: int = 18) -> Path:
    """Encode the clip as mp4: h264 (libx264, yuv420p, VIDEO_FPS) + AAC mono 16 kHz; duration = T seconds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = clip.audio() if audio is None else audio
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=VIDEO_FPS)
        video.width = video.height = clip.size
        video.pix_fmt = "yuv420p"
        video.codec_context.options = {"crf": str(crf), "preset": "veryfast"}
        video.codec_context.thread_count = 1  # deterministic bytes
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        sound.codec_context.bit_rate = 64000
        for i in range(int(round(clip.duration * VIDEO_FPS))):
            frame = av.VideoFrame.from_ndarray(clip.render(i / VIDEO_FPS), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        chunk = 1024
        for start in range(0, len(audio), chunk):
            piece = np.ascontiguousarray(audio[start : start + chunk], dtype=np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    return path


@dataclass
class SynthDataset:
    """What `generate_dataset` wrote: the clips, the layout root and each clip's mp4."""

    root: Path
    layout: str
    clips: list[SynthClip]
    videos: dict[str, Path] = field(default_factory=dict)


def generate_dataset(
    out: str | Path,
    *,
    clips: int,
    seed: int,
    layout: str,
    frames: int = 5,
    size: int = 224,
    splits: tuple[tuple[str, float], ...] = DEFAULT_SPLITS,
) -> SynthDataset:
    """Write `clips` synthetic clips below `out`: the AVSBench `layout`, `videos/{vid}.mp4` and a manifest.

    The manifest (`synth_manifest.json`) records the parameters and, per clip, its objects (class, shape,
    sounding windows, centre and scale at each kept time), off-screen sound and audible windows.
    """
    out = Path(out)
    made = make_clips(clips=clips, seed=seed, layout=layout, frames=frames, size=size, splits=splits)
    dataset = SynthDataset(root=out, layout=layout, clips=made)
    layout_clips = []
    for clip in made:
        audio = clip.audio()
        dataset.videos[clip.vid] = write_mp4(out / "videos" / f"{clip.vid}.mp4", clip, audio=audio)
        layout_clips.append(
            LayoutClip(
                vid=clip.vid,
                split=clip.split,
                frames=np.stack([clip.frame(k) for k in range(frames)]),
                audio=audio,
                labels=np.stack([clip.label_map(k) for k in range(frames)]),
                sample_rate=SAMPLE_RATE,
                category=clip.category,
                start=0,
                a_obj=clip.a_obj,
                subset=clip.subset,
            )
        )
    write_layout(out, layout_clips, protocol=layout)
    manifest = {
        "seed": seed,
        "layout": layout,
        "frames": frames,
        "size": size,
        "fps": FPS,
        "frame_position": FRAME_POSITION,
        "video_fps": VIDEO_FPS,
        "sample_rate": SAMPLE_RATE,
        "splits": [list(s) for s in splits],
        "classes": [{"name": c.name, "shape": c.shape, "sound": c.sound, "freq_hz": c.freq_hz} for c in SYNTH_CLASSES],
        "clips": [{**c.describe(), "video": f"videos/{c.vid}.mp4"} for c in made],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return dataset
