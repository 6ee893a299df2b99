"""docker-compose.yml, the Dockerfile and deploy/nginx.conf agree with the app and each other.

No Docker engine runs in the tests: these read the files. tests/test_proxy.py runs the nginx
config for real.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import re
import shlex
from urllib.parse import urlsplit

import pytest
import yaml

from app.config import Settings
from app.db import POOL_OVERFLOW, POOL_SIZE
from app.middleware import SecurityMiddleware
from tests.conftest import all_routes
from tests.server import ROOT, SERVE_COMMAND

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
APPS = {name: s for name, s in SERVICES.items() if "build" in s}
DOCKERFILE = (ROOT / "Dockerfile").read_text()
NGINX = (ROOT / "deploy" / "nginx.conf").read_text()


def _value(text: str) -> str:
    """A compose value with `${NAME:-default}` and `${NAME:?error}` as their fallbacks."""
    return re.sub(r"\$\{\w+(?::-([^}]*)|:\?[^}]*)\}", lambda m: m.group(1) or "secret", text)


def _environment(service: dict) -> dict[str, str]:
    return {name: _value(str(value)) for name, value in service.get("environment", {}).items()}


def _dockerfile(instruction: str) -> list[str]:
    """The arguments of each line that starts with `instruction` (continuations joined)."""
    joined = DOCKERFILE.replace("\\\n", " ")
    return [m.group(1) for m in re.finditer(rf"^{instruction}\s+(.*)$", joined, re.MULTILINE)]


def _nginx(directive: str) -> list[str]:
    """The arguments of every uncommented `directive` in deploy/nginx.conf."""
    return re.findall(rf"^[ \t]*{directive}[ \t]+([^;{{}}#]*);", NGINX, re.MULTILINE)


def test_two_app_containers_share_postgresql_and_redis_behind_nginx():
    assert len(APPS) == 2
    assert SERVICES["postgres"]["image"].startswith("postgres:16")
    assert SERVICES["redis"]["image"].startswith("redis:7")
    assert SERVICES["proxy"]["image"].startswith("nginx:")
    for app in APPS.values():
        env = _environment(app)
        database = urlsplit(env["STEMLAB_DATABASE_URL"])
        assert database.scheme == "postgresql+psycopg" and database.hostname == "postgres"
        redis = urlsplit(env["STEMLAB_REDIS_URL"])
        assert redis.scheme == "redis" and redis.hostname == "redis"
        assert env["STEMLAB_SEED_DEMO"] == "false"


def test_the_image_and_the_app_containers_run_what_the_tests_run():
    assert [json.loads(cmd) for cmd in _dockerfile("CMD")] == [list(SERVE_COMMAND)]
    for name, app in APPS.items():
        assert app["command"] == list(SERVE_COMMAND), name


def test_every_setting_the_compose_file_sets_is_a_valid_setting():
    for name, service in SERVICES.items():
        env = _environment(service)
        stemlab = {k: v for k, v in env.items() if k.startswith("STEMLAB_")}
        fields = {k.removeprefix("STEMLAB_").lower(): v for k, v in stemlab.items()}
        unknown = set(fields) - set(Settings.model_fields)
        assert not unknown, f"{name}: not settings of app/config.py: {sorted(unknown)}"
        Settings(_env_file=None, **fields)  # and each value is one the setting accepts


def test_the_dockerfile_and_compose_agree_on_the_port():
    (exposed,) = _dockerfile("EXPOSE")
    assert re.search(rf"\bSTEMLAB_PORT={exposed}\b", DOCKERFILE)
    for app in APPS.values():
        assert _environment(app)["STEMLAB_PORT"] == exposed


def _healthcheck_paths() -> list[str]:
    commands = [shlex.join(s["healthcheck"]["test"]) for s in APPS.values()]
    commands += _dockerfile("HEALTHCHECK")
    paths = [p for c in commands for p in re.findall(r"http://127\.0\.0\.1:\d+(/[\w/-]*)", c)]
    assert len(paths) == len(commands), commands
    return paths


def test_healthchecks_ask_routes_the_app_serves(app):
    served = {path for path, methods in all_routes(app) if "GET" in methods}
    for path in _healthcheck_paths():
        assert path in served


def test_services_wait_for_healthy_dependencies():
    for name, service in SERVICES.items():
        for dependency, how in service.get("depends_on", {}).items():
            assert how["condition"] == "service_healthy", (name, dependency)
            assert "healthcheck" in SERVICES[dependency], dependency


def test_the_proxy_config_is_mounted_and_names_the_app_containers():
    proxy = SERVICES["proxy"]
    mounts = [volume.split(":") for volume in proxy["volumes"]]
    assert [source for source, target, *_ in mounts if target == "/etc/nginx/nginx.conf"] == [
        "./deploy/nginx.conf"
    ]
    assert (ROOT / "deploy" / "nginx.conf").is_file()
    ports = {f"{name}:{_environment(app)['STEMLAB_PORT']}" for name, app in APPS.items()}
    assert set(_nginx("server")) == ports
    (listen,) = _nginx("listen")
    assert [p.split(":")[-1] for p in proxy["ports"]] == [listen]
    assert set(proxy["depends_on"]) == set(APPS)


def test_the_apps_trust_exactly_the_proxys_address():
    address = SERVICES["proxy"]["networks"]["stemlab"]["ipv4_address"]
    (subnet,) = [c["subnet"] for c in COMPOSE["networks"]["stemlab"]["ipam"]["config"]]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    for app in APPS.values():
        assert _environment(app)["STEMLAB_TRUSTED_PROXIES"] == address


@pytest.mark.parametrize("size", _nginx("client_max_body_size"))
def test_nginx_refuses_bodies_at_the_apps_own_limit(size):
    limit = inspect.signature(SecurityMiddleware).parameters["max_body"].default
    assert size == f"{limit // 1024}k"


def test_what_the_dockerfile_copies_exists():
    for args in _dockerfile("COPY"):
        for source in args.split()[:-1]:
            assert (ROOT / source).exists(), source


def test_the_deploy_guide_counts_connections_with_the_pool_of_app_db():
    guide = (ROOT / "docs" / "deploy.md").read_text()
    section = guide.split("\n## Connections per worker\n", 1)[1].split("\n## ", 1)[0]
    most = POOL_SIZE + POOL_OVERFLOW
    text = " ".join(section.split())
    assert f"{POOL_SIZE} kept open, and up to {POOL_OVERFLOW} more" in text
    assert f"hosts × STEMLAB_WORKERS × {most}" in text
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\d+)\b", section, re.MULTILINE)
    assert rows
    for hosts, workers, connections in rows:
        assert int(connections) == int(hosts) * int(workers) * most
