"""Mask propagation through the API: POST /api/clips/{id}/propagations/ queues the tiny random SAM 2 video tracker
(eager Celery: it runs when the request's transaction commits), GET shows the propagated frames with their sounding
and confidence flags, POST /api/propagations/{id}/accept/ writes them into the frames' annotations, all or nothing.

The clip's audio is silent in some windows and the configuration's CLAP vocabulary has one entry ("Dog"), so the
label "dog" sounds exactly in the audible windows (`propagation_world`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from server.accounts.models import Role
from server.annotations.models import Annotation, AnnotationRevision, Propagation
from server.core.masks import rle_decode, rle_encode
from server.jobs.models import Job
from tests.server.annotations.propagation_world import (
    FRAMES,
    LABEL,
    SILENT_WINDOWS,
    H,
    W,
    propagate_body,
    square,
    store_clip,
    tracker_config,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(settings, tiny_model_config):
    settings.AVS_MODEL_CONFIG = str(tracker_config(tiny_model_config))
    return settings.AVS_MODEL_CONFIG


@pytest.fixture
def clip(project):
    return store_clip(project)


@pytest.fixture
def annotator(project, make_member):
    return make_member(project, role=Role.ANNOTATOR)


@pytest.fixture
def client(annotator, client_for):
    return client_for(annotator)


@pytest.fixture
def propagate(client, django_capture_on_commit_callbacks):
    """POST a propagation and let its task run (eager, on commit); returns (response, the propagation's GET)."""

    def post(clip, **changes):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/clips/{clip.pk}/propagations/", propagate_body(**changes), format="json")
        if response.status_code != 202:
            return response, None
        return response, client.get(f"/api/propagations/{response.json()['id']}/").json()

    return post


def accept(client, propagation_id, **body):
    return client.post(f"/api/propagations/{propagation_id}/accept/", body, format="json")


# --- propagating ---------------------------------------------------------------------------------------


def test_masks_painted_on_frame_0_are_propagated_to_the_following_frames(clip, configured, propagate):
    response, done = propagate(clip)

    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["kind"] == "propagation" and queued["status"] == "queued" and queued["frames"] == []
    assert (queued["source_frame_index"], queued["start_frame_index"], queued["end_frame_index"]) == (0, 0, FRAMES - 1)
    assert queued["tracker"] == "sam2_video" and queued["job"]["kind"] == "propagate"
    assert queued["instances"] == [{"track": 0, "label": LABEL, "mask": rle_encode(square(0))}]

    assert done["status"] == "succeeded" and done["progress"] == 1.0, done["error"]
    assert done["job"]["progress"] == 100 and "Propagated 5 frames" in done["message"]
    assert [f["frame_index"] for f in done["frames"]] == list(range(FRAMES))
    for frame in done["frames"]:
        (instance,) = frame["instances"]
        assert instance["mask"]["size"] == [H, W] and instance["track"] == 0 and instance["label"] == LABEL
        assert instance["area"] == int(rle_decode(instance["mask"]).sum()) > 0
        assert instance["confidence"] >= 0.5 and instance["low_confidence"] is False
        # silent windows: tracked but not sounding, and the frame says so
        audible = frame["frame_index"] not in SILENT_WINDOWS
        assert instance["sounding"] is audible and frame["silent"] is not audible
        if audible:
            assert instance["provenance"]["supported_by"] == ["Dog"]
        else:
            assert "silent window" in instance["provenance"]["reason"]
    assert rle_decode(done["frames"][0]["instances"][0]["mask"]).tolist() == square(0).tolist()


def test_backward_to_an_end_frame(clip, configured, propagate):
    _, done = propagate(clip, frame_index=4, direction="backward", end_frame_index=2)
    assert done["status"] == "succeeded"
    assert [f["frame_index"] for f in done["frames"]] == [4, 3, 2]
    assert (done["start_frame_index"], done["end_frame_index"]) == (2, 4)


def test_to_the_clip_s_end_stops_at_the_frame_budget(clip, configured, propagate, settings):
    settings.AVS_PROPAGATION_MAX_FRAMES = 3
    _, done = propagate(clip)
    assert [f["frame_index"] for f in done["frames"]] == [0, 1, 2] and done["end_frame_index"] == 2


def test_a_low_confidence_threshold_flags_frames_for_a_look(clip, settings, tiny_model_config, propagate):
    settings.AVS_MODEL_CONFIG = str(tracker_config(tiny_model_config, "strict", min_confidence=0.99))
    _, done = propagate(clip)
    assert done["frames"][0]["low_confidence"] is False  # the annotator's own masks
    assert all(f["low_confidence"] for f in done["frames"][1:])


def test_the_project_s_model_configuration_is_used(clip, settings, tiny_model_config, propagate):
    settings.AVS_MODEL_CONFIG = ""
    clip.project.model_config = str(tracker_config(tiny_model_config))
    clip.project.save(update_fields=["model_config"])
    _, done = propagate(clip)
    assert done["status"] == "succeeded"


def test_a_list_of_the_clip_s_propagations_newest_first(clip, configured, propagate, client):
    first, _ = propagate(clip)
    second, _ = propagate(clip, frame_index=2)
    listed = client.get(f"/api/clips/{clip.pk}/propagations/").json()
    assert [p["id"] for p in listed["results"]] == [second.json()["id"], first.json()["id"]]


# --- unavailable, refused, failed --------------------------------------------------------------------------


def test_without_a_configuration_the_action_says_why(clip, settings, propagate):
    settings.AVS_MODEL_CONFIG = ""
    response, _ = propagate(clip)
    assert response.status_code == 503
    message = response.json()["message"]
    assert message.startswith("Propagation is not available") and "AVS_MODEL_CONFIG" in message
    assert "models.tracker" in message
    assert not Propagation.objects.exists() and not Job.objects.filter(kind=Job.Kind.PROPAGATE).exists()


def test_a_configuration_without_a_tracker_is_a_503_naming_models_tracker(clip, settings, tiny_model_config, propagate):
    data = json.loads(tiny_model_config.read_text())
    data["models"].pop("tracker")
    path = tiny_model_config.parent / "config-without-tracker.json"
    path.write_text(json.dumps(data))
    settings.AVS_MODEL_CONFIG = str(path)
    response, _ = propagate(clip)
    assert response.status_code == 503
    assert "has no models.tracker" in response.json()["message"]
    assert "AVS_MODEL_CONFIG" in response.json()["message"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"instances": [{"mask": rle_encode(np.ones((10, 10), bool)), "label": LABEL}]}, "instances[0].mask"),
        ({"instances": [{"mask": rle_encode(np.zeros((H, W), bool)), "label": LABEL}]}, "instances[0].mask is empty"),
        ({"instances": []}, "instances must list 1 or more"),
        ({"instances": [{"mask": rle_encode(square(0)), "label": LABEL}] * 21}, "at most 20 instances"),
        ({"instances": [{"mask": rle_encode(square(0)), "label": ""}]}, "instances[0].label must be a non-empty"),
        ({"frame_index": 9}, "frame_index 9 is not a frame of this clip (its frames are 0 to 5)"),
        ({"end_frame_index": 8}, "end_frame_index 8 is not a frame of this clip"),
        ({"frame_index": 3, "end_frame_index": 1}, "end_frame_index 1 must come after frame_index 3"),
        ({"frame_index": 5}, "frame_index 5 is the clip's last frame: there is nothing to propagate forward"),
        ({"direction": "backward"}, "frame_index 0 is the clip's first frame"),
    ],
)
def test_bad_input_is_a_400_saying_what_to_fix(clip, configured, propagate, changes, message):
    response, _ = propagate(clip, **changes)
    assert response.status_code == 400, response.content
    assert message in response.json()["message"]
    assert not Propagation.objects.exists()


