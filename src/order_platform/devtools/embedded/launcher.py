"""The lifecycle shared by every embedded server: pick a port, spawn, wait until it answers, stop.

A server keeps its port across stop() and start(), so a test can take the broker or Redis away
mid-test and bring it back where the clients expect it.
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self, TypedDict

from order_platform.devtools.embedded.errors import PortInUseError
from order_platform.devtools.embedded.ports import ensure_port_free, find_free_port
from order_platform.devtools.embedded.process import ManagedProcess

DEFAULT_HOST = "127.0.0.1"
_AUTO_PORT_ATTEMPTS = 3


class ServerOptions(TypedDict, total=False):
    """The keyword arguments of `EmbeddedServer.__init__`, for subclasses that add their own."""

    port: int | None
    host: str
    log_dir: Path | None
    startup_timeout: float
    stop_timeout: float


class EmbeddedServer(ABC):
    """Base class: subclasses say which command to run and how to tell that it answers."""

    name: str  # a class attribute; an instance may refine it (e.g. which service)

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = DEFAULT_HOST,
        log_dir: Path | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.host = host
        self._explicit_port = port is not None
        self.port = port if port is not None else find_free_port(host)
        # Logs outlive the server on purpose: they are what explains a failed run.
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"order-platform-{self.name}-"))
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._process: ManagedProcess | None = None
        self._has_started = False

    @abstractmethod
    def command(self) -> list[str]:
        """The argv that runs the server on `self.host:self.port`."""

    @abstractmethod
    def is_ready(self) -> bool:
        """True once the server answers a real protocol request (raising means "not yet")."""

    def environment(self) -> dict[str, str] | None:
        """The child's environment; `None` inherits ours."""
        return None

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process is not None else None

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.is_running

    def start(self) -> Self:
        """Start the server and return once it answers; a no-op if it is already running.

        A port picked automatically that another process grabbed in the meantime is replaced
        by a fresh one, but only before the first successful start: after that, clients know
        the port and a restart must come back on it.
        """
        if self.is_running:
            return self
        attempts = _AUTO_PORT_ATTEMPTS if self._may_change_port() else 1
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
            except PortInUseError:
                if attempt == attempts:
                    raise
                self.port = find_free_port(self.host)
            else:
                break
        self._has_started = True
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after `stop_timeout`; the port stays reserved for a restart."""
        if self._process is not None:
            self._process.stop(self.stop_timeout)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (in-memory state is lost either way)."""
        if self._process is not None:
            self._process.kill()

    def restart(self) -> Self:
        self.stop()
        return self.start()

    @contextmanager
    def stopped(self) -> Iterator[Self]:
        """Take the server away for the block, then bring it back on the same port.

        Also when the block fails: a shared (session) server must not stay down for the next
        test. Its in-memory data (topics, documents, keys) does not survive.
        """
        self.stop()
        try:
            yield self
        finally:
            self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _may_change_port(self) -> bool:
        return not self._explicit_port and not self._has_started

    def _start_once(self) -> None:
        ensure_port_free(self.host, self.port, server_name=self.name)
        process = ManagedProcess(self.name, self.command(), self.log_path, env=self.environment())
        self._process = process
        process.start()
        try:
            process.wait_until_ready(self.is_ready, timeout=self.startup_timeout)
        except Exception:
            process.kill()
            # Lost the race for the port between our check and the server's bind.
            if self._bind_failed(process):
                raise PortInUseError(self.name, self.host, self.port) from None
            raise

    @staticmethod
    def _bind_failed(process: ManagedProcess) -> bool:
        tail = process.log_tail().lower()
        return "address already in use" in tail or "addrinuse" in tail
