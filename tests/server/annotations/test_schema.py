"""The generated OpenAPI schema documents the annotation, review, proposal, job and model-version API."""

from __future__ import annotations

import pytest
import yaml

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_schema_documents_the_endpoints_with_paginated_lists(client_for):
    response = client_for(UserFactory()).get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    expected = {
        "/api/clips/{clip_id}/proposals/": {"get"},
        "/api/proposals/{proposal_id}/": {"get"},
        "/api/clips/{clip_id}/annotations/": {"get"},
        "/api/frames/{frame_id}/annotation/": {"get", "put"},
        "/api/annotations/{annotation_id}/revisions/": {"get"},
        "/api/annotations/{annotation_id}/reviews/": {"get", "post"},
        "/api/projects/{project_id}/jobs/": {"get"},
        "/api/jobs/{job_id}/": {"get"},
        "/api/projects/{project_id}/model-versions/": {"get", "post"},
        "/api/model-versions/{model_version_id}/": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    listed = paths["/api/clips/{clip_id}/annotations/"]["get"]["responses"]["200"]
    assert listed["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/PaginatedAnnotationList"
    put_body = paths["/api/frames/{frame_id}/annotation/"]["put"]["requestBody"]["content"]["application/json"]
    body = schema["components"]["schemas"][put_body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert {"instances", "version", "status", "time_spent_delta", "source_proposal"} <= set(body["properties"])
    assert "409" in paths["/api/frames/{frame_id}/annotation/"]["put"]["responses"]
