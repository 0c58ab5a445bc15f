"""NUL characters in free-form JSON input are refused with a 400, not a database error.

PostgreSQL stores neither `\\u0000` in jsonb nor NUL in text; DRF's CharField refuses them, but labels
inside annotation instances and model-version configs are free-form JSON (found by the API fuzz).
"""

from __future__ import annotations

import numpy as np

from server.accounts.models import Role
from server.annotations.models import Annotation
from server.core.masks import rle_encode
from server.learning.models import ModelVersion
from server.media.models import Label
from tests.factories import FrameFactory


def test_an_instance_label_with_a_nul_character_is_refused(db, project, client_for, make_member):
    frame = FrameFactory(clip__project=project)
    mask = rle_encode(np.ones((frame.height, frame.width), bool))
    response = client_for(make_member(project, Role.ANNOTATOR)).put(
        f"/api/frames/{frame.pk}/annotation/",
        {"instances": [{"mask": mask, "label": "dog\x00"}], "version": None},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": "instances[0].label cannot contain NUL characters.",
        "extra": {"field": "instances[0].label"},
    }
    assert not Annotation.objects.exists()
    assert not Label.objects.filter(project=project).exists()


def test_a_model_version_config_with_a_nul_character_is_refused(db, project, client_for, make_member):
    client = client_for(make_member(project, Role.MANAGER))
    for config in ({"proposer": "baseline\x00"}, {"note\x00": 1}, {"stages": [{"name": ["a\x00"]}]}):
        response = client.post(
            f"/api/projects/{project.pk}/model-versions/",
            {"kind": "baseline", "name": "heuristic", "config": config},
            format="json",
        )
        assert response.status_code == 400, config
        assert response.json()["extra"]["fields"] == {"config": ["Text cannot contain NUL characters (\\u0000)."]}
    assert not ModelVersion.objects.exists()
