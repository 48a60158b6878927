"""Run an `order-platform` service as a real OS process, as production does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from order_platform.embedded.ports import find_free_port


class ServiceProcess:
    """`order-platform <command> --port P` with its own environment and log file."""

    def __init__(self, command: str, env: dict[str, str], log_dir: Path) -> None:
        self.command = command
        self.port = find_free_port()
        self.env = env
        self.log_path = log_dir / f"{command}-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, ready_timeout: float = 30.0) -> Self:
        return self.spawn().wait_ready(ready_timeout)

    def spawn(self) -> Self:
        """Start the process without waiting, to start several replicas together."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "order_platform.cli",
                    self.command,
                    "--port",
                    str(self.port),
                ],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, ready_timeout: float = 30.0) -> Self:
        assert self._process is not None, "spawn() first"
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(f"{self.command} exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.command} not ready within {ready_timeout} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, exactly like a crash."""
        self._signal(signal.SIGKILL)

    def terminate(self, timeout: float = 10.0) -> float:
        """SIGTERM and wait; returns how long the process took to exit."""
        started = time.monotonic()
        self._signal(signal.SIGTERM, timeout)
        return time.monotonic() - started

    def _signal(self, signum: int, timeout: float = 10.0) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signum)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise AssertionError(f"{self.command} ignored signal {signum}:\n{self.log()}") from None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill()
