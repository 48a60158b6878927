"""Bearer tokens verified against a JWKS the test serves over real HTTP: every way a token can
be wrong is a 401 (`invalid_token`), a key rotated in is found by one refresh, refreshes are
bounded, and a missing scope is a 403."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from prometheus_client import REGISTRY

from order_platform.building_blocks.auth.bearer_auth import (
    AuthUnavailable,
    BearerTokens,
    Caller,
    Forbidden,
    Unauthenticated,
)
from order_platform.building_blocks.auth.jwks import RETRY_EMPTY_SECONDS, JwksKeys, _parse
from order_platform.order_service.bootstrap import OrderServicePorts
from order_platform.order_service.bootstrap import wire as order_service_api
from order_platform.order_service.entrypoints.api import create_app as create_order_app
from order_platform.read_service.bootstrap import wire as read_service_api
from order_platform.read_service.entrypoints.api import create_app as create_read_app
from tests.support.identity_provider import (
    AUDIENCE,
    ISSUER,
    IdentityProvider,
    SigningKey,
    serving_jwks,
)
from tests.unit.http_api import problem, serving_api
from tests.unit.order_service.fakes import (
    FakeClock,
    FakeIdempotencyKeys,
    FakeStore,
    FakeUnitOfWork,
    SequentialIds,
)
from tests.unit.read_service.fakes import FakeReadModel, FakeReadModelGenerations, FakeViewCache

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


def test_a_key_whose_alg_does_not_fit_its_type_or_curve_is_never_used() -> None:
    p384 = SigningKey("p384-says-es256", ec.generate_private_key(ec.SECP384R1()), alg="ES256")
    rsa_says_eddsa = SigningKey("rsa-says-eddsa", alg="EdDSA")

    keys = _parse({"keys": [p384.jwk(), rsa_says_eddsa.jwk(), CURRENT.jwk()]})

    assert set(keys) == {"current"}
    assert keys["current"].algorithms == {"RS256"}


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


# Guarantee 10: the algorithm is bound to the key. Each key of the provider may verify only
# what its JWK's `alg` (or, without one, its `kty` and curve) allows: `RS256` declared means
# RS256 only, an RSA key without `alg` any of RS*/PS*, an EC key the ES* of its curve, an OKP
# key EdDSA. Everything else is refused as an algorithm that does not fit, before PyJWT.
PAIRED_KEYS = {
    "RSA alg=RS256": SigningKey("rsa-rs256"),
    "RSA no alg": SigningKey("rsa", alg=None),
    "EC P-256 alg=ES256": SigningKey(
        "ec-p256", ec.generate_private_key(ec.SECP256R1()), alg="ES256"
    ),
    "EC P-384 no alg": SigningKey("ec-p384", ec.generate_private_key(ec.SECP384R1()), alg=None),
    "OKP Ed25519 no alg": SigningKey("okp", ed25519.Ed25519PrivateKey.generate(), alg=None),
}
FITTING = {
    "RSA alg=RS256": {"RS256"},
    "RSA no alg": {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
    "EC P-256 alg=ES256": {"ES256"},
    "EC P-384 no alg": {"ES384"},
    "OKP Ed25519 no alg": {"EdDSA"},
}
HEADER_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    "HS256", "HS384", "HS512", "none",
)  # fmt: skip
# What each key's own private key can sign: RS256 declared, the RSA key could still sign PS256.
SIGNABLE = FITTING | {"RSA alg=RS256": FITTING["RSA no alg"]}
# An attacker's signer for each algorithm, used where the key's own private key cannot sign
# with it (another family or curve), so that the token is as well-formed as a forgery can be.
ATTACKER_SIGNERS: dict[str, object] = {
    **dict.fromkeys(FITTING["RSA no alg"], SigningKey("attacker").private),
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "ES384": ec.generate_private_key(ec.SECP384R1()),
    "ES512": ec.generate_private_key(ec.SECP521R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    **dict.fromkeys(("HS256", "HS384", "HS512"), b"an attacker's HMAC secret".ljust(64)),
    "none": None,
}


def pairings(*, fitting: bool) -> list[tuple[str, str]]:
    return [
        (key, algorithm)
        for key in PAIRED_KEYS
        for algorithm in HEADER_ALGORITHMS
        if (algorithm in FITTING[key]) == fitting
    ]


def forged(provider: IdentityProvider, key: str, algorithm: str) -> str:
    """A token for `key` whose header says `algorithm`, signed by the key's own private key
    where it can sign that algorithm (so only the binding can refuse it), else an attacker's."""
    own = PAIRED_KEYS[key]
    signer = own.private if algorithm in SIGNABLE[key] else ATTACKER_SIGNERS[algorithm]
    return f"Bearer {provider.forge(algorithm, kid=own.kid, signer=signer)}"


