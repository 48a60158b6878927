"""The platform's own services as child processes, for `dev`, end-to-end tests and the benchmark.

They share the embedded servers' lifecycle (own process group, log file, wait until ready,
SIGTERM then SIGKILL); ready means `GET /health/ready` answers 200.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Unpack

import httpx

from order_platform.devtools.embedded.launcher import EmbeddedServer, ServerOptions


class PlatformService(EmbeddedServer):
    """`order-platform <service> --host H --port P`, configured through its environment."""

    name = "service"

    def __init__(
        self, service: str, *, env: Mapping[str, str], **options: Unpack[ServerOptions]
    ) -> None:
        self.name = self.service = service
        options.setdefault("stop_timeout", 10.0)  # guarantee 6: exit within 10 s of SIGTERM
        super().__init__(**options)
        self.env = dict(env)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.service}-{self.port}.log"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "order_platform.cli",
            self.service,
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def is_ready(self) -> bool:
        return httpx.get(f"{self.url}/health/ready", timeout=1.0).status_code == 200

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
