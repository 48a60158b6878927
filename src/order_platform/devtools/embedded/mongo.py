"""Embedded MongoDB: the mongoeco wire server (`mongo_server`) in a child Python process."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Unpack

from pymongo import MongoClient

from order_platform.devtools.embedded.launcher import EmbeddedServer, ServerOptions


class MongoServer(EmbeddedServer):
    """A MongoDB-wire server; in memory unless `data_dir` is given (then SQLite, slower)."""

    name = "mongodb"

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        name: str = "mongodb",
        **options: Unpack[ServerOptions],
    ) -> None:
        self.name = name  # names its log file: two servers can share a log directory
        super().__init__(**options)
        self.data_dir = data_dir

    @property
    def uri(self) -> str:
        # directConnection: there is no replica set to discover, the server is the primary.
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    def command(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "order_platform.devtools.embedded.mongo_server",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--parent-pid",
            str(os.getpid()),
        ]
        if self.data_dir is not None:
            argv += ["--data-dir", str(self.data_dir)]
        return argv

    def is_ready(self) -> bool:
        client: MongoClient[dict[str, object]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
        )
        try:
            reply = client.admin.command("ping")
        finally:
            client.close()
        return bool(reply.get("ok"))
