"""Bearer tokens verified against a JWKS the test serves over real HTTP: every way a token can
be wrong is a 401 (`invalid_token`), a key rotated in is found by one refresh, refreshes are
bounded, and a missing scope is a 403."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from order_platform.building_blocks.bearer_auth import (
    AuthUnavailable,
    BearerTokens,
    Caller,
    Forbidden,
    Unauthenticated,
)
from order_platform.building_blocks.jwks import JwksKeys, _parse
from tests.support.identity_provider import (
    AUDIENCE,
    ISSUER,
    IdentityProvider,
    SigningKey,
    serving_jwks,
)

CURRENT, NEXT, STRANGER = SigningKey("current"), SigningKey("next"), SigningKey("stranger")


@pytest.fixture
def provider() -> IdentityProvider:
    return IdentityProvider(CURRENT)


@pytest.fixture
def jwks_url(provider: IdentityProvider) -> Iterator[str]:
    with serving_jwks(provider) as url:
        yield url


@pytest.fixture
def tokens(jwks_url: str) -> BearerTokens:
    return BearerTokens(
        JwksKeys(jwks_url, min_refresh_seconds=30), issuer=ISSUER, audience=AUDIENCE
    )


async def test_a_valid_token_names_the_caller_and_its_scopes(
    tokens: BearerTokens, provider: IdentityProvider
) -> None:
    caller = await tokens.authenticate(f"Bearer {provider.token('alice', 'orders:read')}")

    assert caller == Caller(subject="alice", scopes=frozenset({"orders:read"}))
    caller.require("orders:read")
    with pytest.raises(Forbidden):
        caller.require("orders:write")


def invalid_tokens(provider: IdentityProvider) -> dict[str, str | None]:
    now = int(time.time())
    return {
        "missing": None,
        "not bearer": f"Basic {provider.token()}",
        "empty bearer": "Bearer ",
        "garbage": "Bearer not-a-jwt",
        "garbage with dots": "Bearer a.b.c",
        "expired": f"Bearer {provider.token(exp=now - 120)}",
        "not yet valid": f"Bearer {provider.token(nbf=now + 120)}",
        "wrong issuer": f"Bearer {provider.token(iss='https://evil.test')}",
        "wrong audience": f"Bearer {provider.token(aud='another-api')}",
        "alg none": f"Bearer {provider.forge_unsigned()}",
        "hmac with the public key": f"Bearer {provider.forge_hmac_with_public_key()}",
        "unknown key": f"Bearer {provider.token(key=STRANGER)}",
        "no subject": f"Bearer {provider.token(sub='')}",
        "control character in subject": f"Bearer {provider.token(sub='eve\nforged log line')}",
        "lone surrogate in subject": f"Bearer {provider.token(sub='eve\ud800')}",
        "no expiry": f"Bearer {provider.token(exp=None)}",
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "not bearer",
        "empty bearer",
        "garbage",
        "garbage with dots",
        "expired",
        "not yet valid",
        "wrong issuer",
        "wrong audience",
        "alg none",
        "hmac with the public key",
        "unknown key",
        "no subject",
        "control character in subject",
        "lone surrogate in subject",
        "no expiry",
    ],
)
async def test_every_bad_token_is_refused(
    tokens: BearerTokens, provider: IdentityProvider, case: str
) -> None:
    header = invalid_tokens(provider)[case]

    with pytest.raises(Unauthenticated) as refused:
        await tokens.authenticate(header)

    # A token that was sent and refused says so (`error="invalid_token"`); a missing one not.
    assert refused.value.invalid == (case not in {"missing", "not bearer", "empty bearer"})


async def test_the_leeway_is_at_most_60_seconds(jwks_url: str, provider: IdentityProvider) -> None:
    generous = BearerTokens(
        JwksKeys(jwks_url), issuer=ISSUER, audience=AUDIENCE, leeway_seconds=3600
    )
    with pytest.raises(Unauthenticated):
        await generous.authenticate(f"Bearer {provider.token(exp=int(time.time()) - 90)}")


async def test_a_key_rotated_in_is_fetched_once_and_then_served_from_the_cache(
    tokens: BearerTokens, provider: IdentityProvider
) -> None:
    await tokens.authenticate(f"Bearer {provider.token()}")
    assert provider.fetches == 1

    provider.published.append(NEXT)  # the provider rotates a new key in
    rotated = f"Bearer {provider.token('bob', key=NEXT)}"
    callers = await asyncio.gather(*(tokens.authenticate(rotated) for _ in range(20)))

    assert {caller.subject for caller in callers} == {"bob"}
    assert provider.fetches == 2  # one refresh for all twenty requests
    for _ in range(10):
        await tokens.authenticate(rotated)
    assert provider.fetches == 2


async def test_unknown_keys_refresh_the_key_set_at_most_once_per_interval(
    tokens: BearerTokens, provider: IdentityProvider
) -> None:
    await tokens.authenticate(f"Bearer {provider.token()}")

    for _ in range(3):  # an attacker's flood of tokens with made-up keys
        with pytest.raises(Unauthenticated):
            await tokens.authenticate(f"Bearer {provider.token(key=STRANGER)}")

    assert provider.fetches == 2  # the first refresh, then the interval holds


def test_a_symmetric_key_in_the_jwks_is_never_used() -> None:
    keys = _parse({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "shared"}, CURRENT.jwk()]})

    assert set(keys) == {"current"}


async def test_without_reachable_keys_a_token_is_503_not_401(
    provider: IdentityProvider, unused_tcp_port: int
) -> None:
    keys = JwksKeys(f"http://127.0.0.1:{unused_tcp_port}/jwks.json", timeout_seconds=1)
    tokens = BearerTokens(keys, issuer=ISSUER, audience=AUDIENCE)

    with pytest.raises(AuthUnavailable):
        await tokens.authenticate(f"Bearer {provider.token()}")
    await keys.close()


async def test_cached_keys_outlive_a_provider_outage(
    jwks_url: str, provider: IdentityProvider
) -> None:
    keys = JwksKeys(jwks_url, min_refresh_seconds=0)
    tokens = BearerTokens(keys, issuer=ISSUER, audience=AUDIENCE)
    await tokens.authenticate(f"Bearer {provider.token()}")
    keys.url = "http://127.0.0.1:9/unreachable"  # the provider goes away

    await keys.refresh()  # fails, keeps what it had
    assert (await tokens.authenticate(f"Bearer {provider.token('bob')}")).subject == "bob"
    with pytest.raises(Unauthenticated):  # an unknown key is still refused, not a 5xx
        await tokens.authenticate(f"Bearer {provider.token(key=STRANGER)}")
    await keys.close()


async def test_while_no_key_can_be_fetched_requests_get_503s_not_a_fetch_each(
    provider: IdentityProvider, unused_tcp_port: int
) -> None:
    keys = JwksKeys(f"http://127.0.0.1:{unused_tcp_port}/jwks.json", timeout_seconds=1)
    tokens = BearerTokens(keys, issuer=ISSUER, audience=AUDIENCE)

    outcomes = await asyncio.gather(
        *(tokens.authenticate(f"Bearer {provider.token()}") for _ in range(10)),
        return_exceptions=True,
    )

    assert all(isinstance(outcome, AuthUnavailable) for outcome in outcomes), outcomes
    assert keys.fetches == 1
    await keys.close()