@pytest.fixture(scope="module")
def paired_provider() -> IdentityProvider:
    return IdentityProvider(*PAIRED_KEYS.values())


@pytest.fixture(scope="module")
async def paired_tokens(paired_provider: IdentityProvider) -> AsyncIterator[BearerTokens]:
    with serving_jwks(paired_provider) as url:
        keys = JwksKeys(url)
        yield BearerTokens(keys, issuer=ISSUER, audience=AUDIENCE)
        await keys.close()


def refused_for(reason: str) -> float:
    return REGISTRY.get_sample_value("auth_refused_total", {"reason": reason}) or 0.0


@pytest.mark.parametrize(("key", "algorithm"), pairings(fitting=False))
async def test_guarantee_10_a_token_whose_alg_does_not_fit_its_key_is_401(
    paired_tokens: BearerTokens, paired_provider: IdentityProvider, key: str, algorithm: str
) -> None:
    before = refused_for("algorithm")

    with pytest.raises(Unauthenticated) as refused:  # not a TypeError from PyJWT (a 500)
        await paired_tokens.authenticate(forged(paired_provider, key, algorithm))

    assert refused.value.invalid
    assert refused_for("algorithm") == before + 1  # for its algorithm, not its signature


@pytest.mark.parametrize(("key", "algorithm"), pairings(fitting=True))
async def test_a_token_whose_alg_fits_its_key_is_accepted(
    paired_tokens: BearerTokens, paired_provider: IdentityProvider, key: str, algorithm: str
) -> None:
    caller = await paired_tokens.authenticate(forged(paired_provider, key, algorithm))

    assert caller.subject == "alice"


async def test_guarantee_10_a_token_whose_alg_does_not_fit_its_key_is_401_on_both_services(
    provider: IdentityProvider, tokens: BearerTokens
) -> None:
    # ES256 in the header, the provider's RSA key named by `kid`: PyJWT would raise TypeError.
    token = f"Bearer {provider.forge('ES256', kid=CURRENT.kid, signer=ATTACKER_SIGNERS['ES256'])}"
    store = FakeStore()
    order_service = order_service_api(
        OrderServicePorts(
            new_unit_of_work=lambda: FakeUnitOfWork(store),
            idempotency_keys=FakeIdempotencyKeys(store),
            clock=FakeClock(),
            new_id=SequentialIds(),
        ),
        auth=tokens,
    )
    read_service = read_service_api(
        FakeReadModelGenerations(FakeReadModel()), FakeViewCache(), auth=tokens
    ).api

    async with serving_api(create_order_app, order_service) as client:
        created = await client.post(
            "/orders",
            json={"customerName": "Eve", "totalAmount": 1},
            headers={"Authorization": token},
        )
    async with serving_api(create_read_app, read_service) as client:
        listed = await client.get("/orders", headers={"Authorization": token})

    for response in (created, listed):
        problem(response, 401)
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert not store.orders


async def test_a_jwks_without_a_signing_key_is_fetched_at_most_once_per_interval() -> None:
    # A provider mid-rotation publishes only encryption keys: no token can be verified (503s),
    # and the requests must not turn into one JWKS fetch each.
    provider = IdentityProvider(
        SigningKey("enc", alg=None, use="enc"), SigningKey("enc-oaep", alg="RSA-OAEP", use="enc")
    )
    with serving_jwks(provider) as url:
        keys = JwksKeys(url, min_refresh_seconds=30)
        tokens = BearerTokens(keys, issuer=ISSUER, audience=AUDIENCE)
        token = f"Bearer {provider.token(key=provider.key)}"
        started = time.monotonic()

        for _ in range(50):
            with pytest.raises(AuthUnavailable):
                await tokens.authenticate(token)

        elapsed = time.monotonic() - started
        await keys.close()
    # One fetch, and one more per retry interval the 50 requests took (none on a fast machine).
    assert provider.fetches <= 1 + int(elapsed // RETRY_EMPTY_SECONDS), (provider.fetches, elapsed)
