"""The production settings behind the documented TLS proxy (deploy/nginx.conf): `check --deploy` is clean, and
a browser signing in over https through the proxy passes the CSRF origin check and gets https URLs back."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.test import Client

from server.accounts.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.server.accounts.world import PASSWORD, clip_with_media

HOST = "avs.example.org"
SECURITY_SETTINGS = (
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
)


def production_env(**overrides: str) -> dict[str, str]:
    """The environment of a production web process: only what the README says to set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "AVS_", "CELERY_")) and key != "DATABASE_URL"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="server.config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS=f"{HOST},.example.net",
        DATABASE_URL="postgres://avs@127.0.0.1:5432/avs_studio",
        **overrides,
    )
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_with_the_production_settings_is_clean():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


@pytest.fixture(scope="module")
def production_security() -> dict:
    """The security settings the production module computes from that environment."""
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {SECURITY_SETTINGS!r}}}))"
    )
    result = manage("shell", "-c", code, env=production_env())
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


def test_trusted_origins_are_derived_from_the_allowed_hosts(production_security):
    assert production_security["CSRF_TRUSTED_ORIGINS"] == [f"https://{HOST}", "https://*.example.net"]
    assert production_security["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.django_db
def test_signing_in_through_the_tls_proxy_passes_csrf_and_urls_come_out_https(settings, production_security):
    for name, value in production_security.items():
        setattr(settings, name, value)
    user = UserFactory(username="alice")
    project = ProjectFactory()
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    clip = clip_with_media(project=project)
    proxied = {"HTTP_HOST": HOST, "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}

    # plain http that did not come through the proxy is sent to https
    plain = Client().get("/api/auth/me/", HTTP_HOST=HOST)
    assert plain.status_code == 301 and plain["Location"] == f"https://{HOST}/api/auth/me/"

    browser = Client(enforce_csrf_checks=True)
    browser.get("/api/auth/me/", **proxied)  # sets the csrftoken cookie
    response = browser.post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
        HTTP_ORIGIN=f"https://{HOST}",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
        **proxied,
    )
    assert response.status_code == 200, response.content
    assert response.cookies["sessionid"]["secure"]
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"

    detail = browser.get(f"/api/clips/{clip.pk}/", **proxied).json()
    assert detail["frames"][0]["image_url"].startswith(f"https://{HOST}/api/frames/")
    assert detail["audio"]["url"].startswith(f"https://{HOST}/")


@pytest.mark.django_db
def test_without_the_proxy_setting_the_same_sign_in_fails_the_origin_check(settings):
    """What the proxy setting fixes: Django saw http and refused the browser's https Origin."""
    settings.ALLOWED_HOSTS = [HOST]
    settings.SECURE_PROXY_SSL_HEADER = None
    UserFactory(username="alice")
    browser = Client(enforce_csrf_checks=True)
    browser.get("/api/auth/me/", HTTP_HOST=HOST, HTTP_X_FORWARDED_PROTO="https")
    response = browser.post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
        HTTP_HOST=HOST,
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_ORIGIN=f"https://{HOST}",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    assert response.status_code == 403
    assert "Origin checking failed" in response.json()["message"]