def test_an_explicit_range_longer_than_the_budget_names_the_setting(clip, configured, propagate, settings):
    settings.AVS_PROPAGATION_MAX_FRAMES = 3
    response, _ = propagate(clip, end_frame_index=4)
    assert response.status_code == 400
    assert "AVS_PROPAGATION_MAX_FRAMES" in response.json()["message"]
    assert response.json()["extra"]["field"] == "end_frame_index"


def test_a_tracker_that_fails_to_load_fails_the_job_with_a_readable_error(
    clip, settings, tiny_model_config, tmp_path, propagate
):
    broken = tmp_path / "broken_tracker"
    broken.mkdir()
    source = tiny_model_config.parent / "sam2_video"
    for name in ("config.json", "processor_config.json"):
        (broken / name).write_bytes((source / name).read_bytes())
    (broken / "model.safetensors").write_bytes(b"these are not weights")
    settings.AVS_MODEL_CONFIG = str(tracker_config(tiny_model_config, "broken", path=str(broken)))
    response, done = propagate(clip)
    assert response.status_code == 202
    assert done["status"] == "failed" and done["frames"] == []
    assert done["error"].startswith(f"Propagation failed: models.tracker.path = '{broken}': the model could not be")
    assert done["job"]["status"] == "failed"


@pytest.mark.parametrize(
    ("who", "post", "get"), [("reviewer", 403, 200), ("outsider", 404, 404), ("manager", 202, 200)]
)
def test_who_may_propagate_and_see_propagations(project, clip, configured, actor, client_for, who, post, get):
    client = client_for(actor(project, who))
    response = client.post(f"/api/clips/{clip.pk}/propagations/", propagate_body(), format="json")
    assert response.status_code == post
    assert client.get(f"/api/clips/{clip.pk}/propagations/").status_code == get


