"""`order-platform dev`: the embedded servers and every service as child processes, one command.

Ctrl-C or SIGTERM stops the services first (each drains and commits), then the servers.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from order_platform.embedded import EmbeddedServerError, EmbeddedServers, PlatformService

# Service ports are port_base + offset; the embedded servers start at port_base + 10.
ORDER_SERVICE_OFFSET = 1
READ_SERVICE_OFFSET = 2
NOTIFICATION_SERVICE_OFFSET = 3
SERVERS_OFFSET = 10


@dataclass(frozen=True, slots=True)
class DevOptions:
    port_base: int = 8000
    host: str = "127.0.0.1"
    data_dir: Path | None = None


def run_dev(options: DevOptions) -> int:
    log_dir = Path(tempfile.mkdtemp(prefix="order-platform-dev-"))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    servers = EmbeddedServers(
        port_base=options.port_base + SERVERS_OFFSET,
        host=options.host,
        log_dir=log_dir,
        mongodb_data_dir=options.data_dir,
    )
    read_url = f"http://{options.host}:{options.port_base + READ_SERVICE_OFFSET}"
    services: list[PlatformService] = []
    try:
        _say(f"starting Kafka, MongoDB and Redis (logs in {log_dir}) ...")
        servers.start()
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap_servers,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",  # the embedded broker has no InitProducerId
            "MONGODB_URI": servers.mongodb_uri,
            "REDIS_URL": servers.redis_url,
            "ORDER_LOCATION_BASE_URL": read_url,
        }
        services += [
            PlatformService(
                name, env=env, host=options.host, port=options.port_base + offset, log_dir=log_dir
            )
            for name, offset in (
                ("order-service", ORDER_SERVICE_OFFSET),
                ("read-service", READ_SERVICE_OFFSET),
                ("notification-service", NOTIFICATION_SERVICE_OFFSET),
            )
        ]
        for service in services:
            _say(f"starting {service.service} on {service.url} ...")
            service.start()
        _print_banner(servers, services, log_dir, options)
        while not stop.wait(1.0):
            for service in services:
                if not service.is_running:
                    _say(f"{service.service} exited unexpectedly; its log: {service.log_path}")
                    return 1
        _say("stopping ...")
        return 0
    except EmbeddedServerError as error:
        _say(f"could not start: {error}")
        return 1
    finally:
        for service in reversed(services):
            service.stop()
        servers.close()


def _print_banner(
    servers: EmbeddedServers, services: list[PlatformService], log_dir: Path, options: DevOptions
) -> None:
    order, read, worker = (service.url for service in services)
    data = f"MongoDB data in {options.data_dir}" if options.data_dir else "data in memory only"
    _say(
        f"""
order-platform is up ({data}; the embedded broker keeps no messages across runs).

  Order Service   POST {order}/orders      docs {order}/docs      metrics {order}/metrics
  Read Service    GET  {read}/orders       docs {read}/docs       metrics {read}/metrics
  Notifications   worker; health {worker}/health/ready                 metrics {worker}/metrics
  Kafka           {servers.kafka_bootstrap_servers}
  MongoDB         {servers.mongodb_uri}
  Redis           {servers.redis_url}
  Logs            {log_dir}

Try it:
  curl -si {order}/orders -H 'Content-Type: application/json' \\
    -d '{{"customerName": "Lucas", "totalAmount": 199.90}}'
  curl -s {read}/orders     # the order, once projected (milliseconds later)

The notification line appears in {log_dir}/notification-service-*.log.
Ctrl-C stops everything.
"""
    )


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
