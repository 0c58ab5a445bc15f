"""Pre-annotation proposes from a clip's stored frames and audio (read through the media storage, a chunk of
frames at a time): imported AVSBench clips, which have no source video, get proposals too; a clip over the frame
budget, or with a stored file gone, fails with a message while the others go on."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.utils._os import safe_join

from ml_backend.media.synth import generate_dataset, make_clips, write_mp4
from server.annotations.models import Proposal
from server.annotations.preannotation import preannotate_request, preannotate_run
from server.core.masks import rle_decode
from server.datasets.services.avsbench_import import avsbench_import
from server.jobs.models import Job
from server.media.models import Clip
from tests.server.preannotation.test_preannotate import CountingPropose, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported_clips(project, tmp_path) -> list[Clip]:
    """Two clips of a synthetic AVSBench S4 folder (64×64 PNG frames, a WAV each), imported: no source video."""
    root = tmp_path / "avsbench"
    generate_dataset(root, clips=2, seed=5, layout="s4", size=64, splits=(("test", 1.0),))
    report = avsbench_import(project=project, root=root, protocol="s4")
    assert [o.status for o in report.outcomes] == ["imported", "imported"], report.outcomes
    clips = list(Clip.objects.filter(project=project).order_by("id"))
    assert all(not clip.source.name and clip.has_audio for clip in clips)
    return clips


def test_imported_avsbench_clips_without_a_source_video_get_proposals(imported_clips, project, no_default_models):
    job = run(project)
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.result["counts"] == {"total": 2, "done": 2, "skipped": 0, "failed": 0}
    for clip in imported_clips:
        (proposal,) = Proposal.objects.filter(clip=clip)
        assert [f["frame_index"] for f in proposal.frames] == [0, 1, 2, 3, 4]
        masks = [rle_decode(i["mask"]) for f in proposal.frames for i in f["instances"]]
        assert masks and all(m.shape == (64, 64) and m.any() for m in masks)  # the moving sounding object


def test_imported_clips_get_openavs_proposals(imported_clips, tiny_project):
    job = run(tiny_project, clip_ids=[imported_clips[0].pk])
    assert job.result["counts"]["done"] == 1 and job.result["model_versions"][0]["kind"] == "openavs"
    (proposal,) = Proposal.objects.filter(clip=imported_clips[0])
    assert all(f["instances"] for f in proposal.frames)


def test_the_source_video_is_not_needed_once_the_clip_is_ingested(project, synth_clips, no_default_models):
    clip = synth_clips[0]
    Path(clip.source.path).unlink()  # e.g. sources cleaned up to save space: frames and audio remain
    job = run(project, clip_ids=[clip.pk])
    assert job.result["counts"]["done"] == 1, job.message
    (proposal,) = Proposal.objects.filter(clip=clip)
    assert len(proposal.frames) == clip.frames.count() == 5


def test_a_clip_over_the_frame_budget_fails_with_a_message_and_the_others_are_proposed(
    project, synth_clips, ingest_clip, no_default_models, settings, tmp_path
):
    (spec,) = make_clips(clips=1, seed=2, layout="s4", frames=3, size=64)
    short = ingest_clip(project, write_mp4(tmp_path / "short.mp4", spec))
    long = synth_clips[0]  # 5 frames
    settings.AVS_PREANNOTATE_MAX_FRAMES = 4
    propose = CountingPropose()

    job = run(project, clip_ids=[long.pk, short.pk], propose=propose)

    assert propose.calls == 1  # the long clip never reached a model
    entries = {e["clip"]: e for e in job.result["clips"]}
    assert entries[short.pk]["status"] == "done"
    assert entries[long.pk]["status"] == "failed"
    assert entries[long.pk]["error"].startswith(
        "The clip has 5 frames, more than the 4 that pre-annotation proposes for one clip "
        "(setting AVS_PREANNOTATE_MAX_FRAMES)"
    )
    assert job.status == Job.Status.SUCCEEDED and job.result["outcome"] == "succeeded_with_warnings"
    assert f"(clip {long.pk}): The clip has 5 frames" in job.message
    assert not Proposal.objects.filter(clip=long).exists() and Proposal.objects.filter(clip=short).count() == 1
    long.refresh_from_db()
    assert long.status == Clip.Status.READY and long.frames.count() == 5  # nothing of the clip is lost


def test_a_stored_frame_gone_from_media_storage_fails_that_clip_by_name(project, synth_clips, no_default_models):
    damaged = synth_clips[1]
    frame = damaged.frames.get(index=2)
    Path(frame.image.path).unlink()
    job = run(project)
    entries = {e["clip"]: e for e in job.result["clips"]}
    assert entries[damaged.pk]["status"] == "failed"
    assert entries[damaged.pk]["error"] == "Frame 2 is missing from media storage."
    assert job.result["counts"] == {"total": 3, "done": 2, "skipped": 0, "failed": 1}


class CountedFile(File):
    def __init__(self, file, storage: RemoteLikeStorage) -> None:
        super().__init__(file)
        self.storage = storage

    def close(self) -> None:
        if not self.closed:
            self.storage.open_now -= 1
        super().close()


class RemoteLikeStorage(FileSystemStorage):
    """Media storage without local paths (as S3): files only through `open` (which this one counts), `save`,
    `exists`, `listdir` and `delete`."""

    def __init__(self, location: str) -> None:
        super().__init__(location=location)
        self.opened: list[str] = []
        self.saved: list[str] = []
        self.open_now = 0
        self.most_open = 0

    def path(self, name: str) -> str:
        raise NotImplementedError("no local paths")

    def _local(self, name: str) -> str:
        return safe_join(self.location, name)

    def _save(self, name: str, content: File) -> str:
        target = Path(self._local(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            for chunk in content.chunks():
                out.write(chunk)
        self.saved.append(name)
        return name

    def exists(self, name: str) -> bool:
        return Path(self._local(name)).exists()

    def delete(self, name: str) -> None:
        Path(self._local(name)).unlink(missing_ok=True)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        entries = list(Path(self._local(path)).iterdir())
        return [e.name for e in entries if e.is_dir()], [e.name for e in entries if e.is_file()]

    def _open(self, name: str, mode: str = "rb") -> File:
        handle = open(safe_join(self.location, name), mode)  # noqa: SIM115 (closed by the reader)
        self.opened.append(name)
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        return CountedFile(handle, self)


def test_files_are_read_through_the_media_storage_one_at_a_time(project, synth_clips, no_default_models, settings):
    storage = RemoteLikeStorage(settings.MEDIA_ROOT)
    clip = synth_clips[0]
    job = preannotate_run(
        job_id=preannotate_request(project=project, clip_ids=[clip.pk], enqueue=False).pk, storage=storage
    )
    assert job.result["counts"]["done"] == 1, job.message
    frames = set(clip.frames.values_list("image", flat=True))
    assert frames <= set(storage.opened) and clip.audio.file.name in storage.opened
    assert clip.source.name not in storage.opened  # the source video is not read
    assert storage.most_open <= 2  # the audio track and one frame at a time
    assert storage.open_now == 0  # everything opened was closed
    (proposal,) = Proposal.objects.filter(clip=clip)  # its probability maps and evidence went through the storage
    kept = [entry["probability_map"]["path"] for entry in proposal.frames] + [proposal.evidence["path"]]
    assert storage.saved == kept and all(storage.exists(name) for name in kept)
