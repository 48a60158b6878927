"""What `dev` prints once everything is up: the URLs, the servers, and curls that work as
printed (pasted in that order into one shell): the token once, as `export TOKEN=…`, then each
curl with `$TOKEN`; an order placed, its id kept in `$ORDER_ID`, and each command of its life."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from order_platform.devtools.dev.dev_identity import DEMO_CUSTOMER, DEMO_SCOPES
from order_platform.devtools.dev.options import DevOptions
from order_platform.devtools.dev.port_plan import (
    NOTIFICATION_REPLICA_OFFSET,
    NOTIFICATION_SERVICE_OFFSET,
    READ_REPLICA_OFFSET,
    READ_SERVICE_OFFSET,
)
from order_platform.devtools.embedded import EmbeddedServers, PlatformService


def banner(
    options: DevOptions,
    services: Sequence[PlatformService],
    servers: EmbeddedServers,
    log_dir: Path,
    token: str | None = None,
) -> str:
    order, *rest = services
    reads = [s for s in rest if s.service == "read-service"]
    workers = [s for s in rest if s.service == "notification-service"]
    consoles = [s for s in rest if s.service == "console"]
    read = reads[0].url
    data = f"MongoDB data in {options.data_dir}" if options.data_dir else "data in memory only"
    lines = [
        "",
        f"order-platform is up ({data}; the embedded broker keeps no messages across runs).",
        "",
        *(
            f"  Operator console  {console.url}   (the whole pipeline in one page)"
            for console in consoles
        ),
        *([""] if consoles else []),
        f"  Order Service   POST {order.url}/orders   docs {order.url}/docs"
        f"   metrics {order.url}/metrics",
    ]
    for number, service in enumerate(reads, start=1):
        label = "Read Service" if len(reads) == 1 else f"Read Service {number}"
        lines.append(
            f"  {label:<15} GET  {service.url}/orders   docs {service.url}/docs"
            f"   metrics {service.url}/metrics"
        )
    for number, service in enumerate(workers, start=1):
        label = "Notifications" if len(workers) == 1 else f"Notifications {number}"
        lines.append(
            f"  {label:<15} worker: health {service.url}/health/ready"
            f"   metrics {service.url}/metrics"
        )
    if options.replicas > 1:
        lines += [
            "",
            f"  {options.replicas} replicas each share their consumer group's partitions "
            "(the topic has 4; more replicas than that stand by).",
            f"  Replica ports: the first on BASE+{READ_SERVICE_OFFSET} and "
            f"BASE+{NOTIFICATION_SERVICE_OFFSET}, the others on "
            f"BASE+{READ_REPLICA_OFFSET}+i and BASE+{NOTIFICATION_REPLICA_OFFSET}+i.",
            "",
        ]
    lines += [
        "  Auth            "
        + (
            "bearer tokens (JWT) from the dev key; `order-platform token --sub S --scope ...` "
            "mints more"
            if token
            else "OFF (--no-auth): every route is open"
        ),
        f"  Kafka           {servers.kafka_bootstrap_servers}",
        f"  MongoDB         {servers.mongodb_uri}  (write model)",
        f"                  {servers.read_mongodb_uri}  (read model)",
        f"  Redis           {servers.redis_url}",
        f"  Logs            {log_dir}",
        "",
        *_try_it(order.url, read, token),
        "",
        "Notification lines (and errors) from the services are shown below.",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


# Double quotes, so that the shell expands $TOKEN; the JSON bodies stay in single quotes.
BEARER = ' -H "Authorization: Bearer $TOKEN"'
JSON = " -H 'Content-Type: application/json'"
NEW_ORDER = """-d '{"customerName": "Lucas", "totalAmount": 199.90}'"""
ID_OF_ANSWER = """python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'"""


def _try_it(order: str, read: str, token: str | None) -> list[str]:
    """The curls, each as a shell command that works once the lines above it have run."""
    bearer = BEARER if token else ""
    scopes = " ".join(DEMO_SCOPES)
    return [
        "Try it"
        + (
            f" (as {DEMO_CUSTOMER} with {scopes}; the token is valid for 12 hours):"
            if token
            else ":"
        ),
        *([f"  export TOKEN={token}"] if token else []),
        f"  curl -si {order}/orders{bearer}{JSON} \\",
        f"    {NEW_ORDER}",
        f"  curl -s {read}/orders{bearer}     # the order, once projected (milliseconds later)",
        "",
        "An order's life: place one and keep its id (the POST's answer's \"id\") in ORDER_ID,",
        f"  ORDER_ID=$(curl -s {order}/orders{bearer}{JSON} \\",
        f"    {NEW_ORDER} | {ID_OF_ANSWER})",
        "then (GET on the Order Service: the write model's state, its version as the ETag):",
        f"  curl -si {order}/orders/$ORDER_ID{bearer}",
        f"  curl -s -X POST {order}/orders/$ORDER_ID/confirm{bearer}",
        f"  curl -s {order}/orders/$ORDER_ID/ship{bearer}{JSON} \\",
        """    -d '{"trackingNumber": "TRACK-0001"}'""",
        "or, instead of ship (a shipped order stays shipped):",
        f"  curl -s {order}/orders/$ORDER_ID/cancel{bearer}{JSON} \\",
        """    -d '{"reason": "changed my mind"}'""",
    ]
