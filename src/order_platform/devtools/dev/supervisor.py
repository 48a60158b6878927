"""`order-platform dev`: the embedded servers and every service as child processes, one command.

Ctrl-C, SIGTERM or SIGHUP stops the services first (each drains and commits), then the
servers. Whatever fails to start is named with the reason (one sentence for a taken port, the
tail of its log otherwise) and everything already started is stopped before `dev` exits 1.
Every start runs in a helper thread so that a Ctrl-C during start-up is noticed at once; the
main thread still waits for that start to finish before stopping, so that no process is
spawned behind its back.
"""

from __future__ import annotations

import re
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from order_platform.devtools.embedded import (
    EmbeddedServer,
    EmbeddedServerError,
    EmbeddedServers,
    PlatformService,
    PortInUseError,
)
from order_platform.devtools.embedded.ports import ensure_port_free

# Service ports are port_base + offset; the embedded servers start at port_base + 10. Extra
# replicas get predictable ports too: read service i (1-based beyond the first) on
# BASE+20+i, worker i on BASE+30+i, so that at most 9 replicas fit between the ranges.
ORDER_SERVICE_OFFSET = 1
READ_SERVICE_OFFSET = 2
NOTIFICATION_SERVICE_OFFSET = 3
SERVERS_OFFSET = 10
READ_REPLICA_OFFSET = 20
NOTIFICATION_REPLICA_OFFSET = 30
MAX_REPLICAS = 9
SERVICE_STARTUP_TIMEOUT = 60.0  # several Python processes importing at once on a small machine
_LOG_TAIL_LINES = 15
_POLL_SECONDS = 0.2

# What the terminal shows from the service logs: the notification (the point of the demo) and
# errors, in either log format; everything else stays in the log files.
_NOTIFICATION = re.compile(r"📩 Notification sent to .*? \| Order: [0-9a-f-]{36} \| Total: \S+")
_ERROR = re.compile(r'\[(error|critical)\s*\]|^(ERROR|CRITICAL) |"level": ?"(error|critical)"')


class DevError(Exception):
    """A problem the developer can fix from the command line; printed as is, exit code 1."""


@dataclass(frozen=True, slots=True)
class DevOptions:
    port_base: int = 8000
    host: str = "127.0.0.1"
    data_dir: Path | None = None
    replicas: int = 1
    order_port: int | None = None
    read_port: int | None = None
    notification_port: int | None = None


@dataclass(frozen=True, slots=True)
class PortPlan:
    """Every port `dev` will listen on, decided (and checked) before anything starts."""

    order: int
    read: tuple[int, ...]
    notification: tuple[int, ...]
    servers_base: int

    @classmethod
    def of(cls, options: DevOptions) -> PortPlan:
        if not 1 <= options.replicas <= MAX_REPLICAS:
            raise DevError(f"--replicas must be between 1 and {MAX_REPLICAS}")
        base = options.port_base

        def replicas(first: int | None, offset: int, extra_offset: int) -> tuple[int, ...]:
            head = first if first is not None else base + offset
            return (head, *(base + extra_offset + i for i in range(1, options.replicas)))

        return cls(
            order=(
                options.order_port
                if options.order_port is not None
                else base + ORDER_SERVICE_OFFSET
            ),
            read=replicas(options.read_port, READ_SERVICE_OFFSET, READ_REPLICA_OFFSET),
            notification=replicas(
                options.notification_port, NOTIFICATION_SERVICE_OFFSET, NOTIFICATION_REPLICA_OFFSET
            ),
            servers_base=base + SERVERS_OFFSET,
        )

    def named(self) -> list[tuple[str, int]]:
        servers = [("kafka", 0), ("mongodb", 1), ("redis", 2)]
        return [
            ("order-service", self.order),
            *(("read-service", port) for port in self.read),
            *(("notification-service", port) for port in self.notification),
            *((name, self.servers_base + offset) for name, offset in servers),
        ]

    def check(self, host: str) -> None:
        """One sentence for a port outside 1-65535, used twice, or taken by another process."""
        seen: dict[int, str] = {}
        for name, port in self.named():
            if not 0 < port < 65536:
                raise DevError(f"{name}: port {port} is not a valid TCP port; lower --port-base")
            if port in seen:
                raise DevError(f"{name} and {seen[port]} would both use port {port}")
            seen[port] = name
            try:
                ensure_port_free(host, port, server_name=name)
            except PortInUseError as error:
                raise DevError(_with_hint(error)) from None


