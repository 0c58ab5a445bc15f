"""Who may call which accounts endpoint: role × endpoint × verb → HTTP status.

Anonymous requests get 401 (token auth comes first and asks for credentials), outsiders 404 (a
project's existence is not leaked), members lacking the role 403.
"""

from __future__ import annotations

import pytest

from tests.server.accounts.world import MANAGE, READ, ROLES, expect

CASES = [
    # (operation, method, url, body, expected status per role)
    ("auth_me", "get", "/api/auth/me/", None, expect(401, 200, 200, 200, 200, 200)),
    ("project_list", "get", "/api/projects/", None, expect(401, 200, 200, 200, 200, 200)),
    # plain users (even managers of other projects) may not create projects: AVS_PROJECT_CREATORS=staff
    ("project_create", "post", "/api/projects/", {"name": "fresh"}, expect(401, 403, 403, 403, 403, 201)),
    ("project_detail", "get", "/api/projects/{project}/", None, READ),
    ("project_update", "patch", "/api/projects/{project}/", {"description": "new"}, MANAGE),
    ("project_delete", "delete", "/api/projects/{project}/", None, expect(401, 404, 403, 403, 204, 204)),
    ("member_list", "get", "/api/projects/{project}/members/", None, READ),
    (
        "member_add",
        "post",
        "/api/projects/{project}/members/",
        {"username": "{newcomer}", "role": "reviewer"},
        expect(401, 404, 403, 403, 201, 201),
    ),
    ("member_update", "patch", "/api/projects/{project}/members/{extra_member}/", {"role": "reviewer"}, MANAGE),
    (
        "member_remove",
        "delete",
        "/api/projects/{project}/members/{extra_member}/",
        None,
        expect(401, 404, 403, 403, 204, 204),
    ),
    ("label_list", "get", "/api/projects/{project}/labels/", None, READ),
    ("label_create", "post", "/api/projects/{project}/labels/", {"name": "bird"}, expect(401, 404, 403, 201, 201, 201)),
    ("label_update", "patch", "/api/labels/{label}/", {"color": "#00ff00"}, MANAGE),
    ("label_delete", "delete", "/api/labels/{label}/", None, expect(401, 404, 403, 403, 204, 204)),
]


def _fill(template, world):
    values = {
        "project": world.project.pk,
        "label": world.label.pk,
        "extra_member": world.extra_member.pk,
        "newcomer": world.newcomer.username,
    }
    if isinstance(template, dict):
        return {key: _fill(value, world) for key, value in template.items()}
    return template.format(**values) if isinstance(template, str) else template


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("operation", "method", "url", "body", "expected"), CASES, ids=[case[0] for case in CASES])
def test_permission_matrix(world, client_for, role, operation, method, url, body, expected):
    client = client_for(world.users[role])
    response = getattr(client, method)(_fill(url, world), _fill(body, world), format="json")
    assert response.status_code == expected[role], response.content
    if response.status_code >= 400:
        assert set(response.json()) == {"message", "extra"}
        assert response.json()["message"]


def test_outsider_gets_the_same_404_as_for_a_missing_project(world, client_for):
    client = client_for(world.users["outsider"])
    foreign = client.get(f"/api/projects/{world.project.pk}/")
    missing = client.get("/api/projects/999999/")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == {"message": "Project not found.", "extra": {}}


def test_member_lacking_the_role_is_told_which_role_is_needed(world, client_for):
    response = client_for(world.users["reviewer"]).patch(
        f"/api/projects/{world.project.pk}/", {"description": "x"}, format="json"
    )
    assert response.status_code == 403
    assert "manager" in response.json()["message"]


def test_label_of_another_project_is_not_found(world, client_for):
    client = client_for(world.users["manager"])
    foreign = client.patch(f"/api/labels/{world.other_label.pk}/", {"color": "#00ff00"}, format="json")
    missing = client.patch("/api/labels/999999/", {"color": "#00ff00"}, format="json")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == {"message": "Label not found.", "extra": {}}
    world.other_label.refresh_from_db()
    assert world.other_label.color == "#ff0000"


def test_unsupported_method_answers_405_in_the_error_shape(world, client_for):
    response = client_for(world.users["manager"]).put(f"/api/projects/{world.project.pk}/", {}, format="json")
    assert response.status_code == 405
    assert response.json()["message"] == 'Method "PUT" not allowed.'


def test_unsupported_method_still_asks_anonymous_users_to_sign_in(world, client_for):
    assert client_for().put(f"/api/projects/{world.project.pk}/", {}, format="json").status_code == 401
