"""Strict annotation input (issue 10, item 2): malformed masks, canonical storage, caps on instances and
new labels, and request bodies above the server's limit, all answered in the API's JSON error shape with
nothing stored."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import numpy as np
import pytest

from server.accounts.models import Role
from server.annotations.models import Annotation, AnnotationRevision
from server.core.masks import rle_counts_parse, rle_counts_string, rle_encode
from server.media.models import Label
from tests.factories import ClipFactory, FrameFactory, LabelFactory
from tests.server.annotations.conftest import FRAME_SHAPE, box_mask

pytestmark = pytest.mark.django_db


def url(frame) -> str:
    return f"/api/frames/{frame.pk}/annotation/"


def counts_of(runs: list[int]) -> str:
    return rle_counts_string(np.asarray(runs))


@pytest.fixture
def frame(project):
    return FrameFactory(clip=ClipFactory(project=project))


@pytest.fixture
def client(project, make_member, client_for):
    return client_for(make_member(project, role=Role.ANNOTATOR))


@pytest.fixture
def saved(frame, client):
    """The frame's annotation at version 1: one dog."""
    response = client.put(
        url(frame), {"instances": [{"mask": box_mask(0, 0, 10, 10), "label": "dog"}], "version": None}, format="json"
    )
    assert response.status_code == 201
    return response.data


PIXELS = FRAME_SHAPE[0] * FRAME_SHAPE[1]  # 48 × 64 = 3072
GOOD = rle_encode(np.ones(FRAME_SHAPE, dtype=bool))["counts"]

BAD_COUNTS = {
    "short": (counts_of([100, 200, 300]), "the runs cover 600 pixels, fewer than the 3072 of a 48x64 (HxW) mask"),
    "overlong": (counts_of([3000, 100]), "the runs cover 3100 pixels, more than the 3072"),
    "negative": (counts_of([3000, 10, 2]) + counts_of([-20]), "run 3 has a negative length (-10)"),
    "truncated": (GOOD + "P", "the string ends inside a value"),
    "invalid character": (GOOD[:1] + "~" + GOOD[1:], "character '~' at position 1 is not an RLE character"),
    "empty": ("", "the runs cover 0 pixels"),
}


