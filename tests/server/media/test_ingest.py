"""Video ingest end to end: upload → clip → frames (JPEG) + mono WAV, through the services and the task.

Celery is eager in tests; `django_capture_on_commit_callbacks(execute=True)` runs the on-commit enqueue.
"""

from __future__ import annotations

import errno
import io
import math
import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.core.management import CommandError, call_command
from PIL import Image

from server.accounts.models import Role
from server.core.errors import ApplicationError
from server.jobs.models import Job
from server.media import tasks
from server.media.models import AudioTrack, Clip, Frame
from server.media.services import clip_create_from_file, clip_delete, clip_ingest
from tests.factories import ProjectFactory
from tests.media_files import (
    DEMO_720P,
    DEMO_SMALL,
    cut_tail,
    keep_head,
    make_marked_video,
    make_video,
    marker_corner,
    remux_faststart,
)

pytestmark = pytest.mark.django_db

NO_AUDIO_NOTE = "no audio track: later steps that need sound will refuse this clip"


def stored_files(root: Path) -> list[str]:
    """Every file under the media root, as sorted relative paths."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def frame_files(root: Path, clip: Clip) -> list[str]:
    return stored_files(root / f"projects/{clip.project_id}/clips/{clip.pk}")


@pytest.fixture
def upload(project, django_capture_on_commit_callbacks):
    """Upload a file into a project as the API would, running the queued ingest (eager Celery)."""

    def run(path: Path, *, name: str | None = None, into=None, **kwargs):
        with open(path, "rb") as handle, django_capture_on_commit_callbacks(execute=True):
            clip, job, created = clip_create_from_file(
                project=into or project, file=File(handle, name=path.name), name=name or path.name, **kwargs
            )
        clip.refresh_from_db()
        if job is not None:
            job.refresh_from_db()
        return clip, job, created

    return run


class BrokenStorage(FileSystemStorage):
    """Local storage whose `fail_at`-th save writes `partial_bytes` bytes and then raises `error`."""

    def __init__(self, *, fail_at: int, error: BaseException, partial_bytes: int = 0):
        super().__init__()
        self.fail_at, self.error, self.partial_bytes, self.saves = fail_at, error, partial_bytes, 0

    def _save(self, name, content):
        self.saves += 1
        if self.saves != self.fail_at:
            return super()._save(name, content)
        os.makedirs(os.path.dirname(self.path(name)), exist_ok=True)
        with open(self.path(name), "wb") as out:
            out.write(b"".join(content.chunks())[: self.partial_bytes])
        raise self.error


# --- the happy path ---------------------------------------------------------------------------------


def test_demo_clip_becomes_frames_and_a_mono_wav(project, media_root, django_capture_on_commit_callbacks):
    data = DEMO_SMALL.read_bytes()
    posted = TemporaryUploadedFile("street.mp4", "video/mp4", len(data), None)  # what a large upload arrives as
    posted.write(data)
    posted.seek(0)
    with django_capture_on_commit_callbacks(execute=True):
        clip, job, created = clip_create_from_file(project=project, file=posted, name="street.mp4")
    posted.close()  # as Django does after the request: the temporary file was moved into storage
    clip.refresh_from_db()
    job.refresh_from_db()

    assert created
    assert job.kind == Job.Kind.INGEST and job.target == clip
    assert (job.status, job.progress, job.message) == (Job.Status.SUCCEEDED, 100, "5 frames, 5.0 s of audio.")
    assert clip.status == Clip.Status.READY and clip.error == ""
    assert (clip.name, clip.size_bytes, clip.width, clip.height) == ("street.mp4", len(data), 320, 240)
    assert clip.duration == pytest.approx(5.005, abs=1e-3)
    assert clip.source_fps == pytest.approx(23.976, abs=1e-3) and clip.fps == 1.0 and clip.has_audio
    assert (media_root / clip.source.name).read_bytes() == data  # the source stays, byte for byte

    frames = list(clip.frames.order_by("index"))
    assert len(frames) == math.floor(clip.duration * clip.fps) == 5
    for k, frame in enumerate(frames):
        assert frame.index == k
        assert k <= frame.timestamp <= k + 0.94 and k + 0.94 - frame.timestamp < 1 / clip.source_fps
        assert frame.image.name == f"projects/{project.pk}/clips/{clip.pk}/frames/{k:05d}.jpg"
        with Image.open(media_root / frame.image.name) as image:
            assert (image.format, image.size) == ("JPEG", (320, 240)) == ("JPEG", (frame.width, frame.height))

    audio = AudioTrack.objects.get(clip=clip)
    assert audio.file.name == f"projects/{project.pk}/clips/{clip.pk}/audio.wav"
    with wave.open(str(media_root / audio.file.name)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.getnframes() == audio.num_samples == 80000
    assert (audio.sample_rate, audio.duration) == (16000, 5.0)


def test_frames_of_a_720p_clip_are_downscaled_to_the_project_max_side(upload, project, media_root):
    project.frame_max_side = 640
    project.save()
    clip, job, _ = upload(DEMO_720P)
    assert job.status == Job.Status.SUCCEEDED
    assert (clip.width, clip.height) == (1280, 720)  # the source's size
    assert {(f.width, f.height) for f in clip.frames.all()} == {(640, 360)}
    for frame in clip.frames.all():
        with Image.open(media_root / frame.image.name) as image:
            assert image.size == (640, 360)


def test_twice_the_project_fps_gives_twice_the_frames(upload):
    clip_1fps, *_ = upload(DEMO_SMALL, into=ProjectFactory(fps=1.0))
    clip_2fps, *_ = upload(DEMO_SMALL, into=ProjectFactory(fps=2.0))
    assert clip_1fps.frames.count() == 5 and clip_2fps.frames.count() == 10
    for frame in clip_2fps.frames.all():
        instant = (frame.index + 0.94) / 2
        assert frame.index / 2 <= frame.timestamp <= instant and instant - frame.timestamp < 0.05


def test_uploading_the_same_file_again_returns_the_existing_clip(upload, media_root):
    clip, job, created = upload(DEMO_SMALL, name="first.mp4")
    files_before = stored_files(media_root)
    again, no_job, created_again = upload(DEMO_SMALL, name="copy of first.mp4")
    assert created and not created_again
    assert again.pk == clip.pk and again.name == "first.mp4" and no_job is None
    assert Clip.objects.count() == 1 and Job.objects.count() == 1
    assert stored_files(media_root) == files_before  # nothing stored


def test_the_same_file_may_be_a_clip_of_two_projects(upload):
    first, *_ = upload(DEMO_SMALL, into=ProjectFactory())
    second, _, created = upload(DEMO_SMALL, into=ProjectFactory())
    assert created and second.pk != first.pk and second.status == Clip.Status.READY


def test_video_without_audio_is_ready_without_a_track(upload, tmp_path, media_root):
    clip, job, _ = upload(make_video(tmp_path / "silent.mp4", seconds=3.0, fps=10, codec="mpeg4"))
    assert clip.status == Clip.Status.READY and clip.has_audio is False
    assert clip.frames.count() == 3 and not AudioTrack.objects.filter(clip=clip).exists()
    assert job.status == Job.Status.SUCCEEDED and NO_AUDIO_NOTE in job.message
    assert not any(name.endswith(".wav") for name in stored_files(media_root))


@pytest.mark.parametrize(
    ("clockwise", "corner"), [(0, "top-left"), (90, "top-right"), (180, "bottom-right"), (270, "bottom-left")]
)
def test_a_rotated_video_is_stored_upright(
    upload, project, media_root, make_member, client_for, tmp_path, clockwise, corner
):
    """A phone video's display matrix is applied at ingest: frames, sizes and the clip's record are upright."""
    project.frame_max_side = 64
    project.save()
    path = make_marked_video(tmp_path / f"phone-{clockwise}.mp4", clockwise=clockwise, width=96, height=64)
    clip, job, _ = upload(path)
    assert job.status == Job.Status.SUCCEEDED, job.message
    upright = (64, 96) if clockwise in (90, 270) else (96, 64)
    stored = (43, 64) if clockwise in (90, 270) else (64, 43)  # longer side at the project's max side
    assert (clip.rotation, (clip.width, clip.height)) == (clockwise, upright)
    frames = list(clip.frames.order_by("index"))
    assert len(frames) == 2 and {(f.width, f.height) for f in frames} == {stored}
    for frame in frames:
        with Image.open(media_root / frame.image.name) as image:
            assert image.size == stored
            assert marker_corner(np.asarray(image.convert("RGB"))) == corner

    data = client_for(make_member(project, Role.ANNOTATOR)).get(f"/api/clips/{clip.pk}/").json()
    assert (data["rotation"], data["width"], data["height"]) == (clockwise, *upright)
    assert {(f["width"], f["height"]) for f in data["frames"]} == {stored}


def test_an_open_binary_file_or_an_in_memory_upload_works_too(project, django_capture_on_commit_callbacks):
    data = DEMO_SMALL.read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        clip, _, _ = clip_create_from_file(project=project, file=io.BytesIO(data), name="../../etc/raw.mp4")
        memory = SimpleUploadedFile("mem.mp4", data)
        same, _, created = clip_create_from_file(project=project, file=memory, name="mem.mp4")
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.name == "raw.mp4"  # only the last path component is kept
    assert "/etc/" not in clip.source.name and not created and same.pk == clip.pk


# --- refused uploads: nothing is stored -------------------------------------------------------------


def assert_nothing_stored(media_root: Path) -> None:
    assert Clip.objects.count() == 0 and Job.objects.count() == 0
    assert stored_files(media_root) == []


def test_empty_file_is_refused(upload, tmp_path, media_root):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ApplicationError) as err:
        upload(tmp_path / "empty.mp4")
    assert err.value.message == "The file is empty." and err.value.status == 400
    assert_nothing_stored(media_root)


def test_text_file_named_mp4_is_refused(upload, tmp_path, media_root):
    (tmp_path / "notes.mp4").write_text("meeting notes\n" * 100)
    with pytest.raises(ApplicationError) as err:
        upload(tmp_path / "notes.mp4")
    assert err.value.message.startswith("notes.mp4 is not a video file PyAV can read.")
    assert "could not be opened as a media container" in err.value.message
    assert_nothing_stored(media_root)


@pytest.mark.parametrize("cut", ["first 40% of the bytes", "last 2 kB cut off"])
def test_truncated_download_without_its_index_is_refused(upload, tmp_path, media_root, cut):
    # The demo clips keep their index ("moov") at the end of the file: a cut file loses it, or part of it.
    if cut.startswith("first"):
        path = keep_head(DEMO_SMALL, tmp_path / "partial.mp4", 0.4)
    else:
        path = cut_tail(DEMO_SMALL, tmp_path / "partial.mp4", 2000)
    with pytest.raises(ApplicationError) as err:
        upload(path)
    assert "partial.mp4 is not a video file PyAV can read" in err.value.message
    assert "truncated or corrupt" in err.value.message
    assert_nothing_stored(media_root)


def test_video_longer_than_the_limit_is_refused(upload, settings, media_root):
    settings.AVS_MAX_VIDEO_SECONDS = 3
    with pytest.raises(ApplicationError) as err:
        upload(DEMO_SMALL)
    assert "lasts 5.0 s" in err.value.message and "at most 3 s" in err.value.message
    assert "AVS_MAX_VIDEO_SECONDS" in err.value.message
    assert_nothing_stored(media_root)


def test_video_larger_than_the_limit_is_refused(upload, settings, media_root):
    settings.AVS_MAX_VIDEO_SIDE = 640
    with pytest.raises(ApplicationError) as err:
        upload(DEMO_720P)
    assert "1280x720" in err.value.message and "at most 640 pixels" in err.value.message
    assert "AVS_MAX_VIDEO_SIDE" in err.value.message
    assert_nothing_stored(media_root)


def test_failing_to_store_the_source_leaves_no_row_and_no_file(upload, media_root):
    storage = BrokenStorage(fail_at=1, error=OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), partial_bytes=50_000)
    with pytest.raises(ApplicationError) as err:
        upload(DEMO_SMALL, storage=storage)
    assert err.value.message == "The file could not be stored: No space left on device."
    assert storage.saves == 1  # it did write part of the file...
    assert_nothing_stored(media_root)  # ...and that part is gone


# --- failed ingests: the clip stays, failed, with its source and nothing half-written ---------------


def assert_failed_cleanly(clip: Clip, job: Job, media_root: Path, *, error: str) -> None:
    assert clip.status == Clip.Status.FAILED and error in clip.error
    assert job.status == Job.Status.FAILED and job.error == clip.error
    assert not Frame.objects.filter(clip=clip).exists() and not AudioTrack.objects.filter(clip=clip).exists()
    assert frame_files(media_root, clip) == []
    assert stored_files(media_root) == [clip.source.name]  # only the source is left, for the user to see


@pytest.mark.parametrize("cut", ["first 40% of the bytes", "last 100 kB cut off"])
def test_truncated_video_fails_without_leaving_frames(upload, tmp_path, media_root, cut):
    full = remux_faststart(DEMO_720P, tmp_path / "full.mp4")  # index first, so the cut file still opens
    if cut.startswith("first"):
        path = keep_head(full, tmp_path / "cut.mp4", 0.4)
    else:
        path = cut_tail(full, tmp_path / "cut.mp4", 100_000)
    clip, job, created = upload(path)
    assert created
    assert_failed_cleanly(clip, job, media_root, error="the file is truncated or corrupt")
    assert "but the file says it lasts 5.0 s" in clip.error


def test_limit_lowered_while_the_clip_waited_fails_the_ingest(upload, settings, media_root):
    clip, job, _ = upload(DEMO_SMALL, enqueue=False)
    assert clip.status == Clip.Status.UPLOADED and job.status == Job.Status.QUEUED
    settings.AVS_MAX_VIDEO_SECONDS = 2
    clip_ingest(clip_id=clip.pk, job_id=job.pk)
    clip.refresh_from_db()
    job.refresh_from_db()
    assert_failed_cleanly(clip, job, media_root, error="videos may last at most 2 s (setting AVS_MAX_VIDEO_SECONDS)")


def test_storage_failing_midway_removes_the_frames_already_written(upload, media_root):
    clip, job, _ = upload(DEMO_SMALL, enqueue=False)
    storage = BrokenStorage(fail_at=4, error=OSError(errno.EIO, "disk went away"), partial_bytes=10)
    clip_ingest(clip_id=clip.pk, job_id=job.pk, storage=storage)
    clip.refresh_from_db()
    job.refresh_from_db()
    assert storage.saves == 4  # three frames were written, the fourth half-written
    assert_failed_cleanly(clip, job, media_root, error="Ingest failed unexpectedly (OSError")


def test_soft_time_limit_fails_the_job_with_a_readable_message(upload, media_root, monkeypatch):
    clip, job, _ = upload(DEMO_SMALL, enqueue=False)
    storage = BrokenStorage(fail_at=3, error=SoftTimeLimitExceeded())
    monkeypatch.setattr(tasks, "clip_ingest", lambda **ids: clip_ingest(**ids, storage=storage))
    tasks.clip_ingest_task.delay(clip.pk, job.pk)
    clip.refresh_from_db()
    job.refresh_from_db()
    assert_failed_cleanly(clip, job, media_root, error="Ingest was stopped after 120 minutes, the time limit")


def test_rerun_after_a_crash_clears_the_partial_output_first(upload, media_root):
    clip, job, _ = upload(DEMO_SMALL, enqueue=False)
    # A worker died mid-ingest: the clip is "processing" with stray frames, and the task is redelivered.
    stray = f"projects/{clip.project_id}/clips/{clip.pk}/frames/00042.jpg"
    (media_root / stray).parent.mkdir(parents=True)
    (media_root / stray).write_bytes(b"half a jpeg")
    Frame.objects.create(clip=clip, index=42, timestamp=42.9, image=stray, width=1, height=1)
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.PROCESSING)

    tasks.clip_ingest_task.delay(clip.pk, job.pk)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY
    assert sorted(clip.frames.values_list("index", flat=True)) == [0, 1, 2, 3, 4]
    assert f"projects/{clip.project_id}/clips/{clip.pk}/frames/00042.jpg" not in frame_files(media_root, clip)
    assert len(frame_files(media_root, clip)) == 6  # 5 frames + audio.wav

    # Delivered once more after it finished: the ready clip (and annotations on its frames) stay as they are.
    frame_ids = set(clip.frames.values_list("pk", flat=True))
    clip_ingest(clip_id=clip.pk, job_id=job.pk)
    assert set(Clip.objects.get(pk=clip.pk).frames.values_list("pk", flat=True)) == frame_ids


def test_deleting_a_clip_removes_its_rows_and_every_file(upload, media_root, django_capture_on_commit_callbacks):
    clip, *_ = upload(DEMO_SMALL)
    kept, *_ = upload(DEMO_720P)
    assert len(frame_files(media_root, clip)) == 6
    with django_capture_on_commit_callbacks(execute=True):
        clip_delete(clip=clip)
    assert not Clip.objects.filter(pk=clip.pk).exists()
    assert (
        not Frame.objects.filter(clip_id=clip.pk).exists() and not AudioTrack.objects.filter(clip_id=clip.pk).exists()
    )
    kept_files = [kept.source.name, kept.audio.file.name, *(f.image.name for f in kept.frames.all())]
    assert stored_files(media_root) == sorted(kept_files)  # the other clip's files are untouched


# --- the management command -------------------------------------------------------------------------


def test_ingest_command_reports_each_file(project, tmp_path):
    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    shutil.copyfile(DEMO_SMALL, folder / "a.mp4")
    shutil.copyfile(DEMO_SMALL, folder / "sub" / "same-as-a.MOV")
    (folder / "broken.mp4").write_text("not a video")
    (folder / "readme.txt").write_text("ignored: not a video extension")
    out = io.StringIO()

    with pytest.raises(CommandError, match="1 of 3 paths could not be ingested"):
        call_command("ingest", "--project", project.name, str(folder), "--sync", stdout=out)
    clip = Clip.objects.get()
    lines = out.getvalue().splitlines()
    assert lines[0] == f"{folder / 'a.mp4'}: new clip {clip.pk}: 5 frames, 5.0 s of audio."
    assert lines[1].startswith(f"{folder / 'broken.mp4'}: error: broken.mp4 is not a video file PyAV can read.")
    assert lines[2] == f"{folder / 'sub' / 'same-as-a.MOV'}: already in project as clip {clip.pk} (ready)"
    assert lines[3] == f'1 new, 1 already in the project, 1 failed (project "{project.name}").'
    assert clip.status == Clip.Status.READY and clip.frames.count() == 5


def test_ingest_command_queues_through_celery_without_sync(project, tmp_path, django_capture_on_commit_callbacks):
    path = make_video(tmp_path / "clip.mp4", seconds=2.0, audio_rate=22050)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        call_command("ingest", "--project", project.name, str(path), stdout=out)
    assert len(callbacks) == 1  # the enqueue, run by eager Celery here
    clip = Clip.objects.get()
    assert clip.status == Clip.Status.READY and clip.frames.count() == 2 and clip.audio.duration == pytest.approx(2.0)
    assert out.getvalue().endswith(f'1 new, 0 already in the project, 0 failed (project "{project.name}").\n')


def test_ingest_command_names_a_missing_project(project):
    with pytest.raises(CommandError, match=rf'There is no project named "nope" \(projects: "{project.name}"\)'):
        call_command("ingest", "--project", "nope", str(DEMO_SMALL))
