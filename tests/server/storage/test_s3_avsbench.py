"""AVSBench import and export with media in an S3-compatible bucket (moto_server on 127.0.0.1): `manage.py
import_avsbench` stores frames, audio and ground truth in the bucket (once: importing again adds nothing); an
AVSBench export job runs on a real Celery worker with an empty media folder of its own, which reads the frames and
audio from the bucket and writes the zip there; members download it (streamed, or a presigned redirect), and the
archive is the dataset again: the same layout, masks, frames byte for byte, and audio; it imports into another
project as it is. No media file is written to a local media folder."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest
import requests
from django.core.management import call_command

from ml_backend.media.synth import generate_dataset
from ml_backend.serving.datasets import METADATA_FILES, read_ground_truth, read_layout, read_wav
from server.accounts.models import Role
from server.annotations.models import Annotation
from server.datasets.models import Export
from server.jobs.models import Job
from server.media.models import AudioTrack, Clip
from tests.factories import ProjectFactory, UserFactory
from tests.server.storage.conftest import local_files, wait_for_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """`datasets(protocol)`: a 6-clip synthetic AVSBench layout of 64×64 frames (exact masks), written once."""
    made = {}

    def get(protocol: str):
        if protocol not in made:
            made[protocol] = tmp_path_factory.mktemp(f"synth_{protocol}")
            generate_dataset(made[protocol], clips=6, seed=3, layout=protocol, size=64)
        return made[protocol]

    return get


def import_avsbench(project, root, protocol: str) -> str:
    out = io.StringIO()
    call_command("import_avsbench", "--project", project.name, "--root", str(root), "--protocol", protocol, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("protocol", "rate"),
    [("s4", 16000), ("avss", 22050)],  # AVSS: JPEG frames, colour masks, audio resampled on import and on export
)
def test_avsbench_import_and_export_through_the_bucket(
    protocol,
    rate,
    datasets,
    media_bucket,
    start_worker,
    make_member,
    client_for,
    settings,
    tmp_path,
    media_root,
    django_capture_on_commit_callbacks,
):
    project = ProjectFactory(audio_sample_rate=rate)
    root = datasets(protocol)
    originals = {r.vid: r for r in read_layout(root, protocol=protocol)}

    # Import: every clip's frames (the dataset's files, byte for byte) and audio go to the bucket.
    out = import_avsbench(project, root, protocol)
    assert "6 imported, 0 already in the project, 0 failed (of 6 clips)" in out, out
    clips = {clip.name: clip for clip in Clip.objects.filter(project=project)}
    assert clips.keys() == originals.keys()
    for vid, record in originals.items():
        clip = clips[vid]
        assert clip.status == Clip.Status.READY and clip.has_audio
        folder = f"projects/{project.pk}/clips/{clip.pk}"
        suffix = record.frame_paths[0].suffix
        frame_keys = [f"{folder}/frames/{k:05d}{suffix}" for k in range(record.num_frames)]
        assert media_bucket.keys(f"{folder}/") == [f"{folder}/audio.wav", *frame_keys]
        for key, path in zip(frame_keys, record.frame_paths, strict=True):
            assert media_bucket.read(key) == path.read_bytes()
        audio = AudioTrack.objects.get(clip=clip)
        wav = tmp_path / f"{clip.pk}.wav"
        wav.write_bytes(media_bucket.read(audio.file.name))
        samples, stored_rate = read_wav(wav)
        assert stored_rate == audio.sample_rate == rate and samples.size == audio.num_samples
        assert Annotation.objects.filter(clip=clip, status=Annotation.Status.ACCEPTED).count() == len(
            record.labelled_frames
        )
    stored = media_bucket.keys()

    # Importing again finds every clip by its checksum: nothing new, in the database or in the bucket.
    out = import_avsbench(project, root, protocol)
    assert "0 imported, 6 already in the project, 0 failed (of 6 clips)" in out, out
    assert Clip.objects.filter(project=project).count() == 6 and media_bucket.keys() == stored

    # Export: a worker that shares no folder with us reads the media from the bucket and stores the zip there.
    worker = start_worker("exporter", queues=("ingest",))
    manager = client_for(make_member(project, Role.MANAGER))
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(f"/api/projects/{project.pk}/exports/", {"format": "avsbench"}, format="json")
    assert response.status_code == 202, response.content
    job = wait_for_job(response.json()["id"], worker=worker)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert "Exported 6 clips" in job.message and f"(avsbench {protocol})" in job.message
    export = Export.objects.get(job=job)
    assert export.file.name in media_bucket.keys(f"projects/{project.pk}/exports/")
    archive_bytes = media_bucket.read(export.file.name)
    assert export.size_bytes == len(archive_bytes)

    # Download: outsiders get nothing; a member gets the zip streamed from the bucket ...
    assert client_for(UserFactory()).get(f"/api/exports/{job.pk}/download/").status_code == 404
    annotator = client_for(make_member(project, Role.ANNOTATOR))
    download = annotator.get(f"/api/exports/{job.pk}/download/")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert download["Content-Disposition"].startswith("attachment;")
    downloaded = b"".join(download.streaming_content)
    assert downloaded == archive_bytes
    # ... or a short-lived presigned redirect to it.
    settings.AVS_MEDIA_DELIVERY = "redirect"
    redirect = annotator.get(f"/api/exports/{job.pk}/download/")
    assert redirect.status_code == 302 and re.search(r"X-Amz-Expires=\d+", redirect["Location"])
    fetched = requests.get(redirect["Location"], timeout=30)
    assert fetched.status_code == 200 and fetched.content == archive_bytes

    # The archive is the dataset again.
    exported = tmp_path / "exported"
    with zipfile.ZipFile(io.BytesIO(downloaded)) as archive:
        archive.extractall(exported)
    copies = {r.vid: r for r in read_layout(exported, protocol=protocol)}
    assert copies.keys() == originals.keys()
    for vid, original in originals.items():
        copy = copies[vid]
        assert (copy.split, copy.num_frames, copy.labelled_frames) == (
            original.split,
            original.num_frames,
            original.labelled_frames,
        )
        assert np.array_equal(read_ground_truth(copy), read_ground_truth(original))
        for a, b in zip(copy.frame_paths, original.frame_paths, strict=True):
            assert a.read_bytes() == b.read_bytes()
        samples, sample_rate = read_wav(copy.audio_path)
        expected, _ = read_wav(original.audio_path)
        assert sample_rate == 16000 and samples.size == expected.size
        if rate == 16000:
            assert np.array_equal(samples, expected)
        else:  # through the project's rate and back
            assert np.corrcoef(samples, expected)[0, 1] > 0.9
    assert (exported / METADATA_FILES[protocol]).read_text() == (root / METADATA_FILES[protocol]).read_text()

    # It imports into another project as it is.
    other = ProjectFactory(audio_sample_rate=rate)
    out = import_avsbench(other, exported, protocol)
    assert "6 imported, 0 already in the project, 0 failed (of 6 clips)" in out, out
    ground_truth = {
        p: sorted(Annotation.objects.filter(clip__project=p).values_list("external_id", "instances"))
        for p in (project, other)
    }
    assert ground_truth[other] == ground_truth[project]

    # Nothing went through a local media folder.
    assert local_files(media_root) == []
    assert local_files(worker.media_folder) == []
