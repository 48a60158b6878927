"""The console answers only to its own names, and changes state only for its own pages.

A page on another site can make a browser talk to the console by renaming itself to
127.0.0.1 (DNS rebinding): its requests then carry the other site's name in `Host`, so a
`Host` that is not one of the console's allowed names is refused (400) before any route
runs. A page that stays on its own site can still send a request to the console: the
browser names that site in `Origin` (or, in older browsers, says `cross-site` in
`Sec-Fetch-Site`), so a state-changing request whose `Origin` is not the console's own
origin is refused (403). Clients that are no browser send neither and pass.

Not Starlette's `TrustedHostMiddleware`: it compares the name only (not the port), answers in
plain text and cannot say why, which the rest of the console's errors do (problem+json).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from order_platform.building_blocks.http.problem import Problem

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The names a browser sends: a registered name or an IP literal (IPv6 in brackets), a port.
_AUTHORITY = re.compile(r"(?P<host>\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(?P<port>\d{1,5}))?")
_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<authority>[^/?#]+)")
DEFAULT_PORTS = {"http": 80, "https": 443}
SHOWN = 100  # characters of a refused name echoed back


@dataclass(frozen=True, slots=True)
class AllowedHost:
    """`host` on `port`, or on any port when `port` is None."""

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowedHost:
        found = authority(text)
        if found is None:
            raise ValueError(f"not a host[:port]: {text!r}")
        return cls(*found)

    def admits(self, host: str, port: int) -> bool:
        return self.host == host and self.port in (None, port)


def authority(text: str) -> tuple[str, int | None] | None:
    """`host[:port]` of a `Host` header (lower-case host, the port if given); None when it
    is anything else."""
    found = _AUTHORITY.fullmatch(text.strip().lower())
    if found is None:
        return None
    port = int(found["port"]) if found["port"] is not None else None
    if port is not None and not 0 < port < 65536:
        return None
    return found["host"], port


class OwnOriginOnly:
    """Pure ASGI middleware: the Host rule for every request, the Origin rule for every
    request that is not GET, HEAD or OPTIONS."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[AllowedHost]) -> None:
        self.app = app
        self.allowed = tuple(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal.response()(scope, receive, send)

    def _refusal(self, scope: Scope) -> Problem | None:
        headers: dict[bytes, list[str]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, []).append(value.decode("latin-1"))
        hosts = headers.get(b"host", [])
        scheme = str(scope.get("scheme", "http")).replace("ws", "http", 1)
        own = authority(hosts[0]) if len(hosts) == 1 else None
        if own is None or not any(
            allowed.admits(own[0], own[1] or DEFAULT_PORTS.get(scheme, 80))
            for allowed in self.allowed
        ):
            shown = ", ".join(repr(host[:SHOWN]) for host in hosts) or "none"
            return Problem(
                400,
                f"This console answers only to its own host names (CONSOLE_ALLOWED_HOSTS); "
                f"Host {shown} is not one of them.",
                title="Unknown host",
            )
        if scope.get("method", "GET") in SAFE_METHODS:
            return None
        origins = headers.get(b"origin", [])
        if origins:
            if len(origins) == 1 and _same_origin(origins[0], scheme, own):
                return None
            return Problem(
                403,
                f"State changes come only from the console's own page; Origin "
                f"{origins[0][:SHOWN]!r} is not {scheme}://{hosts[0][:SHOWN]}.",
                title="Foreign origin",
            )
        site = headers.get(b"sec-fetch-site", ["same-origin"])[-1]
        if site not in ("same-origin", "none"):
            return Problem(
                403,
                f"State changes come only from the console's own page (Sec-Fetch-Site: "
                f"{site[:SHOWN]!r}).",
                title="Foreign origin",
            )
        return None


def _same_origin(origin: str, scheme: str, own: tuple[str, int | None]) -> bool:
    found = _ORIGIN.fullmatch(origin.strip().lower())
    if found is None:  # "null" among others: a sandboxed or opaque origin
        return False
    theirs = authority(found["authority"])
    if theirs is None:
        return False
    default = DEFAULT_PORTS[found["scheme"]]
    return (found["scheme"], theirs[0], theirs[1] or default) == (
        scheme,
        own[0],
        own[1] or DEFAULT_PORTS.get(scheme, 80),
    )
