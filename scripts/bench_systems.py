"""The systems the benchmark drives: the platform, and the baseline design beside it.

Each runs its three services against its own fresh set of embedded servers, so that neither
inherits the other's data, caches or JIT-warm servers, and both on the same server layout
(`LAYOUTS`), or the comparison measures the layout, not the design. Both expose the same face
to the load: the write and read URLs, the processes whose CPU and memory count, and how many
notifications have been sent so far (counted from the worker's output, where both print them).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import httpx
import psutil

from order_platform.devtools.embedded import EmbeddedServers, PlatformService, create_topic
from order_platform.devtools.embedded.process import ManagedProcess

TOPIC = "orders"  # the platform's (ORDER_EVENTS_TOPIC)
BASELINE_TOPIC = "order-created"  # hard-coded in the baseline
TOPIC_PARTITIONS = 4  # the embedded broker's default for an auto-created topic
NOTIFICATION_MARK = b"Notification sent to"
# The platform's lines for an order's changes (notification_service/domain/notification.py).
LIFECYCLE_NOTIFICATION_MARKS = ("✅ Order ".encode(), "📦 Order ".encode(), "❌ Order ".encode())

# How a system's MongoDB is laid out: its write side, read side and read model on one server,
# or the read model (the platform's read service, the baseline's `READ_MONGODB_URI`) on a
# server of its own.
LAYOUTS = {
    "one": "one MongoDB server per system",
    "split": "a write server and a read server per system",
}


class System(Protocol):
    name: str
    order_url: str
    read_url: str

    def service_processes(self) -> dict[str, psutil.Process]: ...

    def server_processes(self) -> dict[str, psutil.Process]: ...

    def notifications(self) -> int: ...

    def close(self) -> None: ...


class NotificationCounter:
    """Counts notification lines in a growing log file, reading only what is new."""

    def __init__(self, path: Path, marks: tuple[bytes, ...] = (NOTIFICATION_MARK,)) -> None:
        self._path = path
        self._marks = marks
        self._offset = 0
        self._count = 0

    def __call__(self) -> int:
        if self._path.exists():
            with self._path.open("rb") as log:
                log.seek(self._offset)
                data = log.read()
            complete = data.rfind(b"\n") + 1  # a half-written line is counted next time
            self._count += sum(data[:complete].count(mark) for mark in self._marks)
            self._offset += complete
        return self._count


def _servers(log_dir: Path, layout: str, topic: str) -> EmbeddedServers:
    """Fresh servers for one system; the read model's MongoDB is started only in the split
    layout (one never started has no process, so its CPU and memory count nowhere)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}, expected one of {', '.join(LAYOUTS)}")
    servers = EmbeddedServers(log_dir=log_dir)
    wanted = [s for s in servers.all if layout == "split" or s is not servers.read_mongodb]
    try:
        with ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix="embedded") as pool:
            futures = [pool.submit(server.start) for server in wanted]
        for future in futures:
            future.result()
        asyncio.run(
            create_topic(servers.kafka_bootstrap_servers, topic, TOPIC_PARTITIONS, exist_ok=True)
        )
    except BaseException:
        servers.close()
        raise
    return servers


def _server_processes(servers: EmbeddedServers) -> dict[str, psutil.Process]:
    return {s.name: psutil.Process(s.pid) for s in servers.all if s.pid}


def _read_mongodb_uri(servers: EmbeddedServers, layout: str) -> str:
    return servers.read_mongodb_uri if layout == "split" else servers.mongodb_uri


def _common_env(servers: EmbeddedServers) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap_servers,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "MONGODB_URI": servers.mongodb_uri,
        "REDIS_URL": servers.redis_url,
    }


class Platform:
    """The embedded servers and the three services, as in `order-platform dev`."""

    name = "platform"

    def __init__(
        self,
        log_dir: Path,
        *,
        layout: str,
        otlp_endpoint: str | None = None,
        source: Path | None = None,
    ) -> None:
        self.servers = _servers(log_dir / "platform", layout, TOPIC)
        env = _common_env(self.servers) | {"LOG_LEVEL": "WARNING", "ORDER_EVENTS_TOPIC": TOPIC}
        if source is not None:  # another checkout's code (e.g. a worktree of an older commit)
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(source.resolve()), os.environ.get("PYTHONPATH")])
            )
            env["ORDER_CREATED_TOPIC"] = TOPIC  # the only name an older checkout reads
        if otlp_endpoint:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_endpoint
        own = {
            "read-service": {"MONGODB_URI": _read_mongodb_uri(self.servers, layout)},
            # The notification line is the worker's effect, so it stays on, as in production.
            "notification-service": {"LOG_LEVEL": "INFO"},
        }
        self.services: dict[str, PlatformService] = {}
        try:
            for name in ("order-service", "read-service", "notification-service"):
                self.services[name] = PlatformService(
                    name, env=env | own.get(name, {}), log_dir=log_dir / "platform"
                ).start()
        except BaseException:
            self.close()
            raise
        self.order_url = self.services["order-service"].url
        self.read_url = self.services["read-service"].url
        notifier_log = self.services["notification-service"].log_path
        self.notifications = NotificationCounter(notifier_log)
        # Confirmed, shipped, cancelled: counted apart, as the lifecycle phase's own effect.
        self.lifecycle_notifications = NotificationCounter(
            notifier_log, LIFECYCLE_NOTIFICATION_MARKS
        )

    def service_processes(self) -> dict[str, psutil.Process]:
        return {name: psutil.Process(s.pid) for name, s in self.services.items() if s.pid}

    def server_processes(self) -> dict[str, psutil.Process]:
        return _server_processes(self.servers)

    def close(self) -> None:
        for service in reversed(self.services.values()):
            service.stop()
        self.servers.close()


class Baseline:
    """`../shared/baseline/run.sh`: the seed's design, on servers of its own."""

    name = "baseline"

    def __init__(self, run_script: Path, log_dir: Path, *, layout: str) -> None:
        self.servers = _servers(log_dir / "baseline", layout, BASELINE_TOPIC)
        write_port, read_port = _free_port(), _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if k != "READ_MONGODB_URI"},
            **_common_env(self.servers),
            "BASELINE_PYTHON": sys.executable,
            "PYTHONUNBUFFERED": "1",
        }
        if layout == "split":
            env["READ_MONGODB_URI"] = self.servers.read_mongodb_uri
        log_path = log_dir / "baseline" / "services.log"
        self._process = ManagedProcess(
            "baseline",
            ["bash", str(run_script), str(write_port), str(read_port)],
            log_path,
            env=env,
        )
        self.order_url = f"http://127.0.0.1:{write_port}"
        self.read_url = f"http://127.0.0.1:{read_port}"
        try:
            self._process.start()
            self._process.wait_until_ready(self._answers, timeout=60)
        except BaseException:
            self.close()
            raise
        self.notifications = NotificationCounter(log_path)

    def _answers(self) -> bool:
        probe = f"/orders/{uuid.uuid4()}"
        return all(
            httpx.get(url + probe, timeout=1.0).status_code in (404, 405)
            for url in (self.order_url, self.read_url)
        )

    def service_processes(self) -> dict[str, psutil.Process]:
        if self._process.pid is None:
            return {}
        found = {}
        for child in psutil.Process(self._process.pid).children():
            scripts = [Path(arg).stem for arg in child.cmdline() if arg.endswith(".py")]
            found[scripts[0] if scripts else str(child.pid)] = child
        return found

    def server_processes(self) -> dict[str, psutil.Process]:
        return _server_processes(self.servers)

    def close(self) -> None:
        self._process.stop()
        self.servers.close()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
