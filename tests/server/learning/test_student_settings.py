"""A project's student settings are checked when saved (and a round's overrides when it starts), as the ML backend
checks them when a round runs: a bad one is refused naming it, and nothing changes."""

from __future__ import annotations

import pytest

from server.accounts.models import Role
from server.learning.models import LearningSettings, TrainingRound

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_settings(project, make_member, client_for):
    """(the manager's client, the project's learning-settings URL), with settings {"epochs": 3} saved."""
    client = client_for(make_member(project, Role.MANAGER))
    url = f"/api/projects/{project.pk}/learning-settings/"
    assert client.patch(url, {"student_config": {"epochs": 3}}, format="json").status_code == 200
    return client, url


def saved(project) -> tuple[str, dict]:
    learning = LearningSettings.objects.get(project=project)
    return learning.student_kind, learning.student_config


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"epochs": 0}, "student_config.epochs must be a positive integer, got 0."),
        ({"width": "x"}, "student_config.width must be an integer, got 'x'."),
        ({"epoch": 3}, "student_config.epoch is not a setting of the compact student (known: "),
        ({"input_size": 100}, "student_config.input_size must be divisible by 2**depth (16), got 100."),
        ({"depth": 3, "film_scales": 4}, "student_config.film_scales must be at most depth (3), got 4."),
        ({"pseudo_low": 0.8}, "student_config.pseudo_low must be below student_config.pseudo_high, got 0.8 and 0.7."),
    ],
)
def test_a_student_setting_the_round_would_refuse_is_refused_when_saved(project, manager_settings, config, message):
    client, url = manager_settings
    response = client.patch(url, {"student_config": config, "auto_round_after": 9}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["message"].startswith(message)
    assert response.json()["extra"]["field"] == "student_config"
    assert saved(project) == ("compact", {"epochs": 3})
    assert LearningSettings.objects.get(project=project).auto_round_after == 0
    assert client.get(url).json()["student_config"] == {"epochs": 3}


def test_valid_student_settings_are_saved(project, manager_settings):
    client, url = manager_settings
    config = {"epochs": 2, "input_size": 64, "depth": 3, "width": 8, "device": "cpu"}
    response = client.patch(url, {"student_config": config}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["student_config"] == config and saved(project) == ("compact", config)


def test_a_change_of_student_is_checked_against_the_saved_settings(project, manager_settings):
    client, url = manager_settings
    client.patch(url, {"student_config": {"epochs": 3, "depth": 3}}, format="json")
    response = client.patch(url, {"student_kind": "av2t_sam"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("student_config.depth is not a setting of the av2t_sam student")
    assert response.json()["extra"]["field"] == "student_kind"
    assert saved(project) == ("compact", {"epochs": 3, "depth": 3})
    # Both at once, with settings the other student has: saved.
    body = client.patch(url, {"student_kind": "av2t_sam", "student_config": {"prompt_tokens": 2}}, format="json")
    assert body.status_code == 200 and saved(project) == ("av2t_sam", {"prompt_tokens": 2})


def test_a_rounds_overrides_are_checked_before_it_is_queued(project, manager_settings):
    client, settings_url = manager_settings
    url = f"/api/projects/{project.pk}/training-rounds/"
    response = client.post(url, {"config": {"epochs": 0}}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "config.epochs must be a positive integer, got 0."
    assert response.json()["extra"]["field"] == "config"
    # Merged over the project's settings (depth 3) and the student's defaults, as the round would train.
    assert client.patch(settings_url, {"student_config": {"depth": 3}}, format="json").status_code == 200
    response = client.post(url, {"config": {"film_scales": 4}}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "config.film_scales must be at most depth (3), got 4."
    response = client.post(url, {"student": "av2t_sam", "config": {"epochs": 2}}, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("config.depth is not a setting of the av2t_sam student")
    assert not TrainingRound.objects.exists()
