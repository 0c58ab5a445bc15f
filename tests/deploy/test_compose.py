"""deploy/compose.yaml, checked without a container engine (none on these machines): it parses, names only files
that exist, its workers serve the queues the Celery routes use, and its environment is what the settings read."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "env.example"
APP_DIR = "/srv/avs/app"  # the image's working_dir: the repository
GPU_QUEUES = {"inference", "training"}
COMPOSE_ONLY_MARK = "compose.yaml only"

# Code that reads the environment of our containers: the settings, the deploy scripts (shell ${NAME}) and the
# management command start-web.sh runs (ensure_admin).
SETTINGS_FILES = sorted((REPO / "server/config/settings").glob("*.py"))
PY_READERS = [*SETTINGS_FILES, REPO / "server/accounts/management/commands/ensure_admin.py"]
ENV_READ = re.compile(r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""")
OS_READ = re.compile(r"""os\.(?:environ\.get\(|environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]*)["']""")
SHELL_READ = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")
INTERPOLATED = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def variables_read() -> set[str]:
    names: set[str] = set()
    for path in PY_READERS:
        text = path.read_text()
        names |= set(ENV_READ.findall(text)) | set(OS_READ.findall(text))
    for script in DEPLOY.glob("*.sh"):
        names |= set(SHELL_READ.findall(script.read_text()))
    return names


def variables_required_in_production() -> set[str]:
    """env(...) reads without a default in the production settings, plus DATABASE_URL (sqlite is refused there)."""
    text = (REPO / "server/config/settings/production.py").read_text()
    required = {m.group(1) for m in re.finditer(r"""\benv(?:\.\w+)?\(\s*["']([A-Z0-9_]+)["']\s*\)""", text)}
    assert "production settings need DATABASE_URL" in text
    return required | {"DATABASE_URL"}


def env_example(text: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(AVS section, compose-only section) of deploy/env.example as NAME -> value."""
    avs: dict[str, str] = {}
    compose_only: dict[str, str] = {}
    current = avs
    for line in (ENV_EXAMPLE.read_text() if text is None else text).splitlines():
        if line.startswith("#") and COMPOSE_ONLY_MARK in line:
            current = compose_only
        elif line.strip() and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"env.example line without '=': {line!r}"
            assert name not in avs and name not in compose_only, f"{name} listed twice"
            current[name] = value
    return avs, compose_only


def avs_services(data: dict | None = None) -> dict[str, dict]:
    """Our services: those that run one of the repository's deploy scripts."""
    return {
        name: svc
        for name, svc in (data or compose())["services"].items()
        if isinstance(svc.get("command"), list) and str(svc["command"][0]).startswith("deploy/")
    }


def workers() -> dict[str, dict]:
    return {name: svc for name, svc in avs_services().items() if svc["command"][0] == "deploy/start-worker.sh"}


def routed_queues() -> set[str]:
    text = (REPO / "server/config/settings/base.py").read_text()
    routes = text[text.index("CELERY_TASK_ROUTES") :]
    routes = routes[: routes.index("\n}")]
    return set(re.findall(r"""["']queue["']\s*:\s*["'](\w+)["']""", routes))


def test_compose_parses_with_the_expected_services():
    data = compose()
    assert set(data["services"]) >= {"db", "redis", "bucket", "web", "proxy", "labelstudio"}
    assert set(avs_services()) == {"web", "worker-ingest", "worker-inference", "worker-training"}
    assert data["services"]["labelstudio"]["profiles"] == ["labelstudio"]
    assert data["services"]["labelstudio"]["image"].endswith(":1.23.2")
    assert data["services"]["proxy"]["network_mode"] == "service:web"  # nginx.conf's upstream is 127.0.0.1:8000
    for name, svc in data["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith(("/", ".", "$")):
                assert source in data["volumes"], f"{name}: volume {source} is not declared"


def test_health_checks():
    services = compose()["services"]
    assert "pg_isready" in services["db"]["healthcheck"]["test"]
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/" in web_check
    for svc in avs_services().values():
        assert svc["depends_on"]["db"]["condition"] == "service_healthy"
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"


def test_every_path_it_names_exists_in_the_repository():
    data = compose()
    for name, svc in avs_services().items():
        assert svc["working_dir"] == APP_DIR
        script = REPO / svc["command"][0]
        assert script.is_file(), f"{name}: {script} missing"
        assert os.access(script, os.X_OK), f"{name}: {script} is not executable"
        assert svc["env_file"] == ".env"
    bind_sources = [
        volume.split(":")[0]
        for svc in data["services"].values()
        for volume in svc.get("volumes", [])
        if volume.startswith(".")
    ]
    assert "./nginx.conf" in bind_sources
    for source in bind_sources:
        assert (DEPLOY / source).resolve().is_file(), f"{source} (relative to deploy/) missing"
    # Paths inside the repository that compose.yaml names in strings, e.g. deploy/... or server/...
    for path in re.findall(r"\b((?:deploy|server|tests)/[\w./-]+\.\w+)", COMPOSE.read_text()):
        assert (REPO / path).exists(), f"compose.yaml names {path}, which does not exist"


def test_one_worker_per_routed_queue():
    queues = {svc["command"][1]: name for name, svc in workers().items()}
    assert set(queues) == routed_queues() == {"ingest", "inference", "training"}


def test_gpu_workers_reserve_a_gpu_and_ingest_does_not():
    for name, svc in workers().items():
        queue = svc["command"][1]
        devices = svc.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
        if queue in GPU_QUEUES:
            assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices), name
        else:
            assert devices == [], f"{name} ({queue}) reserves a device"
    assert "deploy" not in compose()["services"]["web"]


def unread_variables(compose_text: str, env_text: str) -> set[str]:
    """Variables compose.yaml (`environment:` of our services) or env.example's AVS section set that nothing reads."""
    read = variables_read()
    unread = {key for svc in avs_services(yaml.safe_load(compose_text)).values() for key in svc["environment"]}
    return (unread | set(env_example(env_text)[0])) - read


def test_every_variable_set_for_our_services_is_read():
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "AVS_LS_BASIC_AUTH_USER", "AVS_BIND"} <= variables_read()
    assert unread_variables(COMPOSE.read_text(), ENV_EXAMPLE.read_text()) == set()


