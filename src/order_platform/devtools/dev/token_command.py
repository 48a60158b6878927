"""`order-platform token`: a bearer token from dev's local key, for trying the API by hand.

Development only: it signs with the key `order-platform dev` keeps in its data directory,
which no real deployment trusts.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from order_platform.devtools.dev.dev_identity import DevIdentity, default_key_dir

_TTL = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """`90s`, `15m`, `1h`, `2d` or plain seconds; raises ValueError otherwise."""
    match = _TTL.match(text.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"--ttl {text!r}: use a positive number of s, m, h or d, e.g. 1h")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def run_token(*, sub: str, scope: str, ttl: str, data_dir: Path | None) -> int:
    try:
        seconds = parse_ttl(ttl)
    except ValueError as error:
        print(f"order-platform token: {error}", file=sys.stderr)
        return 2
    if not sub.strip():
        print("order-platform token: --sub must not be empty", file=sys.stderr)
        return 2
    identity = DevIdentity.load_or_create(data_dir or default_key_dir())
    print(identity.mint(sub, scope.split(), ttl_seconds=seconds))
    return 0
