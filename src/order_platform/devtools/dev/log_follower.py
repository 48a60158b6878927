"""The services' notification and error lines on the terminal, as they come.

The services write to files (a pipe nobody drains would block them); polling the files
keeps every child independent of this process's output.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

from order_platform.devtools.embedded import PlatformService

_POLL_SECONDS = 0.2

# What the terminal shows from the service logs: the notification (the point of the demo) and
# errors, in either log format; everything else stays in the log files.
_NOTIFICATION = re.compile(r"📩 Notification sent to .*? \| Order: [0-9a-f-]{36} \| Total: \S+")
_ERROR = re.compile(r'\[(error|critical)\s*\]|^(ERROR|CRITICAL) |"level": ?"(error|critical)"')


class LogFollower:
    """Copies the interesting lines of the services' log files to our stdout, as they come."""

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
