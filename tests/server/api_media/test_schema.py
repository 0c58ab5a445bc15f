"""The OpenAPI schema documents the accounts and media endpoints with their bodies."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


OPERATIONS = {
    "/api/auth/token/": {"post"},
    "/api/auth/token/revoke/": {"post"},
    "/api/auth/me/": {"get"},
    "/api/projects/": {"get", "post"},
    "/api/projects/{project_id}/": {"get", "patch", "delete"},
    "/api/projects/{project_id}/members/": {"get", "post"},
    "/api/projects/{project_id}/members/{user_id}/": {"patch", "delete"},
    "/api/projects/{project_id}/labels/": {"get", "post"},
    "/api/labels/{label_id}/": {"patch", "delete"},
    "/api/projects/{project_id}/clips/": {"get", "post"},
    "/api/clips/{clip_id}/": {"get", "delete"},
    "/api/clips/{clip_id}/audio/": {"get"},
    "/api/clips/{clip_id}/source/": {"get"},
    "/api/frames/{frame_id}/image/": {"get"},
}


def test_schema_lists_every_operation(schema):
    for path, methods in OPERATIONS.items():
        assert path in schema["paths"], path
        assert set(schema["paths"][path]) - {"parameters"} == methods, path


def _ref(content: dict) -> str:
    return content["schema"]["$ref"].rsplit("/", 1)[-1]


def test_schema_documents_request_and_response_bodies(schema):
    paths, components = schema["paths"], schema["components"]["schemas"]
    upload = paths["/api/projects/{project_id}/clips/"]["post"]
    assert set(upload["requestBody"]["content"]) == {"multipart/form-data"}
    upload_input = components[_ref(upload["requestBody"]["content"]["multipart/form-data"])]
    assert upload_input["properties"]["file"]["format"] == "binary"
    assert {"200", "201", "413"} <= set(upload["responses"])

    clips = paths["/api/projects/{project_id}/clips/"]["get"]
    page = components[_ref(clips["responses"]["200"]["content"]["application/json"])]
    assert {"count", "next", "previous", "results"} <= set(page["properties"])
    assert {p["name"] for p in clips["parameters"]} >= {"status", "search", "ordering", "page", "page_size"}

    update = paths["/api/projects/{project_id}/"]["patch"]
    fps = components[_ref(update["requestBody"]["content"]["application/json"])]["properties"]["fps"]
    assert (fps["minimum"], fps["maximum"]) == (0.1, 60.0)

    image = paths["/api/frames/{frame_id}/image/"]["get"]
    assert "image/jpeg" in image["responses"]["200"]["content"]

    token = paths["/api/auth/token/"]["post"]
    assert components[_ref(token["responses"]["200"]["content"]["application/json"])]["properties"]["token"]
