"""The optional `observability` profile of `docker-compose.yml`, checked without Docker.

`docker compose --profile observability` adds an OpenTelemetry Collector, Jaeger and
Prometheus; `deploy/observability/compose.otel.yaml` points the services' OTLP exporters at
the collector. Nothing can be started here, and no validator of the collector's or of
Prometheus' configuration installs from PyPI (the collector's `validate` command and
`promtool` are Go binaries), so what is checked is what would otherwise only fail at
`docker compose up` or, worse, silently show no trace or no metric:

- the compose file and the overlay follow the Compose Specification, alone and merged;
- the profile's services carry the profile, are pinned and mount their configs read-only
  from files that exist; no service outside the profile depends on them or is told about
  them, so `docker compose up` without the profile is what it was;
- the collector config is YAML whose pipelines reference only components it defines, whose
  OTLP receiver listens where the services send, and whose traces pipeline ends in Jaeger;
- Prometheus scrapes exactly the three services' `/metrics`, on the ports their commands
  listen on and publish, plus the collector's own metrics on the port it serves them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

from tests.integration.deploy.test_compose import (
    COMPOSE_FILE,
    ROOT,
    SERVICES,
    _check_compose_schema,
    _load_compose,
    _option,
    _published_container_ports,
)

PROFILE = "observability"
OBSERVABILITY_DIR = ROOT / "deploy" / "observability"
COLLECTOR_CONFIG = OBSERVABILITY_DIR / "otel-collector.yaml"
PROMETHEUS_CONFIG = OBSERVABILITY_DIR / "prometheus.yml"
OVERLAY = OBSERVABILITY_DIR / "compose.otel.yaml"
README = ROOT / "README.md"

# The profile's services: the image each must run, and the config each reads from the repo
# (container path the image reads it from).
PROFILE_SERVICES = {
    "otel-collector": "otel/opentelemetry-collector-contrib",
    "jaeger": "jaegertracing/jaeger",
    "prometheus": "prom/prometheus",
}
MOUNTED_CONFIGS = {
    "otel-collector": (COLLECTOR_CONFIG, "/etc/otelcol-contrib/config.yaml"),
    "prometheus": (PROMETHEUS_CONFIG, "/etc/prometheus/prometheus.yml"),
}
# Jaeger v2 receives OTLP/gRPC on 4317 and serves its UI on 16686 (its image sets
# JAEGER_LISTEN_HOST=0.0.0.0, so both are reachable from other containers).
JAEGER_OTLP_GRPC_PORT = 4317
JAEGER_UI_PORT = 16686
PROMETHEUS_UI_PORT = 9090
OTLP_HTTP_PORT = 4318
OTLP_GRPC_PORT = 4317

# Component types of the contrib distribution that this config may use: a misspelled type
# (`otlp_gprc`, `memorylimiter`) is refused by the collector at start.
KNOWN_COMPONENTS = {
    "receivers": {"otlp", "prometheus"},
    "processors": {"memory_limiter", "batch", "resource", "attributes"},
    "exporters": {"otlp_grpc", "otlp", "otlp_http", "otlphttp", "debug"},
    "extensions": {"health_check", "healthcheckv2", "pprof", "zpages"},
}
SIGNALS = {"traces", "metrics", "logs"}
_DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")


def _yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load_compose()


@pytest.fixture(scope="module")
def overlay() -> dict[str, Any]:
    return _yaml(OVERLAY)


@pytest.fixture(scope="module")
def collector() -> dict[str, Any]:
    return _yaml(COLLECTOR_CONFIG)


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    return _yaml(PROMETHEUS_CONFIG)


def _profiles(service: Mapping[str, Any]) -> list[str]:
    return list(service.get("profiles") or [])


def _depends_on(service: Mapping[str, Any]) -> set[str]:
    """The names of the long (mapping) and the short (list) syntax alike."""
    return set(service.get("depends_on") or ())


def _host_port(endpoint: str) -> tuple[str, int]:
    host, port = endpoint.rsplit(":", 1)
    return host, int(port)


def _merge(base: Any, override: Any) -> Any:
    """Compose's merge of mappings (`-f a -f b`), enough for what the overlay sets."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return override


# --- (1) Compose: the profile is optional and valid ------------------------------------------


def test_overlay_follows_the_compose_specification() -> None:
    result = _check_compose_schema(OVERLAY)
    assert result.returncode == 0, result.stdout + result.stderr