@pytest.mark.parametrize("case", list(BAD_COUNTS))
def test_a_malformed_mask_is_refused_naming_the_instance_and_nothing_changes(frame, client, saved, case):
    counts, problem = BAD_COUNTS[case]
    response = client.put(
        url(frame),
        {
            "instances": [
                {"mask": box_mask(0, 0, 5, 5), "label": "dog"},
                {"mask": {"size": list(FRAME_SHAPE), "counts": counts}, "label": "violin"},
            ],
            "version": 1,
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.data) == {"message", "extra"}
    assert response.data["message"].startswith("instances[1].mask has invalid RLE counts: ")
    assert problem in response.data["message"]
    assert response.data["extra"]["field"] == "instances[1].mask"
    stored = Annotation.objects.get(frame=frame)
    assert stored.version == 1 and stored.instances == saved["instances"]
    assert AnnotationRevision.objects.filter(annotation=stored).count() == 1
    assert not Label.objects.filter(name="violin").exists()


def test_uncompressed_counts_with_a_negative_run_are_refused(frame, client):
    response = client.put(
        url(frame),
        {"instances": [{"mask": {"size": list(FRAME_SHAPE), "counts": [3100, -28]}, "label": "dog"}], "version": None},
        format="json",
    )
    assert response.status_code == 400
    assert response.data["message"] == "instances[0].mask has invalid RLE counts: run 1 has a negative length (-28)."
    assert not Annotation.objects.exists()


def test_two_encodings_of_one_mask_are_stored_as_the_same_string(frame, client):
    canonical = box_mask(10, 20, 30, 40)
    runs = rle_counts_parse(canonical["counts"], height=48, width=64).tolist()
    padded = {"size": list(FRAME_SHAPE), "counts": counts_of([runs[0], 0, 0, *runs[1:], 0])}
    listed = {"size": list(FRAME_SHAPE), "counts": runs}
    assert padded["counts"] != canonical["counts"]

    response = client.put(
        url(frame),
        {"instances": [{"mask": padded, "label": "dog"}, {"mask": listed, "label": "cat"}], "version": None},
        format="json",
    )
    assert response.status_code == 201, response.data
    stored = Annotation.objects.get(frame=frame).instances
    assert [i["mask"] for i in stored] == [canonical, canonical]


def test_more_instances_than_the_cap_are_refused(frame, client, saved, settings):
    settings.AVS_MAX_INSTANCES_PER_ANNOTATION = 3
    four = [{"mask": box_mask(k, k, k + 2, k + 2), "label": "dog"} for k in range(4)]
    response = client.put(url(frame), {"instances": four, "version": 1}, format="json")
    assert response.status_code == 400
    assert response.data["message"] == (
        "A frame's annotation holds at most 3 instances; this one has 4 (setting AVS_MAX_INSTANCES_PER_ANNOTATION)."
    )
    assert response.data["extra"] == {"field": "instances", "limit": 3, "count": 4}
    assert Annotation.objects.get(frame=frame).version == 1

    at_cap = client.put(url(frame), {"instances": four[:3], "version": 1}, format="json")
    assert at_cap.status_code == 200 and len(at_cap.data["instances"]) == 3


def test_more_new_labels_than_the_cap_are_refused_and_none_is_added(frame, project, client, settings):
    settings.AVS_MAX_NEW_LABELS_PER_REQUEST = 2
    LabelFactory(project=project, name="dog")
    names = ["Dog", "violin", "church bell", "guitar"]  # "Dog" is known: three new names
    instances = [{"mask": box_mask(k, k, k + 2, k + 2), "label": name} for k, name in enumerate(names)]
    response = client.put(url(frame), {"instances": instances, "version": None}, format="json")
    assert response.status_code == 400
    assert response.data["message"].startswith(
        "One save may add at most 2 new labels to the project; this one adds 3 (church bell, guitar, violin)."
    )
    assert response.data["extra"]["new_labels"] == ["church bell", "guitar", "violin"]
    assert set(Label.objects.filter(project=project).values_list("name", flat=True)) == {"dog"}
    assert not Annotation.objects.exists()

    within = client.put(url(frame), {"instances": instances[:3], "version": None}, format="json")
    assert within.status_code == 201
    assert set(Label.objects.filter(project=project).values_list("name", flat=True)) == {"dog", "violin", "church bell"}


# --- request bodies ------------------------------------------------------------------------------------


def big_body(size: int) -> dict:
    """A save whose JSON is larger than `size` bytes (many copies of one mask)."""
    instance = {"mask": box_mask(0, 0, 48, 1), "label": "dog"}
    copies = size // len(json.dumps(instance, separators=(",", ":"))) + 1
    return {"instances": [instance] * copies, "version": None}


def test_a_json_body_above_the_limit_gets_413_in_the_error_shape(frame, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    response = client.put(url(frame), big_body(2000), format="json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "message": "The request body is larger than the 2000 bytes this server accepts "
        "(setting AVS_REQUEST_BODY_MAX_BYTES).",
        "extra": {"limit_bytes": 2000},
    }
    assert not Annotation.objects.exists()

    small = client.put(url(frame), {"instances": [], "version": None}, format="json")
    assert small.status_code == 201


def test_a_form_body_above_the_limit_gets_413_too(frame, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    body = urlencode({"version": "", "instances": "x" * 3000})
    response = client.generic("PUT", url(frame), body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response.json()["extra"] == {"limit_bytes": 2000}


def test_too_many_form_fields_get_400_in_the_error_shape(frame, client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = urlencode([(f"field{k}", "1") for k in range(20)])
    response = client.generic("PUT", url(frame), body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["message"] == (
        "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
    )
    assert response.json()["extra"] == {"reason": "TooManyFieldsSent"}
    assert not Annotation.objects.exists()


def test_the_default_limit_takes_a_4k_frame_with_many_instances(settings):
    """256 instances of a ragged 4K mask (~50 kB of counts each) fit in the default body limit."""
    from server.config.settings import base

    rng = np.random.default_rng(0)
    mask = np.zeros((2160, 3840), dtype=bool)
    mask[200:1900, 300:3500] = True
    mask ^= rng.random(mask.shape) < 0.0012
    instance = {"mask": rle_encode(mask), "label": "dog"}
    body = len(json.dumps({"instances": [instance] * base.AVS_MAX_INSTANCES_PER_ANNOTATION, "version": 1}))
    assert len(instance["mask"]["counts"]) > 40_000
    assert body < base.DATA_UPLOAD_MAX_MEMORY_SIZE
