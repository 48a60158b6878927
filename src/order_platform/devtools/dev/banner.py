"""What `dev` prints once everything is up: the URLs, the servers, and a curl that works."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from order_platform.devtools.dev.dev_identity import DEMO_CUSTOMER
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
    bearer = f" -H 'Authorization: Bearer {token}'" if token else ""
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
        "Try it" + (f" (as {DEMO_CUSTOMER}; the token is valid for 12 hours):" if token else ":"),
        f"  curl -si {order.url}/orders{bearer} -H 'Content-Type: application/json' \\",
        """    -d '{"customerName": "Lucas", "totalAmount": 199.90}'""",
        f"  curl -s {read}/orders{bearer}     # the order, once projected (milliseconds later)",
        "",
        "Notification lines (and errors) from the services are shown below.",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)