def test_merged_files_follow_the_compose_specification(
    compose: dict[str, Any], overlay: dict[str, Any], tmp_path: Path
) -> None:
    """What `docker compose -f docker-compose.yml -f …/compose.otel.yaml` ends up running."""
    merged = tmp_path / "merged.json"  # JSON is YAML: the checker reads it as such
    merged.write_text(json.dumps(_merge(compose, overlay)))

    result = _check_compose_schema(merged)

    assert result.returncode == 0, result.stdout + result.stderr


def test_profile_services_exist_and_carry_only_the_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    in_profile = {name for name, service in services.items() if _profiles(service)}

    assert in_profile == set(PROFILE_SERVICES), "only the observability stack is optional"
    for name in PROFILE_SERVICES:
        assert _profiles(services[name]) == [PROFILE], name


def test_profile_images_are_the_expected_ones_pinned_to_a_version(
    compose: dict[str, Any],
) -> None:
    for name, repository in PROFILE_SERVICES.items():
        image = compose["services"][name]["image"]
        name_part, _, tag = image.partition(":")
        assert name_part == repository, f"{name}: {image}"
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: {image} is not an exact version"
    jaeger_tag = compose["services"]["jaeger"]["image"].partition(":")[2]
    assert jaeger_tag.startswith("2."), "Jaeger v2 receives OTLP and listens on all interfaces"


def test_no_service_outside_the_profile_depends_on_it(compose: dict[str, Any]) -> None:
    """Compose refuses to start a service whose dependency is in a profile not enabled."""
    services = compose["services"]
    for name, service in services.items():
        if _profiles(service):
            continue
        assert not _depends_on(service) & set(PROFILE_SERVICES), name
        for key in ("links", "external_links", "volumes_from"):
            assert not service.get(key), f"{name}: {key}"
        for key in ("network_mode", "pid", "ipc"):
            assert not str(service.get(key, "")).startswith("service:"), f"{name}: {key}"


def test_base_file_sets_no_otel_variable(compose: dict[str, Any]) -> None:
    """Without the overlay nothing is exported: not even an empty OTEL_EXPORTER_OTLP_ENDPOINT.

    An empty value is not "unset" for the OpenTelemetry Python OTLP/HTTP exporter: it would
    post to "/v1/traces" and log an error for every batch.
    """
    for name in SERVICES:
        environment = compose["services"][name].get("environment") or {}
        names = (
            list(environment)
            if isinstance(environment, Mapping)
            else [item.split("=", 1)[0] for item in environment]
        )
        assert not [var for var in names if var.startswith("OTEL_")], name