def run_dev(options: DevOptions) -> int:
    stop = threading.Event()
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in handled}
    try:
        return _Dev(options, stop).run()
    except DevError as error:
        _say(f"could not start: {error}")
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Dev:
    """One run of `dev`: what was started, so that exactly that is stopped."""

    def __init__(self, options: DevOptions, stop: threading.Event) -> None:
        self.options = options
        self.stop = stop
        self.ports = PortPlan.of(options)
        self.log_dir = Path()  # made once the ports are known to be free
        self.services: list[PlatformService] = []
        self.servers: EmbeddedServers | None = None
        self.follower: _LogFollower | None = None

    def run(self) -> int:
        self.ports.check(self.options.host)
        self.log_dir = Path(tempfile.mkdtemp(prefix="order-platform-dev-"))
        try:
            if not self._start():
                return 0  # Ctrl-C during start-up: a normal stop
            self._print_banner()
            return self._watch()
        except DevError as error:
            _say(f"could not start: {error}")  # before the stop messages, which follow it
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
        _say(f"starting Kafka, MongoDB and Redis (logs in {self.log_dir}) ...")
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
        planned = [
            ("order-service", self.ports.order),
            *(("read-service", port) for port in self.ports.read),
            *(("notification-service", port) for port in self.ports.notification),
        ]
        # Each service owns its database server (see EmbeddedServers); the worker uses none.
        own_database = {"read-service": {"MONGODB_URI": servers.read_mongodb_uri}}
        self.services = [
            PlatformService(
                name,
                env=env | own_database.get(name, {}),
                host=host,
                port=port,
                log_dir=self.log_dir,
                startup_timeout=SERVICE_STARTUP_TIMEOUT,
            )
            for name, port in planned
        ]
        self.follower = _LogFollower(self.services)
        self.follower.start()
        _say(f"starting {', '.join(f'{s.service} on {s.url}' for s in self.services)} ...")
        return self._in_background(lambda: _start_all(self.services))

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
            _say("stopping as soon as the part now starting is up ...")
        thread.join()
        if self.stop.is_set():
            return False
        if errors:
            raise DevError(_describe_failures(errors)) from errors[0]
        return True

    def _watch(self) -> int:
        """Wait for a stop signal; a part that dies on its own ends the run with exit code 1."""
        assert self.servers is not None
        watched: list[EmbeddedServer] = [*self.services, *self.servers.all]
        while not self.stop.wait(1.0):
            for part in watched:
                if not part.is_running:
                    _say(
                        f"{part.name} (port {part.port}) exited unexpectedly with code "
                        f"{part.returncode}; stopping everything.\n{_log_tail(part.log_path)}"
                    )
                    return 1
        _say("stopping ...")
        return 0

    def _stop_everything(self) -> None:
        # The services first, all at once (each drains and commits within 10 s), so that they
        # still have their servers while they finish; the follower prints their last lines.
        if self.services:
            with ThreadPoolExecutor(max_workers=len(self.services)) as pool:
                list(pool.map(lambda service: service.stop(), self.services))
        if self.follower is not None:
            self.follower.close()
        if self.servers is not None:
            self.servers.close()
        _say(f"stopped; logs kept in {self.log_dir}")

    def _print_banner(self) -> None:
        assert self.servers is not None
        servers, options = self.servers, self.options
        order, *rest = self.services
        reads = [s for s in rest if s.service == "read-service"]
        workers = [s for s in rest if s.service == "notification-service"]
        read = reads[0].url
        data = f"MongoDB data in {options.data_dir}" if options.data_dir else "data in memory only"
        lines = [
            "",
            f"order-platform is up ({data}; the embedded broker keeps no messages across runs).",
            "",
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
            f"  Kafka           {servers.kafka_bootstrap_servers}",
            f"  MongoDB         {servers.mongodb_uri}  (write model)",
            f"                  {servers.read_mongodb_uri}  (read model)",
            f"  Redis           {servers.redis_url}",
            f"  Logs            {self.log_dir}",
            "",
            "Try it:",
            f"  curl -si {order.url}/orders -H 'Content-Type: application/json' \\",
            """    -d '{"customerName": "Lucas", "totalAmount": 199.90}'""",
            f"  curl -s {read}/orders     # the order, once projected (milliseconds later)",
            "",
            "Notification lines (and errors) from the services are shown below.",
            "Ctrl-C stops everything.",
            "",
        ]
        _say("\n".join(lines))


