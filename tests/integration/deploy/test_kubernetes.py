"""The Kubernetes manifests (`deploy/kubernetes/`), checked without a cluster.

No cluster, kubectl or kustomize runs where the tests run. What `kubectl apply -k` and the
operators would reject, and what would only show up as a pod that never gets ready, is checked
instead, offline:

- both kustomizations render (`kustomize.py`, a loader of the features used here only), and
  every built-in resource validates, strictly (no unknown field), against the Kubernetes API
  schemas that `kubernetes-validate` ships;
- the custom resources (KEDA `ScaledObject`, Strimzi `Kafka`/`KafkaNodePool`/`KafkaTopic`,
  `MongoDBCommunity`) validate, strictly, against their operators' own CRD schemas (copied
  into `crd_schemas/`, descriptions removed), and carry the fields the platform relies on,
  with consistent values;
- the manifests agree with the code: every variable is a settings field with a value the
  settings accept, the connection strings point at the servers deployed here, the probes and
  the scrape annotation hit routes the service's app serves on the port it listens on, the
  consumer groups and topic are the code's, maxReplicaCount <= partitions, the container
  runs as the image's user, and the grace period leaves room for the 10 s drain;
- NetworkPolicies let only the two HTTP services be reached from outside the namespace.
"""

from __future__ import annotations

import asyncio
import copy
import difflib
import importlib.metadata
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema
import kubernetes_validate
import pytest
import yaml
from fastapi import FastAPI
from kubernetes_validate.utils import SchemaNotFoundError
from pydantic_settings import BaseSettings

from order_platform.building_blocks.runtime.health import Readiness
from order_platform.notification_service.bootstrap import (
    create_http_app as create_notification_app,
)
from order_platform.notification_service.infrastructure.settings import (
    NotificationServiceSettings,
)
from order_platform.order_service.bootstrap import create_http_app as create_order_app
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from order_platform.read_service.bootstrap import create_http_app as create_read_app
from order_platform.read_service.infrastructure.settings import ReadServiceSettings
from tests.integration.deploy.kustomize import (
    KustomizeError,
    api_group,
    load_yaml_documents,
    render,
)
from tests.integration.deploy.test_compose import (
    REQUIRED_ENVIRONMENT,
    ROOT,
    SERVICES,
    _env_names,
    _load_compose,
    _stages,
)

KUBERNETES_DIR = ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES_DIR / "base"
DEV = KUBERNETES_DIR / "overlays" / "dev"
KUSTOMIZATIONS = {"base": BASE, "dev": DEV}
# The oldest Kubernetes the manifests are meant for (preStop `sleep` needs 1.30) and the
# newest the validator ships: both must accept them.
KUBERNETES_VERSIONS = ["1.30", kubernetes_validate.utils.latest_version()]
NAMESPACE = "order-platform"

SETTINGS: dict[str, type[BaseSettings]] = {
    name: settings_class for name, (settings_class, _) in SERVICES.items()
}
APPS = {
    "order-service": create_order_app,
    "read-service": create_read_app,
    "notification-service": create_notification_app,
}
# Variables a service reads that are not its settings: the OpenTelemetry SDK's own.
OTEL_VARIABLES = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
}
# The consumers KEDA scales, and the consumer group each must watch (the code's default).
CONSUMERS = {
    "read-service": ReadServiceSettings().consumer_group,
    "notification-service": NotificationServiceSettings().consumer_group,
}
# The custom resources, and the operators that serve them.
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("kafka.strimzi.io/v1", "Kafka"),
    ("kafka.strimzi.io/v1", "KafkaNodePool"),
    ("kafka.strimzi.io/v1", "KafkaTopic"),
    ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"),
}
# The metadata keys the KEDA Kafka scaler reads (pkg/scalers/kafka_scaler.go of KEDA 2.20.2,
# its `keda:"name=..."` tags): a misspelt key is ignored by KEDA, which then scales on the
# default (a lagThreshold of 10, say) without a word.
KEDA_KAFKA_METADATA = {
    *("bootstrapServers", "consumerGroup", "topic", "lagThreshold", "activationLagThreshold"),
    *("offsetResetPolicy", "allowIdleConsumers", "excludePersistentLag", "version"),
    *("scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag", "partitionLimitation"),
    *("ensureEvenDistributionOfPartitions", "sasl", "tls", "unsafeSsl"),
}
SHUTDOWN_DRAIN_SECONDS = 10  # guarantee 6: every service drains and exits within 10 s
KEDA_NAMESPACE = "keda"


# --- rendering ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(path) for name, path in KUSTOMIZATIONS.items()}


