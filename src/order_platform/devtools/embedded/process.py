"""One child process of an embedded server: spawn, wait until it answers, stop without zombies.

The child gets its own process group so that stopping it also stops anything it spawned and
so that a Ctrl-C meant for the parent does not kill it before the parent's cleanup runs. Its
output goes to a log file: a pipe nobody reads fills up and freezes the server.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from order_platform.devtools.embedded.errors import ServerStartError

Probe = Callable[[], bool]
"""Returns True once the server answers a real request; may raise while it does not."""

_LOG_TAIL_LINES = 30

_live_processes: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()
_live_lock = threading.Lock()


def _stop_leftovers() -> None:
    """Stop children the owner forgot; their own process group shields them from our exit."""
    with _live_lock:
        leftovers = list(_live_processes)
    for process in leftovers:
        process.kill()


atexit.register(_stop_leftovers)


class ManagedProcess:
    """A subprocess with a name, a log file, a readiness wait and a clean stop.

    It can be started again after it stopped (same command, same log file, appended).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._env = dict(env) if env is not None else None
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def start(self) -> None:
        if self.is_running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            # The child holds its own copy of the descriptor; ours can close right away.
            self._popen = subprocess.Popen(  # noqa: S603 - argv is built by the launcher, not a shell
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,
            )
        with _live_lock:
            _live_processes.add(self)

    def wait_until_ready(self, probe: Probe, *, timeout: float, interval: float = 0.05) -> None:
        """Poll `probe` until it returns True; fail fast if the process exits meanwhile."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            if self._popen is None:
                raise ServerStartError(f"{self.name}: wait_until_ready() before start()")
            returncode = self._popen.poll()
            if returncode is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {returncode} before it answered.\n"
                    f"command: {' '.join(self.argv)}\n{self._describe_log()}"
                )
            try:
                if probe():
                    return
            except Exception as error:  # any failure means "not ready yet"
                last_error = error
            if time.monotonic() >= deadline:
                detail = f" (last probe error: {last_error!r})" if last_error else ""
                self.kill()
                raise ServerStartError(
                    f"{self.name} did not answer within {timeout:.0f}s{detail}.\n"
                    f"command: {' '.join(self.argv)}\n{self._describe_log()}"
                )
            time.sleep(interval)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL it if it has not exited after `timeout`."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
        self._reap()

    def kill(self) -> None:
        """SIGKILL the process group at once, as a crash would."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._signal_group(signal.SIGKILL)
        self._reap()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines this run wrote (earlier runs appended to the same file are skipped)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _describe_log(self) -> str:
        tail = self.log_tail()
        body = tail if tail else "(empty)"
        return f"log {self.log_path} (last lines):\n{body}"

    def _signal_group(self, signum: signal.Signals) -> None:
        # Only called while the child is unreaped, so its pid (= process group id) cannot have
        # been reused by an unrelated process.
        assert self._popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, signum)

    def _reap(self) -> None:
        assert self._popen is not None
        self._popen.wait()
        with _live_lock:
            _live_processes.discard(self)