def _start_all(services: Sequence[PlatformService]) -> None:
    """Start the services in parallel (each start is mostly an interpreter importing)."""
    with ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="dev-service") as pool:
        futures = [pool.submit(service.start) for service in services]
    errors = [error for future in futures if (error := future.exception()) is not None]
    if errors:
        raise BaseExceptionGroup("services failed to start", errors)


def _describe_failures(errors: Iterable[BaseException]) -> str:
    """One paragraph per failed part: a port conflict in a sentence, else the error with its log."""
    flat: list[BaseException] = []
    for error in errors:
        if isinstance(error, BaseExceptionGroup):
            flat += _flatten(error)
        else:
            flat.append(error)
    messages = []
    for error in flat:
        if isinstance(error, PortInUseError):
            messages.append(_with_hint(error))
        elif isinstance(error, EmbeddedServerError | OSError):
            messages.append(str(error))
        else:
            messages.append(f"{type(error).__name__}: {error}")
    return "\n".join(messages)


def _with_hint(error: PortInUseError) -> str:
    flag = {
        "order-service": "--order-port",
        "read-service": "--read-port",
        "notification-service": "--notification-port",
    }.get(error.server_name)
    options = f"{flag} or --port-base" if flag else "--port-base"
    return f"{error} ({options} choose others)"


def _flatten(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for error in group.exceptions:
        found += _flatten(error) if isinstance(error, BaseExceptionGroup) else [error]
    return found


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    tail = "\n".join(text.splitlines()[-lines:]) or "(empty)"
    return f"last lines of {path}:\n{tail}"


class _LogFollower:
    """Copies the interesting lines of the services' log files to our stdout, as they come.

    The services write to files (a pipe nobody drains would block them); polling the files
    keeps every child independent of this process's output.
    """

    def __init__(self, services: Sequence[PlatformService]) -> None:
        self._sources = [(f"{s.service}:{s.port}", s.log_path) for s in services]
        self._offsets = dict.fromkeys((path for _, path in self._sources), 0)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dev-logs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self._poll()  # whatever the services wrote while stopping

    def _run(self) -> None:
        while not self._closed.wait(_POLL_SECONDS):
            self._poll()

    def _poll(self) -> None:
        for prefix, path in self._sources:
            for line in self._new_lines(path):
                if found := _NOTIFICATION.search(line):
                    print(f"{prefix}  {found[0]}", flush=True)
                elif _ERROR.search(line):
                    print(f"{prefix}  {line}", flush=True)

    def _new_lines(self, path: Path) -> list[str]:
        try:
            with path.open("rb") as log:
                log.seek(self._offsets[path])
                chunk = log.read()
        except OSError:
            return []
        complete = chunk.rfind(b"\n") + 1  # a partly written line waits for the next poll
        self._offsets[path] += complete
        return chunk[:complete].decode("utf-8", errors="replace").splitlines()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