@pytest.mark.parametrize(
    ("file", "right", "wrong"),
    [
        ("compose", "AVS_MEDIA_ROOT: /srv", "AVS_MEDIA_ROOTS: /srv"),
        ("env", "AVS_LS_BASIC_AUTH_PASS=", "AVS_LS_BASIC_AUTH_PASSWORD="),
        ("env", "DJANGO_ALLOWED_HOSTS=", "DJANGO_ALLOWED_HOST="),
    ],
)
def test_a_misspelt_variable_is_caught(file, right, wrong):
    compose_text, env_text = COMPOSE.read_text(), ENV_EXAMPLE.read_text()
    if file == "compose":
        assert right in compose_text
        compose_text = compose_text.replace(right, wrong)
    else:
        assert right in env_text
        env_text = env_text.replace(right, wrong)
    assert unread_variables(compose_text, env_text) == {wrong.split(":")[0].split("=")[0]}


def test_env_example_and_interpolation_agree():
    avs, compose_only = env_example()
    code = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    interpolated = set(INTERPOLATED.findall(code))
    unlisted = interpolated - set(avs) - set(compose_only)
    assert not unlisted, f"compose.yaml interpolates variables env.example does not list: {sorted(unlisted)}"
    unused = set(compose_only) - interpolated
    assert not unused, f"env.example's compose-only variables compose.yaml does not use: {sorted(unused)}"
    for name in ("AVS_PUBLIC_URL", "AVS_LS_BASIC_AUTH_USER", "AVS_LS_BASIC_AUTH_PASS"):  # the bridge, our side
        assert avs.get(name), name
    ls_env = compose()["services"]["labelstudio"]["environment"]
    assert all(key.startswith("LABEL_STUDIO_") for key in ls_env)


def test_production_requirements_are_provided():
    avs, _ = env_example()
    required = variables_required_in_production()
    assert {"DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL"} <= required
    for name, svc in avs_services().items():
        assert svc["environment"]["DJANGO_SETTINGS_MODULE"] == "server.config.settings.production"
        given = {key for key, value in {**avs, **svc["environment"]}.items() if str(value).strip()}
        assert not required - given, f"{name} lacks {sorted(required - given)}"
    assert svc["environment"]["DATABASE_URL"].startswith("postgres://")
