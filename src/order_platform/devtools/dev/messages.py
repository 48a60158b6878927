"""What `dev` says about itself: to standard error, at once (the services' lines go to stdout)."""

from __future__ import annotations

import sys


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
