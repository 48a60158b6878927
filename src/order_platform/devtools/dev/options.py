"""What the developer asked `dev` for: the command line's options, with their defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DevOptions:
    port_base: int = 8000
    host: str = "127.0.0.1"
    data_dir: Path | None = None
    replicas: int = 1
    order_port: int | None = None
    read_port: int | None = None
    notification_port: int | None = None
    # Bearer tokens on (a local JWKS, a printed demo token); `--no-auth` turns them off.
    auth: bool = True
    console_port: int | None = None  # the operator console (web page)