def test_overlay_points_exactly_the_three_services_at_the_collector_receiver(
    compose: dict[str, Any], overlay: dict[str, Any], collector: dict[str, Any]
) -> None:
    assert set(overlay) == {"services"}
    assert set(overlay["services"]) == set(SERVICES)
    http_host, http_port = _host_port(
        collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    )
    assert http_host == "0.0.0.0", "reachable from the other containers"
    for name, service in overlay["services"].items():
        assert set(service) == {"environment"}, name
        environment = service["environment"]
        assert set(environment) == {"OTEL_EXPORTER_OTLP_ENDPOINT"}, name
        endpoint = urlsplit(environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
        # The services export OTLP over HTTP/protobuf: the base URL, no signal path.
        assert endpoint.scheme == "http", name
        assert endpoint.path in {"", "/"}, name
        assert endpoint.hostname == "otel-collector", name
        assert endpoint.port == http_port == OTLP_HTTP_PORT, name
        assert PROFILE in _profiles(compose["services"][endpoint.hostname])


def test_configs_are_mounted_read_only_from_files_in_the_repo(compose: dict[str, Any]) -> None:
    for name, (source, target) in MOUNTED_CONFIGS.items():
        mounts = []
        for volume in compose["services"][name].get("volumes", []):
            assert isinstance(volume, str), "short syntax: HOST:CONTAINER:ro"
            host, container, *options = volume.split(":")
            mounts.append((host, container, options))
        [(host, container, options)] = [m for m in mounts if m[1] == target]
        assert host.startswith("./"), "relative to the compose file, as in the repo"
        assert (COMPOSE_FILE.parent / host).resolve() == source.resolve(), name
        assert source.is_file(), f"{name}: {host} does not exist"
        assert options == ["ro"], f"{name}: mount it read-only"
    command = compose["services"]["otel-collector"]["command"]
    assert f"--config={MOUNTED_CONFIGS['otel-collector'][1]}" in command


def test_uis_and_otlp_ports_are_published(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert JAEGER_UI_PORT in _published_container_ports(services["jaeger"])
    assert PROMETHEUS_UI_PORT in _published_container_ports(services["prometheus"])
    assert {OTLP_HTTP_PORT, OTLP_GRPC_PORT} <= _published_container_ports(
        services["otel-collector"]
    )


# --- (2) the collector config ----------------------------------------------------------------


def _component_type(component_id: str) -> str:
    """`otlp_grpc/jaeger` → `otlp_grpc` (the collector's `type[/name]` ids)."""
    component_type, _, name = component_id.partition("/")
    assert re.fullmatch(r"[a-z][a-z0-9_]*", component_type), component_id
    assert "/" not in name, component_id
    return component_type


def test_collector_components_are_of_known_types(collector: dict[str, Any]) -> None:
    assert set(collector) <= {*KNOWN_COMPONENTS, "connectors", "service"}
    for section, known in KNOWN_COMPONENTS.items():
        for component_id in collector.get(section) or {}:
            assert _component_type(component_id) in known, f"{section}: {component_id}"


def _wiring_problems(collector: Mapping[str, Any]) -> list[str]:
    """What the collector would refuse or silently ignore in how its components are wired."""
    problems = []
    service = collector.get("service") or {}
    pipelines = service.get("pipelines") or {}
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    if not pipelines:
        problems.append("no pipeline")
    for pipeline_id, pipeline in pipelines.items():
        if pipeline_id.partition("/")[0] not in SIGNALS:
            problems.append(f"{pipeline_id}: not a signal")
        problems += [f"{pipeline_id}: unknown key {key}" for key in set(pipeline) - set(used)]
        problems += [
            f"{pipeline_id} has no {section[:-1]}"
            for section in ("receivers", "exporters")
            if not pipeline.get(section)
        ]
        for section in used:
            ids = pipeline.get(section) or []
            if len(ids) != len(set(ids)):
                problems.append(f"{pipeline_id}: {section} repeated")
            problems += [
                f"{pipeline_id} uses {section[:-1]} {component_id}, which is not defined"
                for component_id in ids
                if component_id not in (collector.get(section) or {})
            ]
            used[section] |= set(ids)
    for section, ids in used.items():
        if unused := set(collector.get(section) or {}) - ids:
            problems.append(f"{section} defined but in no pipeline: {sorted(unused)}")
    defined, enabled = set(collector.get("extensions") or {}), set(service.get("extensions") or [])
    if enabled - defined:
        problems.append(f"extensions enabled but not defined: {sorted(enabled - defined)}")
    if defined - enabled:
        problems.append(f"extensions defined but not enabled: {sorted(defined - enabled)}")
    return problems


def test_collector_pipelines_reference_only_defined_components(
    collector: dict[str, Any],
) -> None:
    assert _wiring_problems(collector) == []


@pytest.mark.parametrize(
    ("section", "component_id", "expected"),
    [
        ("exporters", "otlp_grpc/jaeger", "uses exporter otlp_grpc/jaeger"),
        ("processors", "batch", "uses processor batch"),
        ("receivers", "otlp", "uses receiver otlp"),
        ("extensions", "health_check", "enabled but not defined"),
    ],
)
def test_the_wiring_check_catches_a_missing_component(
    collector: dict[str, Any], section: str, component_id: str, expected: str
) -> None:
    """Guards the check above: a pipeline naming a component that is not defined fails it."""
    broken = json.loads(json.dumps(collector))
    del broken[section][component_id]

    assert any(expected in problem for problem in _wiring_problems(broken))


def test_collector_receives_otlp_on_all_interfaces(collector: dict[str, Any]) -> None:
    protocols = collector["receivers"]["otlp"]["protocols"]

    assert set(protocols) <= {"http", "grpc"}
    assert _host_port(protocols["http"]["endpoint"]) == ("0.0.0.0", OTLP_HTTP_PORT)
    if "grpc" in protocols:
        assert _host_port(protocols["grpc"]["endpoint"]) == ("0.0.0.0", OTLP_GRPC_PORT)


def test_traces_pipeline_guards_memory_and_batches(collector: dict[str, Any]) -> None:
    processors = collector["service"]["pipelines"]["traces"]["processors"]
    limiter = collector["processors"]["memory_limiter"]

    assert processors[0] == "memory_limiter", "first, so it refuses data before buffering"
    assert "batch" in processors
    assert limiter.get("check_interval"), "without it the limiter never measures"
    assert 0 < limiter["spike_limit_percentage"] < limiter["limit_percentage"] <= 100


def test_traces_pipeline_exports_to_jaeger_over_otlp_grpc(
    compose: dict[str, Any], collector: dict[str, Any]
) -> None:
    exporters = collector["service"]["pipelines"]["traces"]["exporters"]
    jaeger_exporters = [
        exporter
        for exporter in exporters
        if _component_type(exporter) in {"otlp_grpc", "otlp"}
        and _host_port(collector["exporters"][exporter]["endpoint"])[0] == "jaeger"
    ]

    [exporter] = jaeger_exporters
    config = collector["exporters"][exporter]
    host, port = _host_port(config["endpoint"])
    assert PROFILE in _profiles(compose["services"][host])
    assert port == JAEGER_OTLP_GRPC_PORT
    assert config["tls"]["insecure"] is True, "Jaeger's OTLP receiver serves plain gRPC"
    assert host in _depends_on(compose["services"]["otel-collector"])


def test_collector_serves_its_own_metrics_to_other_containers(
    collector: dict[str, Any],
) -> None:
    """The collector's default is localhost:8888: Prometheus could not scrape it."""
    readers = collector["service"]["telemetry"]["metrics"]["readers"]
    [prometheus] = [reader["pull"]["exporter"]["prometheus"] for reader in readers]

    assert prometheus["host"] == "0.0.0.0"
    assert prometheus["port"] == 8888


# --- (3) the Prometheus config ---------------------------------------------------------------


def _targets(prometheus: dict[str, Any]) -> dict[str, tuple[str, int, str]]:
    """job_name → (host, port, metrics path), one static target per job."""
    targets = {}
    for job in prometheus["scrape_configs"]:
        assert set(job) <= {
            "job_name",
            "metrics_path",
            "scheme",
            "scrape_interval",
            "scrape_timeout",
            "static_configs",
        }, job["job_name"]
        [static] = job["static_configs"]
        [target] = static["targets"]
        host, port = _host_port(target)
        targets[job["job_name"]] = (host, port, job.get("metrics_path", "/metrics"))
    return targets


def test_prometheus_config_is_well_formed(prometheus: dict[str, Any]) -> None:
    assert set(prometheus) <= {"global", "scrape_configs", "rule_files", "alerting"}
    durations = {
        key: value
        for key, value in prometheus.get("global", {}).items()
        if key.endswith(("_interval", "_timeout"))
    }
    for key, value in durations.items():
        assert value, key
        assert _DURATION.fullmatch(str(value)), f"{key}: {value!r}"
    names = [job["job_name"] for job in prometheus["scrape_configs"]]
    assert len(names) == len(set(names)), "job names must be unique"


def test_prometheus_scrapes_exactly_the_three_services_on_their_ports(
    compose: dict[str, Any], prometheus: dict[str, Any]
) -> None:
    services = compose["services"]
    scraped = {
        (host, port)
        for host, port, path in _targets(prometheus).values()
        if host in SERVICES and path == "/metrics"
    }
    expected = set()
    for name in SERVICES:
        port = int(_option(services[name]["command"], "--port"))
        assert port in _published_container_ports(services[name]), name
        expected.add((name, port))

    assert scraped == expected
    for host, _, _ in _targets(prometheus).values():
        assert host in services, f"{host} is no service of the compose file"


def test_prometheus_scrapes_the_collector_metrics(
    prometheus: dict[str, Any], collector: dict[str, Any]
) -> None:
    [reader] = collector["service"]["telemetry"]["metrics"]["readers"]
    port = reader["pull"]["exporter"]["prometheus"]["port"]

    assert ("otel-collector", port, "/metrics") in set(_targets(prometheus).values())


# --- (4) the README tells how to use it ------------------------------------------------------


def test_readme_starts_the_profile_with_the_overlay() -> None:
    text = README.read_text()
    section = text.split("### Observability profile", 1)[1].split("\n## ", 1)[0]

    assert f"--profile {PROFILE}" in section
    overlay = PurePosixPath(OVERLAY.relative_to(ROOT).as_posix())
    assert str(overlay) in section
    assert f"localhost:{JAEGER_UI_PORT}" in section
    assert f"localhost:{PROMETHEUS_UI_PORT}" in section


def test_the_schema_check_catches_a_broken_profile(tmp_path: Path) -> None:
    """Guards the checks above: a misspelled `profiles` key must fail the schema check."""
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text()
    assert '    profiles: ["observability"]\n' in text
    broken.write_text(text.replace("    profiles: [", "    profile: [", 1))

    result = _check_compose_schema(broken)

    assert result.returncode != 0
    assert "profile" in result.stdout + result.stderr
