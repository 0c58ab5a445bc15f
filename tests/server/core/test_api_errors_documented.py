"""Every error the API answers with is in its JSON shape and in the OpenAPI schema.

The schema documents, per operation, the errors a client can get (401 without a valid token, 404 for a
missing object, 400 for refused input...) with the `Error` body; URLs under /api/ that match no operation,
and crashes outside DRF, still answer `{"message", "extra"}` rather than Django's HTML pages.
"""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import include, path

from server.accounts.models import Role
from tests.factories import ProjectFactory
from tests.server.accounts.world import clip_with_media


def _boom(request):
    raise RuntimeError("a bug")


# URLconf of the crash test: the project's URLs plus one view that fails outside DRF.
urlpatterns = [path("api/boom/", _boom), path("", include("server.config.urls"))]
handler500 = "server.core.views.server_error"


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for route, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield f"{method.upper()} {route}", operation


def test_every_error_response_has_the_error_body(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["message", "extra"]
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for label, operation in _operations(schema):
        for code, response in operation["responses"].items():
            if int(code) >= 400:
                assert response["content"] == error_body, (label, code)


def test_operations_document_the_errors_they_can_answer(schema):
    for label, operation in _operations(schema):
        codes = set(operation["responses"])
        if operation.get("security"):
            assert "401" in codes, label  # a missing or wrong token
        if any(parameter["in"] == "path" for parameter in operation.get("parameters", [])):
            assert {"403", "404"} <= codes, label
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= codes, label
    paths = schema["paths"]
    assert {"400", "401", "403", "404"} <= set(paths["/api/projects/{project_id}/clips/"]["get"]["responses"])
    assert "429" in paths["/api/auth/token/"]["post"]["responses"]
    assert "403" in paths["/api/auth/login/"]["post"]["responses"]  # the CSRF check


@pytest.mark.django_db
def test_an_api_url_that_matches_no_operation_answers_json():
    for url in ("/api/nothing-here/", "/api/annotations/1.5/reviews/", "/api/clips/-3/"):
        response = Client().post(url, {}, content_type="application/json")
        assert response.status_code == 404, url
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "message": "No API operation at this URL (the operations are listed at /api/docs/).",
            "extra": {},
        }
    page = Client().get("/missing/file.txt")  # outside the API: Django's page, as before
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_crash_outside_the_api_views_answers_json_500():
    response = Client(raise_request_exception=False).get("/api/boom/")
    assert response.status_code == 500
    assert response.json() == {"message": "Server error: the request failed on our side and was logged.", "extra": {}}


def test_a_source_named_like_a_web_page_is_downloaded_as_bytes(db, client_for, make_member):
    project = ProjectFactory()
    clip = clip_with_media(project=project, name="trailer.html")
    clip.source.save("trailer.html", ContentFile(b"<script>alert(1)</script>"), save=True)  # a video, its name says
    response = client_for(make_member(project, Role.ANNOTATOR)).get(f"/api/clips/{clip.pk}/source/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"  # was text/html, typed after the name
    assert response["Content-Disposition"].startswith("attachment;")
