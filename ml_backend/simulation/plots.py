"""PNG plots of a simulation, drawn with Pillow (no plotting library needed).

- `learning_curves.png`: held-out mIoU against labelled clips, one panel per variant (human labels only; with the
  teacher's pseudo-labels), one line per strategy (mean over replicates) with a band of ± one standard deviation,
  the teacher's mean mIoU dashed;
- `self_training.png`: bars of the held-out mIoU of the teacher, the supervised student, the self-trained one and its
  second stage (mean over replicates, whiskers min..max).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (140, 86, 75), (23, 190, 207)]
BACKGROUND = (255, 255, 255)
INK = (30, 30, 30)
GRID = (225, 225, 225)
VARIANT_TITLES = {"supervised": "human labels only", "self_training": "human labels + teacher pseudo-labels"}


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _nice_range(low: float, high: float) -> tuple[float, float, float]:
    """(lo, hi, step) of a y axis covering [low, high] in steps of 0.05 or 0.1."""
    low, high = max(0.0, low), min(1.0, high)
    if high - low < 0.05:
        low, high = max(0.0, low - 0.05), min(1.0, high + 0.05)
    step = 0.05 if high - low <= 0.4 else 0.1
    lo = step * int(low / step)
    hi = step * (int(high / step - 1e-9) + 1)
    return lo, min(hi, 1.0), step


class _Axes:
    """A plotting area inside `box` (x0, y0, x1, y1 pixels) mapping data coordinates to pixels."""

    def __init__(self, box: tuple[int, int, int, int], xr: tuple[float, float], yr: tuple[float, float]) -> None:
        self.box, self.xr, self.yr = box, xr, yr

    def px(self, x: float, y: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        fx = (x - self.xr[0]) / ((self.xr[1] - self.xr[0]) or 1.0)
        fy = (y - self.yr[0]) / ((self.yr[1] - self.yr[0]) or 1.0)
        return x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)


def _frame(draw: ImageDraw.ImageDraw, axes: _Axes, xticks: Sequence[float], ystep: float, font, xlabel: str, ylabel):
    x0, y0, x1, y1 = axes.box
    y = axes.yr[0]
    while y <= axes.yr[1] + 1e-9:
        _, py = axes.px(axes.xr[0], y)
        draw.line([(x0, py), (x1, py)], fill=GRID)
        draw.text((x0 - 6, py), f"{y:.2f}", fill=INK, font=font, anchor="rm")
        y += ystep
    for x in xticks:
        px, _ = axes.px(x, axes.yr[0])
        draw.line([(px, y1), (px, y1 + 4)], fill=INK)
        draw.text((px, y1 + 6), f"{x:g}", fill=INK, font=font, anchor="mt")
    draw.rectangle([x0, y0, x1, y1], outline=INK)
    draw.text(((x0 + x1) / 2, y1 + 24), xlabel, fill=INK, font=font, anchor="mt")
    draw.text((x0 - 50, y0 - 16), ylabel, fill=INK, font=font, anchor="lm")


def _dashed(draw: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float], color, dash: int = 8) -> None:
    (xa, ya), (xb, yb) = a, b
    length = max(abs(xb - xa), abs(yb - ya), 1.0)
    steps = int(length // dash)
    for i in range(0, steps, 2):
        t0, t1 = i / steps, min((i + 1) / steps, 1.0)
        draw.line(
            [(xa + (xb - xa) * t0, ya + (yb - ya) * t0), (xa + (xb - xa) * t1, ya + (yb - ya) * t1)],
            fill=color,
            width=2,
        )


def learning_curves(path: str | Path, summary: Mapping[str, Any]) -> Path:
    """Write the learning-curve figure of a simulation summary (`report.summarise`) to `path`."""
    curves: Mapping[str, Mapping[str, Mapping[str, Any]]] = summary["active_learning"]["curves"]
    teacher = float(summary["self_training"]["teacher"])
    variants = list(curves)
    panel_w, panel_h, margin = 520, 380, 70
    width = margin + len(variants) * (panel_w + margin)
    height = panel_h + 150
    image = Image.new("RGBA", (width, height), BACKGROUND + (255,))
    font, title_font = _font(13), _font(16)
    lows, highs = [teacher], [teacher]
    for variant in variants:
        for curve in curves[variant].values():
            lows += [m - s for m, s in zip(curve["miou_mean"], curve["miou_std"], strict=True)]
            highs += [m + s for m, s in zip(curve["miou_mean"], curve["miou_std"], strict=True)]
    lo, hi, step = _nice_range(min(lows), max(highs))
    strategies = list(curves[variants[0]])
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(strategies)}
    for index, variant in enumerate(variants):
        x0 = margin + index * (panel_w + margin)
        box = (x0, 50, x0 + panel_w, 50 + panel_h)
        labelled = next(iter(curves[variant].values()))["labelled"]
        span = max(labelled) - min(labelled) or 1
        axes = _Axes(box, (min(labelled) - 0.03 * span, max(labelled) + 0.03 * span), (lo, hi))
        bands = Image.new("RGBA", image.size, (0, 0, 0, 0))
        band_draw = ImageDraw.Draw(bands)
        for name in curves[variant]:
            curve = curves[variant][name]
            upper = [
                axes.px(x, min(m + s, 1.0))
                for x, m, s in zip(labelled, curve["miou_mean"], curve["miou_std"], strict=True)
            ]
            lower = [
                axes.px(x, max(m - s, 0.0))
                for x, m, s in zip(labelled, curve["miou_mean"], curve["miou_std"], strict=True)
            ]
            if len(upper) > 1:
                band_draw.polygon(upper + lower[::-1], fill=colours[name] + (45,))
        image = Image.alpha_composite(image, bands)
        draw = ImageDraw.Draw(image)
        _frame(draw, axes, labelled, step, font, "labelled clips", "held-out mIoU")
        draw.text(
            ((box[0] + box[2]) / 2, 20), VARIANT_TITLES.get(variant, variant), fill=INK, font=title_font, anchor="mm"
        )
        _dashed(draw, axes.px(axes.xr[0], teacher), axes.px(axes.xr[1], teacher), (90, 90, 90))
        draw.text((box[2] - 4, axes.px(0, teacher)[1] + 4), "teacher", fill=(90, 90, 90), font=font, anchor="rt")
        for name in curves[variant]:
            points = [axes.px(x, m) for x, m in zip(labelled, curves[variant][name]["miou_mean"], strict=True)]
            if len(points) > 1:
                draw.line(points, fill=colours[name], width=3)
            for px, py in points:
                draw.ellipse([px - 3.5, py - 3.5, px + 3.5, py + 3.5], fill=colours[name])
    draw = ImageDraw.Draw(image)
    x = margin
    for name in strategies:
        draw.rectangle([x, height - 40, x + 18, height - 28], fill=colours[name])
        draw.text((x + 24, height - 34), name, fill=INK, font=font, anchor="lm")
        x += 40 + int(draw.textlength(name, font=font))
    seeds = len(summary.get("seeds", []))
    draw.text((width - margin, height - 34), f"mean of {seeds} seeds, band ± 1 std", fill=INK, font=font, anchor="rm")
    path = Path(path)
    image.convert("RGB").save(path)
    return path


def self_training_bars(path: str | Path, summary: Mapping[str, Any]) -> Path:
    """Write the self-training bar chart of a simulation summary to `path`."""
    block = summary["self_training"]
    metrics = block["metrics"]
    bars = [("teacher", "teacher (synchrony)"), ("supervised", f"student, {block['labelled_clips']} labelled clips")]
    if metrics.get("self_trained"):
        bars.append(("self_trained", f"+ pseudo-labels of {block['pseudo_clips']} clips"))
    if metrics.get("self_trained_two_stage"):
        bars.append(("self_trained_two_stage", "second stage"))
    width, height = 180 + 190 * len(bars), 470
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font, title_font = _font(13), _font(16)
    values = [metrics[key]["miou"] for key, _ in bars]
    lo, hi, step = _nice_range(min(v["min"] for v in values) - 0.05, max(v["max"] for v in values) + 0.05)
    lo = 0.0 if lo <= 0.3 else lo
    box = (90, 50, width - 40, height - 90)
    axes = _Axes(box, (0.0, float(len(bars))), (lo, hi))
    _frame(draw, axes, [], step, font, "", "held-out mIoU")
    draw.text((width / 2, 20), "self-training (held-out mIoU)", fill=INK, font=title_font, anchor="mm")
    for i, ((_, label), value) in enumerate(zip(bars, values, strict=True)):
        left, _ = axes.px(i + 0.2, lo)
        right, bottom = axes.px(i + 0.8, lo)
        _, top = axes.px(i, value["mean"])
        draw.rectangle([left, top, right, bottom], fill=PALETTE[i % len(PALETTE)])
        centre = (left + right) / 2
        _, y_min = axes.px(i, value["min"])
        _, y_max = axes.px(i, value["max"])
        draw.line([(centre, y_min), (centre, y_max)], fill=INK, width=2)
        draw.line([(centre - 8, y_min), (centre + 8, y_min)], fill=INK, width=2)
        draw.line([(centre - 8, y_max), (centre + 8, y_max)], fill=INK, width=2)
        draw.text((right + 4, top), f"{value['mean']:.3f}", fill=INK, font=font, anchor="lm")
        draw.text((centre, bottom + 8), label, fill=INK, font=font, anchor="mt")
    seeds = len(summary.get("seeds", []))
    draw.text((width / 2, height - 30), f"mean of {seeds} seeds, whiskers min..max", fill=INK, font=font, anchor="mm")
    path = Path(path)
    image.save(path)
    return path


def write_plots(out: str | Path, summary: Mapping[str, Any]) -> dict[str, str]:
    """Both figures into folder `out`; returns {name: file name}."""
    out = Path(out)
    learning_curves(out / "learning_curves.png", summary)
    self_training_bars(out / "self_training.png", summary)
    return {"learning_curves": "learning_curves.png", "self_training": "self_training.png"}
