"""The child processes of one `dev` run: the embedded servers, then the services; watched until
the developer stops them or one dies; stopped services first (so they drain), then the servers.

Whatever fails to start is named with the reason (one sentence for a taken port, the tail of
its log otherwise) and everything already started is stopped before `dev` exits 1. Every start
runs in a helper thread so that a Ctrl-C during start-up is noticed at once; the main thread
still waits for that start to finish before stopping, so that no process is spawned behind
its back.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from order_platform.building_blocks.auth.bearer_auth import SCOPE_ADMIN
from order_platform.devtools.dev.banner import banner
from order_platform.devtools.dev.dev_identity import (
    DEMO_CUSTOMER,
    DEMO_SCOPES,
    DEV_AUDIENCE,
    DEV_ISSUER,
    DevIdentity,
    JwksServer,
    default_key_dir,
)
from order_platform.devtools.dev.failures import DevError, describe_failures, log_tail
from order_platform.devtools.dev.log_follower import LogFollower
from order_platform.devtools.dev.messages import say
from order_platform.devtools.dev.options import DevOptions
from order_platform.devtools.dev.port_plan import PortPlan
from order_platform.devtools.embedded import EmbeddedServer, EmbeddedServers, PlatformService

SERVICE_STARTUP_TIMEOUT = 60.0  # several Python processes importing at once on a small machine
DEMO_TOKEN_SECONDS = 12 * 3600
CONSOLE_SUBJECT = "order-platform-console"
CONSOLE_TOKEN_SECONDS = 7 * 24 * 3600


class DevSupervisor:
    """One run of `dev`: what was started, so that exactly that is stopped."""

    def __init__(self, options: DevOptions, stop: threading.Event) -> None:
        self.options = options
        self.stop = stop
        self.ports = PortPlan.of(options)
        self.log_dir = Path()  # made once the ports are known to be free
        self.services: list[PlatformService] = []
        self.servers: EmbeddedServers | None = None
        self.follower: LogFollower | None = None
        self.jwks: JwksServer | None = None
        self.demo_token: str | None = None
        self.console_token: str | None = None  # orders:admin, for the operator console

    def run(self) -> int:
        self.ports.check(self.options.host)
        self.log_dir = Path(tempfile.mkdtemp(prefix="order-platform-dev-"))
        try:
            if not self._start():
                return 0  # Ctrl-C during start-up: a normal stop
            assert self.servers is not None
            say(banner(self.options, self.services, self.servers, self.log_dir, self.demo_token))
            return self._watch()
        except DevError as error:
            say(f"could not start: {error}")  # before the stop messages, which follow it
            return 1
        finally:
            self._stop_everything()

    def _start(self) -> bool:
        """False when the developer stopped us meanwhile; raises `DevError` on a failure."""
        host = self.options.host
        self.servers = servers = EmbeddedServers(
            port_base=self.ports.servers_base,
            host=host,
            log_dir=self.log_dir,
            mongodb_data_dir=self.options.data_dir,
        )
        say(f"starting Kafka, MongoDB and Redis (logs in {self.log_dir}) ...")
        if not self._in_background(servers.start):
            return False
        read_url = f"http://{host}:{self.ports.read[0]}"
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap_servers,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",  # the embedded broker has no InitProducerId
            "MONGODB_URI": servers.mongodb_uri,
            "REDIS_URL": servers.redis_url,
            "ORDER_LOCATION_BASE_URL": read_url,
        }
        env |= self._auth_environment()
        # Each service owns its database server (see EmbeddedServers); the worker uses none.
        # The operator console scrapes every replica and asks the first of each.
        own_environment = {
            "read-service": {"MONGODB_URI": servers.read_mongodb_uri},
            "console": {
                **({"CONSOLE_ACCESS_TOKEN": self.console_token} if self.console_token else {}),
                "ORDER_SERVICE_URL": f"http://{host}:{self.ports.order}",
                "READ_SERVICE_URL": ",".join(f"http://{host}:{p}" for p in self.ports.read),
                "NOTIFICATION_SERVICE_URL": ",".join(
                    f"http://{host}:{p}" for p in self.ports.notification
                ),
            },
        }
        self.services = [
            PlatformService(
                name,
                env=env | own_environment.get(name, {}),
                host=host,
                port=port,
                log_dir=self.log_dir,
                startup_timeout=SERVICE_STARTUP_TIMEOUT,
            )
            for name, port in self.ports.services()
        ]
        self.follower = LogFollower(self.services)
        self.follower.start()
        say(f"starting {', '.join(f'{s.service} on {s.url}' for s in self.services)} ...")
        return self._in_background(lambda: _start_all(self.services))

    def _auth_environment(self) -> dict[str, str]:
        """With auth on (the default): the dev key's JWKS served locally, the services told
        to trust it, and a token for the demo customer to print."""
        if not self.options.auth:
            return {}
        key_dir = self.options.data_dir or default_key_dir()
        identity = DevIdentity.load_or_create(key_dir)
        self.jwks = JwksServer(identity, self.options.host)
        self.demo_token = identity.mint(DEMO_CUSTOMER, DEMO_SCOPES, ttl_seconds=DEMO_TOKEN_SECONDS)
        # The console reads every order's hops; its token is never printed, and lives as
        # long as a dev session reasonably does.
        self.console_token = identity.mint(
            CONSOLE_SUBJECT, [SCOPE_ADMIN], ttl_seconds=CONSOLE_TOKEN_SECONDS
        )
        return {
            "AUTH_JWKS_URL": self.jwks.url,
            "AUTH_ISSUER": DEV_ISSUER,
            "AUTH_AUDIENCE": DEV_AUDIENCE,
        }

    def _in_background(self, start: Callable[[], object]) -> bool:
        """Run `start` in a thread, noticing Ctrl-C meanwhile; always wait for it to end."""
        errors: list[BaseException] = []

        def run() -> None:
            try:
                start()
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        thread = threading.Thread(target=run, name="dev-start", daemon=True)
        thread.start()
        while thread.is_alive() and not self.stop.wait(0.1):
            pass
        if thread.is_alive():
            say("stopping as soon as the part now starting is up ...")
        thread.join()
        if self.stop.is_set():
            return False
        if errors:
            raise DevError(describe_failures(errors)) from errors[0]
        return True

    def _watch(self) -> int:
        """Wait for a stop signal; a part that dies on its own ends the run with exit code 1."""
        assert self.servers is not None
        watched: list[EmbeddedServer] = [*self.services, *self.servers.all]
        while not self.stop.wait(1.0):
            for part in watched:
                if not part.is_running:
                    say(
                        f"{part.name} (port {part.port}) exited unexpectedly with code "
                        f"{part.returncode}; stopping everything.\n{log_tail(part.log_path)}"
                    )
                    return 1
        say("stopping ...")
        return 0

    def _stop_everything(self) -> None:
        # The services first, all at once (each drains and commits within 10 s), so that they
        # still have their servers while they finish; the follower prints their last lines.
        if self.services:
            with ThreadPoolExecutor(max_workers=len(self.services)) as pool:
                list(pool.map(lambda service: service.stop(), self.services))
        if self.follower is not None:
            self.follower.close()
        if self.jwks is not None:
            self.jwks.close()
        if self.servers is not None:
            self.servers.close()
        say(f"stopped; logs kept in {self.log_dir}")


def _start_all(services: Sequence[PlatformService]) -> None:
    """Start the services in parallel (each start is mostly an interpreter importing)."""
    with ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="dev-service") as pool:
        futures = [pool.submit(service.start) for service in services]
    errors = [error for future in futures if (error := future.exception()) is not None]
    if errors:
        raise BaseExceptionGroup("services failed to start", errors)