# --- accepting -------------------------------------------------------------------------------------------


def test_accepting_the_range_stores_the_sounding_frames_as_drafts(clip, configured, propagate, client, annotator):
    _, done = propagate(clip)
    response = accept(client, done["id"], base_versions={})

    assert response.status_code == 200, response.content
    result = response.json()
    audible = [k for k in range(1, FRAMES) if k not in SILENT_WINDOWS]
    assert [a["frame_index"] for a in result["accepted"]] == audible
    assert result["skipped"] == [
        {"frame_index": k, "reason": "silent"} for k in range(1, FRAMES) if k in SILENT_WINDOWS
    ]
    by_index = {f["frame_index"]: f for f in done["frames"]}
    for entry in result["accepted"]:
        annotation = entry["annotation"]
        assert (
            annotation["version"] == 1
            and annotation["status"] == "draft"
            and annotation["author"]["id"] == annotator.pk
        )
        (instance,) = annotation["instances"]
        assert instance == {
            "mask": by_index[entry["frame_index"]]["instances"][0]["mask"],
            "label": LABEL,
            "track_of": f"{done['id']}:0",
        }
    assert Annotation.objects.filter(clip=clip).count() == len(audible)
    # the annotation API shows them (a reload finds them saved)
    listed = client.get(f"/api/clips/{clip.pk}/annotations/").json()["results"]
    assert [a["frame_index"] for a in listed] == audible

    # silent frames too when asked; the frames already accepted keep one instance per track (replaced, not doubled)
    versions = {str(a["frame_index"]): a["annotation"]["version"] for a in result["accepted"]}
    again = accept(client, done["id"], include_silent=True, base_versions=versions)
    assert again.status_code == 200, again.content
    assert [a["frame_index"] for a in again.json()["accepted"]] == list(range(1, FRAMES))
    for entry in again.json()["accepted"]:
        assert [i["track_of"] for i in entry["annotation"]["instances"]] == [f"{done['id']}:0"]