@pytest.fixture(scope="module")
def dev(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return rendered["dev"]


def _all_manifest_files() -> list[Path]:
    return sorted(KUBERNETES_DIR.rglob("*.yaml"))


def _find(resources: list[dict[str, Any]], kind: str, name: str | None = None) -> list[Any]:
    return [
        resource
        for resource in resources
        if resource["kind"] == kind and (name is None or resource["metadata"]["name"] == name)
    ]


def _one(resources: list[dict[str, Any]], kind: str, name: str | None = None) -> Any:
    found = _find(resources, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _container(deployment: Mapping[str, Any]) -> Any:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _pod_labels(workload: Mapping[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def _matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions)."""
    for name, value in (selector.get("matchLabels") or {}).items():
        if labels.get(name) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        name, operator = expression["key"], expression["operator"]
        values = set(expression.get("values") or [])
        ok = {
            "In": name in labels and labels[name] in values,
            "NotIn": name not in labels or labels[name] not in values,
            "Exists": name in labels,
            "DoesNotExist": name not in labels,
        }[operator]
        if not ok:
            return False
    return True


def test_both_kustomizations_render(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, resources in rendered.items():
        assert resources, name
        for resource in resources:
            assert {"apiVersion", "kind", "metadata"} <= resource.keys(), (name, resource)
            if resource["kind"] != "Namespace":
                assert resource["metadata"].get("namespace") == NAMESPACE, (name, resource)


def test_the_loader_refuses_what_it_does_not_understand(tmp_path: Path) -> None:
    """Guards the loader: a kustomization feature it would ignore must fail the tests."""
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: []\nnamePrefix: dev-\n"
    )
    with pytest.raises(KustomizeError, match="namePrefix"):
        render(tmp_path)


def test_dev_overlay_patches_what_it_says(dev: list[dict[str, Any]]) -> None:
    base = render(BASE)
    assert _one(dev, "HorizontalPodAutoscaler", "order-service")["spec"]["minReplicas"] == 1
    for name in CONSUMERS:
        assert _one(dev, "ScaledObject", name)["spec"]["minReplicaCount"] == 1
        # The strategic merge kept the rest of the container.
        dev_container, base_container = (
            _container(_one(resources, "Deployment", name)) for resources in (dev, base)
        )
        assert dev_container["resources"]["requests"]["cpu"] == "100m"
        assert dev_container["resources"]["limits"] == base_container["resources"]["limits"]
        assert dev_container["env"] == base_container["env"]
    location = _one(dev, "ConfigMap", "order-service-config")["data"]
    assert location["ORDER_LOCATION_BASE_URL"] == "http://localhost:8002"
    assert location["MONGODB_DATABASE"] == "order-write-db"


@pytest.mark.parametrize("path", _all_manifest_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_1_1_and_1_2_agree(path: Path) -> None:
    """kubectl's parser and YAML 1.2 read every value alike (an unquoted `yes` or `on` would
    be a boolean to one and a string to the other)."""
    assert [doc for doc in yaml.safe_load_all(path.read_text()) if doc] == load_yaml_documents(path)


# --- (1) the Kubernetes API schemas ----------------------------------------------------------


def _validate(resource: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(resource, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_builtin_resource_follows_the_api_schema(
    rendered: dict[str, list[dict[str, Any]]], kustomization: str, version: str
) -> None:
    custom: set[tuple[str, str]] = set()
    for resource in rendered[kustomization]:
        identity = (resource["apiVersion"], resource["kind"])
        try:
            _validate(resource, version)
        except SchemaNotFoundError:
            custom.add(identity)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{identity} {resource['metadata']['name']}: {path}: {error.message}")
    # Everything the validator has no schema for is checked by the tests below.
    assert custom == CUSTOM_KINDS


def test_the_schema_check_rejects_a_misspelled_field(dev: list[dict[str, Any]]) -> None:
    """Guards the check above: strict validation refuses an unknown field."""
    deployment = _one(dev, "Deployment", "order-service")
    broken = {**deployment, "spec": {**deployment["spec"]}}
    template = broken["spec"]["template"] = {**deployment["spec"]["template"]}
    container = dict(_container(deployment))
    container["readinesProbe"] = container.pop("readinessProbe")
    template["spec"] = {**template["spec"], "containers": [container]}

    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        _validate(broken, KUBERNETES_VERSIONS[-1])


CRD_SCHEMAS = Path(__file__).parent / "crd_schemas"


def _strict(schema: Any) -> Any:
    """An OpenAPI schema of a CRD that refuses unknown fields, as `kubectl apply
    --validate=strict` does (the API server would otherwise prune them, silently)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {name: _strict(value) for name, value in schema.items()}
    if (
        strict.get("type") == "object"
        and "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@pytest.fixture(scope="module")
def crd_schemas() -> dict[tuple[str, str], Any]:
    """The operators' own CRD schemas (crd_schemas/: Strimzi 1.2.0, KEDA 2.20.2, MongoDB
    Community operator 0.13.0; the `$comment` of each file says where it comes from)."""
    schemas = {}
    for path in sorted(CRD_SCHEMAS.glob("*.json")):
        document = json.loads(path.read_text())
        schemas[document["apiVersion"], document["kind"]] = _strict(document["schema"])
    return schemas


def _crd_errors(schemas: Mapping[tuple[str, str], Any], resource: Mapping[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schemas[resource["apiVersion"], resource["kind"]])
    return [
        f"{'.'.join(str(part) for part in error.path)}: {error.message}"
        for error in validator.iter_errors(resource)
    ]


def test_there_is_a_crd_schema_for_every_custom_kind(
    crd_schemas: dict[tuple[str, str], Any],
) -> None:
    assert set(crd_schemas) == CUSTOM_KINDS


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_custom_resource_follows_its_operators_schema(
    rendered: dict[str, list[dict[str, Any]]],
    crd_schemas: dict[tuple[str, str], Any],
    kustomization: str,
) -> None:
    for resource in rendered[kustomization]:
        if (resource["apiVersion"], resource["kind"]) in CUSTOM_KINDS:
            errors = _crd_errors(crd_schemas, resource)
            assert not errors, (resource["kind"], resource["metadata"]["name"], errors)


@pytest.mark.parametrize(
    ("kind", "mutate", "field"),
    [
        (
            "Kafka",
            lambda spec: spec["kafka"]["listeners"][0].update(networkPolicyPeer=[]),
            "networkPolicyPeer",
        ),
        ("KafkaNodePool", lambda spec: spec.update(role=["broker"]), "role"),
        (
            "MongoDBCommunity",
            lambda spec: spec["users"][0].update(connectionSecretName="x"),
            "connectionSecretName",
        ),
        ("ScaledObject", lambda spec: spec.update(maxReplicas=6), "maxReplicas"),
        ("KafkaTopic", lambda spec: spec.update(partitions="six"), "six"),
    ],
)
def test_the_crd_check_rejects_a_misspelled_field(
    dev: list[dict[str, Any]],
    crd_schemas: dict[tuple[str, str], Any],
    kind: str,
    mutate: Any,
    field: str,
) -> None:
    """Guards the check above: a field the operator does not know fails it."""
    resource = copy.deepcopy(_find(dev, kind)[0])
    mutate(resource["spec"])

    assert any(field in error for error in _crd_errors(crd_schemas, resource))


# --- (2) workloads: commands, probes, security, resources ------------------------------------


@pytest.mark.parametrize("service_name", SERVICES)
def test_args_are_the_compose_command(dev: list[dict[str, Any]], service_name: str) -> None:
    """`args`, not `command`: `command` would replace the image's ENTRYPOINT (the CLI)."""
    container = _container(_one(dev, "Deployment", service_name))
    compose_command = _load_compose()["services"][service_name]["command"]

    assert "command" not in container
    assert container["args"] == compose_command
    assert container["image"] == f"order-platform:{importlib.metadata.version('order-platform')}"


def _container_port(container: Mapping[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return int(number)


def _listening_port(container: Mapping[str, Any]) -> int:
    args = container["args"]
    return int(args[args.index("--port") + 1])


def _get(app: FastAPI, path: str) -> int:
    """GET on the app without running its lifespan (nothing connects anywhere)."""
    app.state.readiness = Readiness({})

    async def call() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return (await client.get(path)).status_code

    return asyncio.run(call())


@pytest.fixture
def no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)


@pytest.mark.usefixtures("no_tracing")
@pytest.mark.parametrize("service_name", SERVICES)
def test_probes_and_scrape_target_exist_on_the_service(
    dev: list[dict[str, Any]], service_name: str
) -> None:
    deployment = _one(dev, "Deployment", service_name)
    container = _container(deployment)
    app = APPS[service_name](SETTINGS[service_name]())
    port = _listening_port(container)

    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe")}
    probes["readinessProbe"] = container["readinessProbe"]["httpGet"]
    assert probes["livenessProbe"]["path"] == "/health/live"
    assert probes["startupProbe"]["path"] == "/health/live"
    assert probes["readinessProbe"]["path"] == "/health/ready"
    for kind, probe in probes.items():
        assert _container_port(container, probe["port"]) == port, kind
        assert _get(app, probe["path"]) == 200, (kind, probe["path"])
    assert _get(app, "/health/nonexistent") == 404, "the app answers 404 on unknown paths"

    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port
    assert _get(app, annotations["prometheus.io/path"]) == 200


@pytest.mark.parametrize("service_name", SERVICES)
def test_service_and_pdb_select_the_pods_on_the_listening_port(
    dev: list[dict[str, Any]], service_name: str
) -> None:
    deployment = _one(dev, "Deployment", service_name)
    labels = _pod_labels(deployment)
    container = _container(deployment)
    service = _one(dev, "Service", service_name)
    pdb = _one(dev, "PodDisruptionBudget", service_name)

    assert _matches(deployment["spec"]["selector"], labels)
    assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
    [service_port] = service["spec"]["ports"]
    assert _container_port(container, service_port["targetPort"]) == _listening_port(container)
    assert service_port["port"] == _listening_port(container)
    assert _matches(pdb["spec"]["selector"], labels)
    # maxUnavailable, not minAvailable: a single replica (dev) must not block a node drain.
    assert pdb["spec"].get("maxUnavailable") == 1


def _dockerfile_user() -> tuple[int, int]:
    runtime = _stages()[-1]
    [user] = [args for name, args in runtime if name == "USER"][-1:]
    uid, gid = user.split(":")
    return int(uid), int(gid)


@pytest.mark.parametrize("service_name", SERVICES)
def test_runs_as_the_image_user_under_the_restricted_standard(
    dev: list[dict[str, Any]], service_name: str
) -> None:
    pod = _one(dev, "Deployment", service_name)["spec"]["template"]["spec"]
    container = _container(_one(dev, "Deployment", service_name))
    uid, gid = _dockerfile_user()
    pod_security, security = pod["securityContext"], container["securityContext"]

    assert (pod_security["runAsUser"], pod_security["runAsGroup"]) == (uid, gid)
    assert pod_security["runAsNonRoot"] is True
    assert uid != 0
    assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in security
    assert not pod.get("hostNetwork")
    assert not pod.get("hostPID")
    # A read-only root: whatever wants a scratch directory gets an emptyDir.
    mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
    assert "/tmp" in mounts
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("service_name", SERVICES)
def test_grace_period_leaves_room_for_the_drain(
    dev: list[dict[str, Any]], service_name: str
) -> None:
    pod = _one(dev, "Deployment", service_name)["spec"]["template"]["spec"]
    container = _container(_one(dev, "Deployment", service_name))
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {})

    grace = pod["terminationGracePeriodSeconds"]
    assert grace > SHUTDOWN_DRAIN_SECONDS + pre_stop.get("seconds", 0)
    assert grace > SHUTDOWN_DRAIN_SECONDS
    # Compose gives the same service 15 s; the cluster adds the preStop pause on top.
    if service_name != "notification-service":
        assert pre_stop.get("seconds", 0) >= 1, "endpoints must be removed before SIGTERM"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_container_has_requests_and_limits(
    rendered: dict[str, list[dict[str, Any]]], kustomization: str
) -> None:
    for workload in _find(rendered[kustomization], "Deployment") + _find(
        rendered[kustomization], "StatefulSet"
    ):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            resources = container["resources"]
            name = (workload["metadata"]["name"], container["name"])
            assert {"cpu", "memory"} <= resources["requests"].keys(), name
            assert "memory" in resources["limits"], name


def test_third_party_images_are_pinned(dev: list[dict[str, Any]]) -> None:
    for workload in _find(dev, "StatefulSet"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            image = container["image"]
            assert ":" in image, image
            assert not image.endswith(":latest"), image
    assert re.fullmatch(r"\d+\.\d+\.\d+", _one(dev, "MongoDBCommunity")["spec"]["version"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(_one(dev, "Kafka")["spec"]["kafka"]["version"]))


# --- (3) settings: every variable is a field, every value accepted, every server ours ------


def _secret_value(resources: list[dict[str, Any]], name: str, key: str) -> str:
    """A Secret's value: from the Secrets the overlay ships, or the one an operator writes."""
    secrets = _find(resources, "Secret", name)
    if secrets:
        [secret] = secrets
        data = secret.get("stringData") or {}
        assert key in data, f"Secret {name} has no key {key}"
        return str(data[key])
    mongodb = _one(resources, "MongoDBCommunity")
    users = {user["connectionStringSecretName"]: user for user in mongodb["spec"]["users"]}
    assert name in users, f"no Secret {name}, and no MongoDB user whose connection string it is"
    assert key == "connectionString.standard", key
    return _mongodb_connection_string(mongodb, users[name])


def _mongodb_connection_string(mongodb: Mapping[str, Any], user: Mapping[str, Any]) -> str:
    """The operator's `connectionString.standard`, built as its `MongoAuthUserURI` does
    (MongoDB Community operator 0.13.0, api/v1/mongodbcommunity_types.go)."""
    name, namespace = mongodb["metadata"]["name"], mongodb["metadata"]["namespace"]
    hosts = ",".join(
        f"{name}-{member}.{name}-svc.{namespace}.svc.cluster.local:27017"
        for member in range(mongodb["spec"]["members"])
    )
    return f"mongodb://{user['name']}:password@{hosts}/{user['db']}?replicaSet={name}&ssl=false"


def _environment(
    resources: list[dict[str, Any]], service_name: str, *, secrets: bool = True
) -> dict[str, str]:
    """The variables the container gets, as Kubernetes sets them: envFrom, then env (without
    those from Secrets when `secrets` is false: the base ships none)."""
    container = _container(_one(resources, "Deployment", service_name))
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, source
        config_map = _one(resources, "ConfigMap", source["configMapRef"]["name"])
        environment.update({k: str(v) for k, v in config_map["data"].items()})
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = str(variable["value"])
        elif secrets:
            reference = variable["valueFrom"]["secretKeyRef"]
            environment[variable["name"]] = _secret_value(
                resources, reference["name"], reference["key"]
            )
    return environment


@pytest.mark.parametrize("service_name", SERVICES)
def test_every_variable_is_a_setting_of_that_service(
    dev: list[dict[str, Any]], service_name: str
) -> None:
    known = _env_names(SETTINGS[service_name])
    environment = _environment(dev, service_name)

    unknown = {
        name: difflib.get_close_matches(name, known, n=1)
        for name in environment
        if name not in known | OTEL_VARIABLES
    }

    assert not unknown, f"{service_name} ignores {unknown} (name: closest setting)"
    missing = REQUIRED_ENVIRONMENT[service_name] - environment.keys()
    assert not missing, f"{service_name} would use the localhost defaults of {missing}"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for settings_class in SETTINGS.values():
        for name in _env_names(settings_class):
            monkeypatch.delenv(name, raising=False)
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _host_port(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


@pytest.mark.parametrize("service_name", SERVICES)
def test_settings_accept_the_values_and_target_the_servers_deployed_here(
    dev: list[dict[str, Any]], service_name: str, clean_environment: pytest.MonkeyPatch
) -> None:
    environment = _environment(dev, service_name)
    for name, value in environment.items():
        clean_environment.setenv(name, value)

    settings: Any = SETTINGS[service_name]()  # raises on a value the service would refuse

    assert settings.kafka_enable_idempotence, "real Kafka takes the idempotent producer"
    assert settings.renamed_in_use == (), "no deprecated setting name"
    assert settings.log_format == "json"
    assert (
        settings.order_events_topic
        == OrderServiceSettings.model_fields["order_events_topic"].default
    )
    kafka = _one(dev, "Kafka")
    [listener] = [
        item
        for item in kafka["spec"]["kafka"]["listeners"]
        if (f"{kafka['metadata']['name']}-kafka-bootstrap", item["port"])
        == _host_port(settings.kafka_bootstrap_servers)
    ]
    assert listener["tls"] is False, "the services' settings have no TLS for Kafka"
    assert "authentication" not in listener, "the services' settings have no SASL"
    if "REDIS_URL" in REQUIRED_ENVIRONMENT[service_name]:
        redis_url = urlsplit(settings.redis_url)
        assert redis_url.hostname == _one(dev, "Service", "redis")["metadata"]["name"]
        assert redis_url.port == 6379
        assert redis_url.password, "Redis requires a password (--requirepass)"
    if "MONGODB_URI" in REQUIRED_ENVIRONMENT[service_name]:
        mongodb = _one(dev, "MongoDBCommunity")
        uri = urlsplit(settings.mongodb_uri)
        assert parse_qs(uri.query)["replicaSet"] == [mongodb["metadata"]["name"]]
        assert uri.username
        assert uri.password


def test_the_ledger_and_the_cache_use_different_redis_databases(
    dev: list[dict[str, Any]],
) -> None:
    """Flushing the read cache must not erase the notification ledger (as in Compose)."""
    databases = {
        name: urlsplit(_environment(dev, name)["REDIS_URL"]).path
        for name in ("read-service", "notification-service")
    }
    assert databases == {"read-service": "/0", "notification-service": "/1"}


def test_each_service_reaches_only_its_own_mongodb_database(dev: list[dict[str, Any]]) -> None:
    mongodb = _one(dev, "MongoDBCommunity")
    users = {user["connectionStringSecretName"]: user for user in mongodb["spec"]["users"]}
    for service_name in ("order-service", "read-service"):
        container = _container(_one(dev, "Deployment", service_name))
        [reference] = [
            variable["valueFrom"]["secretKeyRef"]
            for variable in container["env"]
            if variable["name"] == "MONGODB_URI"
        ]
        database = _environment(dev, service_name)["MONGODB_DATABASE"]
        assert database == SETTINGS[service_name].model_fields["mongodb_database"].default
        assert users[reference["name"]]["roles"] == [{"name": "readWrite", "db": database}]


def test_every_secret_reference_resolves(dev: list[dict[str, Any]]) -> None:
    """Each referenced Secret is shipped by the overlay or written by the MongoDB operator."""
    mongodb = _one(dev, "MongoDBCommunity")
    for user in mongodb["spec"]["users"]:
        password = _one(dev, "Secret", user["passwordSecretRef"]["name"])
        assert password["stringData"].get(user["passwordSecretRef"].get("key", "password"))
    for workload in _find(dev, "Deployment") + _find(dev, "StatefulSet"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference:
                    assert _secret_value(dev, reference["name"], reference["key"])


def test_traces_go_to_a_collector_over_otlp_http(dev: list[dict[str, Any]]) -> None:
    for service_name in SERVICES:
        endpoint = urlsplit(_environment(dev, service_name)["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert endpoint.scheme == "http"
        assert endpoint.port == 4318, "the exporter speaks OTLP over HTTP"
        assert endpoint.hostname
        assert endpoint.hostname.endswith(".svc.cluster.local")


# --- (4) scaling ------------------------------------------------------------------------------


def test_each_deployment_has_exactly_one_autoscaler_and_no_fixed_replicas(
    dev: list[dict[str, Any]],
) -> None:
    owners: dict[str, list[str]] = {name: [] for name in SERVICES}
    for hpa in _find(dev, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        owners[target["name"]].append(f"HPA {hpa['metadata']['name']}")
    for scaled in _find(dev, "ScaledObject"):
        target = scaled["spec"]["scaleTargetRef"]
        assert target.get("kind", "Deployment") == "Deployment"
        owners[target["name"]].append(f"ScaledObject {scaled['metadata']['name']}")

    assert all(len(found) == 1 for found in owners.values()), owners
    for name in SERVICES:
        # An autoscaled Deployment without `replicas`: `kubectl apply` would reset the count.
        assert "replicas" not in _one(dev, "Deployment", name)["spec"], name


def _cpu_utilization_targets(resources: list[dict[str, Any]], name: str) -> list[int]:
    targets = [
        int(metric["resource"]["target"]["averageUtilization"])
        for hpa in _find(resources, "HorizontalPodAutoscaler", name)
        for metric in hpa["spec"]["metrics"]
        if metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    ]
    targets += [
        int(trigger["metadata"]["value"])
        for scaled in _find(resources, "ScaledObject", name)
        for trigger in scaled["spec"]["triggers"]
        if trigger["type"] == "cpu" and trigger.get("metricType") == "Utilization"
    ]
    return targets


@pytest.mark.parametrize("service_name", ["order-service", "read-service"])
def test_http_services_scale_on_cpu(dev: list[dict[str, Any]], service_name: str) -> None:
    [target] = _cpu_utilization_targets(dev, service_name)
    assert 50 <= target <= 90
    container = _container(_one(dev, "Deployment", service_name))
    assert container["resources"]["requests"]["cpu"], "utilization is relative to requests"


def _topic(resources: list[dict[str, Any]], name: str) -> Any:
    [topic] = [
        topic
        for topic in _find(resources, "KafkaTopic")
        if topic["spec"].get("topicName", topic["metadata"]["name"]) == name
    ]
    return topic


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
@pytest.mark.parametrize("service_name", CONSUMERS)
def test_consumers_scale_on_the_lag_of_their_group(
    rendered: dict[str, list[dict[str, Any]]], kustomization: str, service_name: str
) -> None:
    resources = rendered[kustomization]
    scaled = _one(resources, "ScaledObject", service_name)
    spec = scaled["spec"]
    [trigger] = [trigger for trigger in spec["triggers"] if trigger["type"] == "kafka"]
    metadata = trigger["metadata"]
    kafka = _one(resources, "Kafka")
    topic_name = SETTINGS[service_name].model_fields["order_events_topic"].default
    topic = _topic(resources, topic_name)

    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert set(metadata) <= KEDA_KAFKA_METADATA, set(metadata) - KEDA_KAFKA_METADATA
    assert all(isinstance(value, str) for value in metadata.values()), "KEDA reads strings"
    assert metadata["consumerGroup"] == CONSUMERS[service_name]
    assert (
        metadata["consumerGroup"]
        == _environment(resources, service_name, secrets=False)["CONSUMER_GROUP"]
    )
    assert metadata["topic"] == topic_name
    assert int(metadata["lagThreshold"]) > 0
    assert metadata.get("allowIdleConsumers", "false") == "false"
    assert metadata.get("offsetResetPolicy") == "earliest", "as the consumers (aiokafka)"
    # KEDA's operator runs in its own namespace: it needs the Service's namespaced name.
    host, port = _host_port(metadata["bootstrapServers"])
    namespace = scaled["metadata"]["namespace"]
    assert host == f"{kafka['metadata']['name']}-kafka-bootstrap.{namespace}.svc.cluster.local"
    assert port in {listener["port"] for listener in kafka["spec"]["kafka"]["listeners"]}
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    # A member beyond the partition count owns no partition: it would sit idle.
    assert spec["maxReplicaCount"] <= topic["spec"]["partitions"]


def test_lag_thresholds_fit_the_batch_sizes(dev: list[dict[str, Any]]) -> None:
    """The thresholds the README explains: two read batches, about three worker batches."""
    thresholds = {
        name: int(
            next(
                trigger["metadata"]["lagThreshold"]
                for trigger in _one(dev, "ScaledObject", name)["spec"]["triggers"]
                if trigger["type"] == "kafka"
            )
        )
        for name in CONSUMERS
    }
    read_batch = ReadServiceSettings().consumer_max_batch
    worker_batch = NotificationServiceSettings().consumer_max_batch
    assert read_batch <= thresholds["read-service"] <= 4 * read_batch
    assert worker_batch <= thresholds["notification-service"] <= 4 * worker_batch


# --- (5) Kafka, MongoDB, Redis ---------------------------------------------------------------


def test_kafka_runs_in_kraft_mode_on_three_nodes(dev: list[dict[str, Any]]) -> None:
    kafka = _one(dev, "Kafka")
    pools = _find(dev, "KafkaNodePool")
    name = kafka["metadata"]["name"]
    spec = kafka["spec"]

    assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
    assert "zookeeper" not in spec
    assert "replicas" not in spec["kafka"], "node pools have the replicas"
    assert "storage" not in spec["kafka"], "node pools have the storage"
    assert all(pool["metadata"]["labels"]["strimzi.io/cluster"] == name for pool in pools)
    brokers = sum(pool["spec"]["replicas"] for pool in pools if "broker" in pool["spec"]["roles"])
    controllers = [
        pool["spec"]["replicas"] for pool in pools if "controller" in pool["spec"]["roles"]
    ]
    assert brokers >= 3
    assert sum(controllers) % 2 == 1, "a KRaft quorum of an odd number of controllers"
    for pool in pools:
        assert pool["spec"]["storage"]["type"] in {"jbod", "persistent-claim"}
    config = spec["kafka"]["config"]
    assert config["min.insync.replicas"] == 2
    assert config["default.replication.factor"] == 3, "for the dead-letter topics"
    assert config["offsets.topic.replication.factor"] == 3, "the committed offsets"
    assert "topicOperator" in spec["entityOperator"], "it manages the KafkaTopic"


def test_order_events_topic_is_replicated(dev: list[dict[str, Any]]) -> None:
    topic = _topic(dev, OrderServiceSettings().order_events_topic)
    compose = _load_compose()["services"]["kafka-init"]["command"]

    assert (
        topic["metadata"]["labels"]["strimzi.io/cluster"] == _one(dev, "Kafka")["metadata"]["name"]
    )
    assert topic["spec"]["replicas"] == 3
    assert topic["spec"]["config"]["min.insync.replicas"] == 2
    assert topic["spec"]["partitions"] == int(compose[compose.index("--partitions") + 1])
    # A redelivery must come while the ledger still remembers the send.
    retention_hours = topic["spec"]["config"]["retention.ms"] / 3_600_000
    assert retention_hours <= NotificationServiceSettings().notification_dedup_ttl_hours


def test_mongodb_is_a_three_member_replica_set_with_authentication(
    dev: list[dict[str, Any]],
) -> None:
    mongodb = _one(dev, "MongoDBCommunity")
    spec = mongodb["spec"]

    assert mongodb["apiVersion"] == "mongodbcommunity.mongodb.com/v1"
    assert spec["type"] == "ReplicaSet"
    assert spec["members"] == 3
    assert spec["security"]["authentication"]["modes"] == ["SCRAM"]
    for user in spec["users"]:
        assert {"name", "db", "passwordSecretRef", "roles", "scramCredentialsSecretName"} <= set(
            user
        )
        assert user["connectionStringSecretName"]


def test_redis_keeps_the_ledger_on_a_volume(dev: list[dict[str, Any]]) -> None:
    redis = _one(dev, "StatefulSet", "redis")
    container = _container(redis)
    service = _one(dev, "Service", "redis")
    args = container["args"]

    assert args[args.index("--appendonly") + 1] == "yes"
    [claim] = redis["spec"]["volumeClaimTemplates"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in container["volumeMounts"]
    assert redis["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    assert _matches({"matchLabels": service["spec"]["selector"]}, _pod_labels(redis))
    # The password comes from the Secret, expanded by the kubelet into the argument.
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert "REDIS_PASSWORD" in {variable["name"] for variable in container["env"]}
    pod_security = redis["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["fsGroup"] == pod_security["runAsUser"] == 999  # the image's redis


# --- (6) NetworkPolicies ---------------------------------------------------------------------


def _pods(resources: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Every kind of pod in the namespace and its labels (operators' pods as they label them)."""
    pods = {
        workload["metadata"]["name"]: _pod_labels(workload)
        for workload in _find(resources, "Deployment") + _find(resources, "StatefulSet")
    }
    mongodb = _one(resources, "MongoDBCommunity")["metadata"]["name"]
    pods["mongodb"] = {"app": f"{mongodb}-svc"}
    return pods


def _reachable_from_outside(policy_rules: list[Any]) -> bool:
    """Some rule admits traffic from another namespace (no `from`, or a namespaceSelector)."""
    for rule in policy_rules:
        peers = rule.get("from")
        if not peers:
            return True
        if any("namespaceSelector" in peer or "ipBlock" in peer for peer in peers):
            return True
    return False


def test_ingress_is_denied_unless_allowed(dev: list[dict[str, Any]]) -> None:
    denies = [
        policy
        for policy in _find(dev, "NetworkPolicy")
        if policy["spec"]["podSelector"] == {}
        and policy["spec"]["policyTypes"] == ["Ingress"]
        and not policy["spec"].get("ingress")
    ]
    assert denies, "a default deny of ingress for the whole namespace"


def test_only_the_http_services_are_reachable_from_outside(dev: list[dict[str, Any]]) -> None:
    pods = _pods(dev)
    open_to_all: set[str] = set()
    open_to_other_namespaces: set[str] = set()
    for policy in _find(dev, "NetworkPolicy"):
        rules = policy["spec"].get("ingress") or []
        for pod, labels in pods.items():
            if not _matches(policy["spec"]["podSelector"], labels) or not rules:
                continue
            if any(not rule.get("from") for rule in rules):
                open_to_all.add(pod)
            if _reachable_from_outside(rules):
                open_to_other_namespaces.add(pod)

    assert open_to_all == {"order-service", "read-service"}
    # Prometheus scrapes the worker's metrics from the monitoring namespace.
    assert open_to_other_namespaces == {"order-service", "read-service", "notification-service"}
    [metrics] = [
        policy
        for policy in _find(dev, "NetworkPolicy")
        if _matches(policy["spec"]["podSelector"], pods["notification-service"])
        and policy["spec"].get("ingress")
    ]
    [rule] = metrics["spec"]["ingress"]
    assert rule["ports"] == [
        {"port": _listening_port(_container(_one(dev, "Deployment", "notification-service")))}
    ]


@pytest.mark.parametrize(
    ("server", "clients"),
    [
        ("redis", {"read-service", "notification-service"}),
        ("mongodb", {"order-service", "read-service", "mongodb"}),
    ],
)
def test_data_stores_are_reached_only_by_the_services(
    dev: list[dict[str, Any]], server: str, clients: set[str]
) -> None:
    pods = _pods(dev)
    allowed: set[str] = set()
    for policy in _find(dev, "NetworkPolicy"):
        if not _matches(policy["spec"]["podSelector"], pods[server]):
            continue
        for rule in policy["spec"].get("ingress") or []:
            assert rule.get("from"), f"{policy['metadata']['name']} admits everyone"
            for peer in rule["from"]:
                assert set(peer) == {"podSelector"}, "only pods of this namespace"
                allowed |= {
                    pod for pod, labels in pods.items() if _matches(peer["podSelector"], labels)
                }
    assert allowed == clients


def test_kafka_listener_admits_only_the_services_and_keda(dev: list[dict[str, Any]]) -> None:
    """Strimzi writes the brokers' NetworkPolicy from the listener's networkPolicyPeers."""
    pods = _pods(dev)
    kafka = _one(dev, "Kafka")
    for listener in kafka["spec"]["kafka"]["listeners"]:
        peers = listener["networkPolicyPeers"]
        local = [peer for peer in peers if "namespaceSelector" not in peer]
        remote = [peer for peer in peers if "namespaceSelector" in peer]
        admitted = {
            pod
            for peer in local
            for pod, labels in pods.items()
            if _matches(peer["podSelector"], labels)
        }
        assert admitted == set(SERVICES)
        assert [peer["namespaceSelector"] for peer in remote] == [
            {"matchLabels": {"kubernetes.io/metadata.name": KEDA_NAMESPACE}}
        ]
        assert all(peer.get("podSelector") for peer in remote), "KEDA's operator, not all of it"


# --- (7) api groups the loader keys patches on -----------------------------------------------


def test_every_patch_names_a_resource_of_the_base() -> None:
    """A patch whose kind or name drifted would fail to render: prove the loader checks."""
    base = render(BASE)
    for path in sorted((DEV / "patches").glob("*.yaml")):
        for patch in load_yaml_documents(path):
            assert [
                resource
                for resource in base
                if (api_group(resource), resource["kind"], resource["metadata"]["name"])
                == (api_group(patch), patch["kind"], patch["metadata"]["name"])
            ], (path.name, patch["kind"], patch["metadata"]["name"])
