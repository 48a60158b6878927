"""The `Authenticator` contract, held by the real `BearerTokens` (JWKS over real HTTP) and by
the unit tests' `FakeTokens` alike, so that the fake cannot drift from the truth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from order_platform.building_blocks.auth.bearer_auth import (
    Authenticator,
    BearerTokens,
    Caller,
    Unauthenticated,
)
from order_platform.building_blocks.auth.jwks import JwksKeys
from tests.support.identity_provider import (
    AUDIENCE,
    ISSUER,
    IdentityProvider,
    SigningKey,
    serving_jwks,
)
from tests.unit.auth_fakes import CALLERS, FakeTokens

ALICE = Caller("alice", frozenset({"orders:write", "orders:read"}))


@dataclass
class Subject:
    authenticator: Authenticator
    valid_for_alice: str  # a token that names ALICE
    refused: str  # a token that is sent but must be refused


@pytest.fixture(params=["fake", "jwks"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "fake":
        token = next(t for t, caller in CALLERS.items() if caller == ALICE)
        yield Subject(FakeTokens(), token, "forged")
        return
    provider = IdentityProvider(SigningKey("k1"))
    with serving_jwks(provider) as url:
        keys = JwksKeys(url)
        yield Subject(
            BearerTokens(keys, issuer=ISSUER, audience=AUDIENCE),
            provider.token("alice", "orders:write orders:read"),
            provider.token("alice", "orders:write", aud="another-api"),
        )
        await keys.close()


async def test_a_valid_token_names_its_caller(subject: Subject) -> None:
    caller = await subject.authenticator.authenticate(f"Bearer {subject.valid_for_alice}")

    assert caller == ALICE
    assert subject.authenticator.enabled


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer "])
async def test_no_bearer_token_is_unauthenticated_but_not_invalid(
    subject: Subject, header: str | None
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await subject.authenticator.authenticate(header)
    assert not refused.value.invalid


async def test_a_refused_token_is_invalid(subject: Subject) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await subject.authenticator.authenticate(f"Bearer {subject.refused}")
    assert refused.value.invalid