def test_an_accept_keeps_the_frame_s_other_instances(clip, configured, propagate, client):
    _, done = propagate(clip)
    frame = clip.frames.get(index=1)
    mine = {"mask": rle_encode(square(3)), "label": "car"}
    saved = client.put(f"/api/frames/{frame.pk}/annotation/", {"instances": [mine], "version": None}, format="json")
    assert saved.status_code == 201
    response = accept(client, done["id"], frame_indexes=[1], base_versions={"1": 1})
    assert response.status_code == 200, response.content
    (entry,) = response.json()["accepted"]
    assert entry["annotation"]["version"] == 2
    assert [i["label"] for i in entry["annotation"]["instances"]] == ["car", LABEL]
    assert AnnotationRevision.objects.filter(annotation__frame=frame).count() == 2  # undo across sessions works


def test_a_stale_base_version_is_a_409_and_nothing_is_stored(clip, configured, propagate, client):
    _, done = propagate(clip)
    frame = clip.frames.get(index=2)
    mine = {"mask": rle_encode(square(3)), "label": "car"}
    client.put(f"/api/frames/{frame.pk}/annotation/", {"instances": [mine], "version": None}, format="json")

    response = accept(client, done["id"], base_versions={"2": None})  # the client has not seen frame 2's annotation

    assert response.status_code == 409
    body = response.json()
    assert body["extra"]["stale_frames"] == [2] and body["extra"]["current_versions"] == {"2": 1}
    assert body["message"].startswith("Nothing was accepted")
    assert Annotation.objects.filter(clip=clip).count() == 1  # frames 1, 4, 5 were not written either
    assert Annotation.objects.get(frame=frame).instances == [mine]


def test_an_accepted_annotation_is_not_overwritten_by_an_annotator(clip, configured, propagate, client):
    _, done = propagate(clip)
    frame = clip.frames.get(index=1)
    Annotation.objects.create(clip=clip, frame=frame, instances=[], version=3, status=Annotation.Status.ACCEPTED)
    response = accept(client, done["id"], frame_indexes=[1, 2], base_versions={"1": 3})
    assert response.status_code == 409 and response.json()["extra"]["locked_frames"] == [1]
    assert not Annotation.objects.filter(frame__index=2, clip=clip).exists()


def test_accepting_before_the_propagation_finished_or_outside_its_range(clip, configured, client, annotator):
    from server.annotations.propagation import propagation_request

    propagation = propagation_request(
        clip=clip,
        user=annotator,
        frame_index=0,
        instances=propagate_body()["instances"],
        direction="forward",
        end_frame_index=2,
        enqueue=False,
    )
    response = accept(client, propagation.pk)
    assert response.status_code == 409 and "This propagation is queued" in response.json()["message"]

    from server.annotations.propagation import propagation_run

    assert propagation_run(propagation_id=propagation.pk) == Job.Status.SUCCEEDED
    response = accept(client, propagation.pk, frame_indexes=[4])
    assert response.status_code == 400
    assert response.json()["message"] == "Frame 4 is not in this propagation's range (frames 0 to 2)."


def test_reviewers_cannot_accept(project, clip, configured, propagate, actor, client_for):
    _, done = propagate(clip)
    response = client_for(actor(project, "reviewer")).post(f"/api/propagations/{done['id']}/accept/", {}, format="json")
    assert response.status_code == 403


def test_an_annotation_keeps_its_track_link_through_a_save(clip, client):
    frame = clip.frames.get(index=1)
    instance = {"mask": rle_encode(square(1)), "label": LABEL, "track_of": "12:0"}
    saved = client.put(f"/api/frames/{frame.pk}/annotation/", {"instances": [instance], "version": None}, format="json")
    assert saved.status_code == 201 and saved.json()["instances"] == [instance]
    bad = {**instance, "track_of": "twelve"}
    refused = client.put(f"/api/frames/{frame.pk}/annotation/", {"instances": [bad], "version": 1}, format="json")
    assert refused.status_code == 400 and "instances[0].track_of" in refused.json()["message"]
