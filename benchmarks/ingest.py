"""Ingest speed: the real `clip_ingest` service against a bare PyAV decode of the same frames and audio.

    .venv/bin/python benchmarks/ingest.py [--repeat 3] [--fps 1] [CLIP.mp4 ...]

Sets Django up on its own (settings `server.config.settings.test`, a throwaway SQLite database and media
root in a temporary folder), then, for every demo clip, best of `--repeat` runs of:

- ours: `server.media.services.clip_ingest` — probe, decode at the project's fps (1 fps, max side 1280),
  JPEG (AVS_FRAME_JPEG_QUALITY) into storage, Frame rows, mono 16 kHz WAV + AudioTrack, job progress.
  The upload (hashing, header check, copy into storage) happens before and is not timed.
- bare: PyAV alone, no Django, nothing saved — decode every picture (threads on), convert the pictures
  the frame rule keeps to RGB arrays, resample the audio to mono 16 kHz.
- layer: `ml_backend.media.video` alone (iter_frames + decode_audio_mono), nothing saved — shows what the
  service adds on top of its own decoding.

Speeds are media seconds per wall second (× real time). Targets: ours/bare time ≤ 1.5; ≥ 20× real time on
the 720p clips.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = Path(os.environ.get("AVS_SHARED_DIR", ROOT.parent / "shared")) / "media" / "avsbench-demo"
FRAME_POSITION = 0.94


def bare_pyav(path: Path, *, fps: float, sample_rate: int) -> int:
    """Decode every picture, keep the frame rule's pictures as RGB arrays, resample the audio. Returns frames kept."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        duration = float(stream.duration * stream.time_base)
        n = max(1, int(duration * fps + 1e-6))
        kept, prev, k = [], None, 0
        for frame in container.decode(stream):
            while k < n and (k + FRAME_POSITION) / fps < frame.time:
                kept.append((prev or frame).to_ndarray(format="rgb24"))
                k += 1
            prev = frame
        while k < n:
            kept.append(prev.to_ndarray(format="rgb24"))
            k += 1
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        chunks = [out.to_ndarray() for frame in container.decode(audio=0) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray() for out in resampler.resample(None)]
        np.concatenate(chunks, axis=1)
    return len(kept)


def decode_layer(path: Path, *, fps: float, sample_rate: int, max_side: int) -> int:
    from ml_backend.media.video import decode_audio_mono, iter_frames

    frames = list(iter_frames(path, fps=fps, max_side=max_side))
    decode_audio_mono(path, sample_rate=sample_rate)
    return len(frames)


def timed(run: Callable[[], object]) -> float:
    """Wall seconds `run` takes."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", type=Path, help="Videos to ingest (default: every demo clip).")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per measurement; the best is kept.")
    parser.add_argument("--fps", type=float, default=1.0, help="Project frame rate.")
    args = parser.parse_args()
    clips = args.clips or sorted(DEMO_DIR.glob("*.mp4"))
    if not clips:
        sys.exit(f"no clips given and none found in {DEMO_DIR}")

    work = tempfile.TemporaryDirectory(prefix="avs-bench-ingest-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "server.config.settings.test"
    os.environ["DATABASE_URL"] = f"sqlite:///{work.name}/bench.sqlite3"
    os.environ["AVS_MEDIA_ROOT"] = f"{work.name}/media"
    os.environ["AVS_LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))

    import av
    import django

    django.setup()
    logging.getLogger().setLevel(logging.WARNING)

    from django.core.files import File
    from django.core.management import call_command

    from ml_backend.media.video import probe
    from server.media.models import Clip, Project
    from server.media.services import clip_create_from_file, clip_ingest

    call_command("migrate", verbosity=0)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info}), Python {platform.python_version()}, "
        f"{cores} cores, load average {os.getloadavg()[0]:.2f}; best of {args.repeat}, project fps {args.fps:g}"
    )

    def ours(path: Path, run: int) -> float:
        project = Project.objects.create(name=f"bench {path.stem} {run}", fps=args.fps)
        with path.open("rb") as handle:
            clip, job, _ = clip_create_from_file(project=project, file=File(handle), name=path.name, enqueue=False)
        start = time.perf_counter()
        clip_ingest(clip_id=clip.pk, job_id=job.pk)
        elapsed = time.perf_counter() - start
        clip.refresh_from_db()
        assert clip.status == Clip.Status.READY, clip.error
        return elapsed

    defaults = Project(fps=args.fps)  # the project settings ingest uses: max side 1280, 16 kHz audio
    infos = {path: probe(path) for path in clips}
    best: dict[tuple[Path, str], float] = {}
    # Rounds over every clip and method, so that a burst of load from another process hits all of them alike.
    for run in range(args.repeat):
        for path in clips:
            rate, side = defaults.audio_sample_rate, defaults.frame_max_side
            times = {
                "bare": timed(partial(bare_pyav, path, fps=args.fps, sample_rate=rate)),
                "layer": timed(partial(decode_layer, path, fps=args.fps, sample_rate=rate, max_side=side)),
                "ours": ours(path, run),
            }
            for method, seconds in times.items():
                best[path, method] = min(best.get((path, method), float("inf")), seconds)
    rows = [(path.name, infos[path], best[path, "bare"], best[path, "layer"], best[path, "ours"]) for path in clips]

    header = f"{'clip':<18}{'size':>10}{'media s':>9}{'bare s':>9}{'layer s':>9}{'ours s':>9}"
    header += f"{'bare ×RT':>10}{'ours ×RT':>10}{'ours/bare':>11}"
    print(header)
    for name, info, bare, layer, ours_time in rows:
        print(
            f"{name:<18}{f'{info.width}x{info.height}':>10}{info.duration:>9.2f}{bare:>9.3f}{layer:>9.3f}"
            f"{ours_time:>9.3f}{info.duration / bare:>10.1f}{info.duration / ours_time:>10.1f}{ours_time / bare:>11.2f}"
        )

    def total(label: str, selected: list) -> tuple[float, float]:
        media = sum(r[1].duration for r in selected)
        bare, layer, ours_time = (sum(r[i] for r in selected) for i in (2, 3, 4))
        print(
            f"{label:<28}{media:>9.2f}{bare:>9.3f}{layer:>9.3f}{ours_time:>9.3f}"
            f"{media / bare:>10.1f}{media / ours_time:>10.1f}{ours_time / bare:>11.2f}"
        )
        return media / ours_time, ours_time / bare

    _, ratio = total(f"all ({len(rows)} clips)", rows)
    hd = [r for r in rows if max(r[1].width, r[1].height) >= 1280]
    hd_speed = total(f"720p ({len(hd)} clips)", hd)[0] if hd else float("nan")
    print(f"ours/bare time: {ratio:.2f} (target ≤ 1.5: {'met' if ratio <= 1.5 else 'MISSED'})")
    if hd:
        print(f"720p ingest speed: {hd_speed:.1f}× real time (target ≥ 20×: {'met' if hd_speed >= 20 else 'MISSED'})")
    work.cleanup()


if __name__ == "__main__":
    main()
