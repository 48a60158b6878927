"""The identity provider's public keys (a JWKS), cached in memory, refreshed on an unknown `kid`.

The request path only reads the cache. It goes to the network only for a key it does not know
(a key rotated in at the provider), asynchronously (httpx, never a blocking fetch on the event
loop), one fetch for all the requests that wait on it, and at most once per
`min_refresh_seconds`: a flood of tokens with made-up `kid`s costs the provider one request
per interval, not one per token. A key set without a single signature key (a provider
mid-rotation, with only encryption keys) counts as a failed fetch, so it is not fetched again
for every request either. A background task (`keep_fresh`) loads the keys at start and
refreshes them now and then, so that withdrawn keys stop being accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import structlog
from prometheus_client import Counter

from order_platform.building_blocks.auth.jws_algorithms import (
    PUBLIC_KEY_TYPES,
    PublicKey,
    algorithms_for,
)
from order_platform.contracts.errors import Unavailable

log = structlog.get_logger(__name__)

# With no key known, a failed fetch is retried by requests at most this often (they get 503s
# meanwhile), so that an unreachable provider does not cost every request a fetch timeout.
RETRY_EMPTY_SECONDS = 1.0

FETCHES = Counter("auth_jwks_fetches_total", "JWKS fetches by result", ["result"])


class KeysUnavailable(Unavailable):
    """The JWKS could not be fetched and no key is cached: no token can be verified now."""


class NoSigningKey(ValueError):
    """The JWKS holds no key a token could be verified with (e.g. only encryption keys)."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key of the provider and the algorithms it may verify (never empty)."""

    key: PublicKey
    algorithms: frozenset[str]


class JwksKeys:
    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 5.0,
        min_refresh_seconds: float = 30.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds)
        self._own_client = client is None
        self._min_refresh = min_refresh_seconds
        self._keys: dict[str | None, VerificationKey] = {}
        self._unknown_kid_at: float | None = None
        self._failed_at: float | None = None  # of the last failed fetch while no key is known
        self._lock = asyncio.Lock()
        self.fetches = 0
        self._completed = 0  # fetches that have ended, whatever their outcome

    @property
    def loaded(self) -> bool:
        return bool(self._keys)

    async def key(self, kid: str | None) -> VerificationKey | None:
        """The key for `kid`, or None when the provider does not publish one.

        An unknown `kid` refreshes the key set, unless another request's refresh completed
        while this one waited (then that answer counts), or an unknown `kid` already caused a
        refresh less than `min_refresh_seconds` ago. A token without a `kid` is verified with
        the provider's only key, if it has only one."""
        if (found := self._lookup(kid)) is not None:
            return found
        seen = self._completed
        async with self._lock:
            if self._completed == seen:  # no fetch ended while we waited for the lock
                now = time.monotonic()
                if self._keys:  # a refresh for an unknown `kid`
                    if self._unknown_kid_at is not None and (
                        now - self._unknown_kid_at < self._min_refresh
                    ):
                        return None
                    self._unknown_kid_at = now
                elif self._failed_at is not None and now - self._failed_at < RETRY_EMPTY_SECONDS:
                    raise KeysUnavailable(f"cannot fetch the JWKS from {self.url}")
                await self._fetch()
        if not self._keys:  # the fetch we waited for failed too: no key is known at all
            raise KeysUnavailable(f"cannot fetch the JWKS from {self.url}")
        return self._lookup(kid)

    async def refresh(self) -> None:
        """Fetch the key set now. Raises `KeysUnavailable` only when the fetch fails and no
        key is cached (a failed refresh keeps the keys already known)."""
        async with self._lock:
            await self._fetch()

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            await self._fetch_once()
        finally:
            self._completed += 1

    async def _fetch_once(self) -> None:
        try:
            response = await self._client.get(self.url)
            response.raise_for_status()
            keys = _parse(response.json())
        except (httpx.HTTPError, ValueError) as error:  # NoSigningKey among them
            FETCHES.labels("error").inc()
            log.warning("jwks_fetch_failed", url=self.url, error=f"{type(error).__name__}")
            if not self._keys:
                self._failed_at = time.monotonic()
                raise KeysUnavailable(f"cannot fetch the JWKS from {self.url}") from error
            return
        FETCHES.labels("ok").inc()
        self._keys = keys

    async def keep_fresh(self, *, every_seconds: float = 600.0, retry_seconds: float = 2.0) -> None:
        """Load the keys at start, then refresh them now and then, so that a key the provider
        withdrew stops being accepted; never raises (the request path refreshes on its own)."""
        while True:
            # Logged by `refresh`; a token that arrives meanwhile gets a 503.
            with contextlib.suppress(KeysUnavailable):
                await self.refresh()
            await asyncio.sleep(every_seconds if self._keys else retry_seconds)

    async def check(self) -> None:
        """For readiness: raises while no key could be loaded."""
        if not self._keys:
            raise KeysUnavailable(f"no key loaded from {self.url} yet")

    async def close(self) -> None:
        if self._own_client:
            await self._client.aclose()

    def _lookup(self, kid: str | None) -> VerificationKey | None:
        if kid is None:
            only = {id(key): key for key in self._keys.values()}
            return next(iter(only.values())) if len(only) == 1 else None
        return self._keys.get(kid)


def _parse(document: Any) -> dict[str | None, VerificationKey]:
    """The public signature keys of a JWKS by `kid`, each with the algorithms it may verify.
    Skipped: keys PyJWT cannot load (as `PyJWKSet` does), encryption keys, and any key that
    verifies no accepted algorithm: symmetric (`oct`) keys, which no client may hold, private
    keys, and keys whose `alg` does not fit their type or curve. Raises `NoSigningKey` when
    none is left: a fetch that yields no key to verify with is a failed fetch."""
    if not isinstance(document, Mapping) or not isinstance(entries := document.get("keys"), list):
        raise ValueError("the JWKS is not a JSON object with a list of keys")
    keys: dict[str | None, VerificationKey] = {}
    for entry in entries:
        # Members PyJWT would use as dict keys or compare: text or absent, or the entry is junk.
        if not isinstance(entry, Mapping) or not all(
            isinstance(entry.get(name), str | None) for name in ("kid", "alg", "use", "kty", "crv")
        ):
            continue
        # Symmetric keys are never loaded: no client may hold one, and it would verify HS*.
        if entry.get("use") not in (None, "sig") or entry.get("kty") == "oct":
            continue
        try:
            loaded = jwt.PyJWK.from_dict(dict(entry))
        except jwt.PyJWTError:
            continue
        if not isinstance(loaded.key, PUBLIC_KEY_TYPES):
            continue
        if algorithms := algorithms_for(loaded.key, entry.get("alg")):
            keys[entry.get("kid")] = VerificationKey(loaded.key, algorithms)
    if not keys:
        raise NoSigningKey("the JWKS holds no signature key this service can verify with")
    return keys
