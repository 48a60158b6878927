"""A real HTTP webhook receiver on 127.0.0.1, in a thread, whose answer depends on the body.

The customer name picks the behaviour, so one test can mix good and bad notifications:
`Slow…` answers after the sender's timeout, `Broken…` answers 500, `Refused…` answers 422,
anything else 204 (and is recorded). `delay_seconds` slows every answer down.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class WebhookReceiver:
    def __init__(self, *, slow_seconds: float = 2.0) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.attempts: Counter[str] = Counter()  # by customer name, every request
        self.delay_seconds = 0.0
        self.in_progress = threading.Event()
        self._slow_seconds = slow_seconds
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval: `shutdown` waits for one, and every test stops a receiver.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/notifications"

    def event_ids(self) -> Counter[str]:
        with self._lock:
            return Counter(body["eventId"] for body in self.received)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._released.set()  # let slow answers go, so the threads end
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        body = json.loads(request.rfile.read(length))
        name = str(body.get("customerName", ""))
        with self._lock:
            self.attempts[name] += 1
        self.in_progress.set()
        if self.delay_seconds:
            self._released.wait(self.delay_seconds)
        if name.startswith("Slow"):
            self._released.wait(self._slow_seconds)
            status = 204
        elif name.startswith("Broken"):
            status = 500
        elif name.startswith("Refused"):
            status = 422
        else:
            with self._lock:
                self.received.append(body)
                self.headers.append(dict(request.headers.items()))
            status = 204
        try:
            request.send_response(status)
            request.send_header("Content-Length", "0")
            request.end_headers()
        except OSError:  # the sender gave up waiting and closed the connection
            pass

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep the test output quiet

        return Handler
