"""The Order Service with authentication on, against a JWKS this test serves over real HTTP,
and its rate limit in the embedded Redis: refused tokens store nothing, the order is the
caller's, keys are per caller, the limit holds across two replicas and fails open."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from prometheus_client import REGISTRY
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.devtools.embedded import RedisServer
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from tests.integration.order_service.conftest import serve
from tests.support.fault_proxy import FaultProxy
from tests.support.identity_provider import (
    AUDIENCE,
    ISSUER,
    IdentityProvider,
    SigningKey,
    serving_jwks,
)
from tests.support.waiting import eventually

LUCAS = {"customerName": "Lucas", "totalAmount": "199.90"}
KEY, STRANGER = SigningKey("k1"), SigningKey("stranger")


@pytest.fixture(scope="module")
def provider() -> IdentityProvider:
    return IdentityProvider(KEY)


@pytest.fixture(scope="module")
def jwks_url(provider: IdentityProvider) -> Iterator[str]:
    with serving_jwks(provider) as url:
        yield url


@pytest.fixture
def secured(settings: OrderServiceSettings, jwks_url: str) -> OrderServiceSettings:
    return settings.model_copy(
        update={"auth_jwks_url": jwks_url, "auth_issuer": ISSUER, "auth_audience": AUDIENCE}
    )


@pytest.fixture
async def client(secured: OrderServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(secured) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused_headers(provider: IdentityProvider) -> dict[str, dict[str, str]]:
    now = int(time.time())
    return {
        "missing": {},
        "garbage": {"Authorization": "Bearer \x01garbage"},
        "expired": bearer(provider.token(exp=now - 120)),
        "not yet valid": bearer(provider.token(nbf=now + 120)),
        "wrong issuer": bearer(provider.token(iss="https://evil.test")),
        "wrong audience": bearer(provider.token(aud="another-api")),
        "alg none": bearer(provider.forge_unsigned()),
        "hmac with the public key": bearer(provider.forge_hmac_with_public_key()),
        "unknown key": bearer(provider.token(key=STRANGER)),
    }


async def test_every_refused_token_is_401_and_nothing_is_stored(
    client: httpx.AsyncClient,
    provider: IdentityProvider,
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    for case, headers in refused_headers(provider).items():
        response = await client.post(
            "/orders",
            json=LUCAS,
            headers=headers | {"Idempotency-Key": f"k-{case.replace(' ', '-')}"},
        )
        assert response.status_code == 401, (case, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer"), case

    read_only = await client.post(
        "/orders", json=LUCAS, headers=bearer(provider.token(scope="orders:read"))
    )
    assert read_only.status_code == 403

    assert await database["orders"].count_documents({}) == 0
    assert await database["idempotency_keys"].count_documents({}) == 0


async def test_the_order_and_its_event_carry_the_callers_sub(
    client: httpx.AsyncClient,
    provider: IdentityProvider,
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    response = await client.post("/orders", json=LUCAS, headers=bearer(provider.token("alice")))

    assert response.status_code == 201, response.text
    assert response.json()["customerId"] == "alice"
    stored = await database["orders"].find_one({"_id": response.json()["id"]})
    assert stored is not None
    assert stored["customerId"] == "alice"
    assert json.loads(stored["outbox"]["value"])["customerId"] == "alice"


async def test_two_customers_with_the_same_idempotency_key_create_two_orders(
    client: httpx.AsyncClient,
    provider: IdentityProvider,
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    key = {"Idempotency-Key": "shared-key"}
    alice = await client.post("/orders", json=LUCAS, headers=bearer(provider.token("alice")) | key)
    bob = await client.post("/orders", json=LUCAS, headers=bearer(provider.token("bob")) | key)
    alice_again = await client.post(
        "/orders", json=LUCAS, headers=bearer(provider.token("alice")) | key
    )

    assert {alice.status_code, bob.status_code} == {201}
    assert alice.json()["id"] != bob.json()["id"]
    assert alice_again.json()["id"] == alice.json()["id"]
    assert alice_again.headers["idempotent-replayed"] == "true"
    assert await database["orders"].count_documents({}) == 2


async def test_readiness_reports_the_keys_and_health_needs_no_token(
    client: httpx.AsyncClient,
) -> None:
    async def auth_ok() -> bool:
        body: dict[str, Any] = (await client.get("/health/ready")).json()
        return body["checks"].get("auth") == "ok"

    await eventually(auth_ok, timeout=10, what="keys loaded at start")
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200


# -- rate limit -----------------------------------------------------------------------------


async def test_the_rate_limit_holds_across_two_replicas(
    secured: OrderServiceSettings, provider: IdentityProvider, redis_url: str
) -> None:
    limited = secured.model_copy(
        update={
            "redis_url": redis_url,
            "rate_limit_orders_per_minute": 3,
            "rate_limit_timeout_seconds": 1.0,
        }
    )
    caller = f"customer-{uuid4().hex[:8]}"  # the count is per caller: fresh for this test
    headers = bearer(provider.token(caller))
    async with serve(limited) as first, serve(limited) as second:
        answers = [
            await replica.post("/orders", json=LUCAS, headers=headers)
            for replica in (first, second, first, second, first)
        ]
        someone_else = await second.post(
            "/orders", json=LUCAS, headers=bearer(provider.token(f"{caller}-b"))
        )

    assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
    refused = answers[3]
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-policy"] == '"orders-per-minute";q=3;w=60'
    assert (
        refused.headers["ratelimit"]
        == f'"orders-per-minute";r=0;t={refused.headers["retry-after"]}'
    )
    assert someone_else.status_code == 201


def _unavailable_count() -> float:
    return REGISTRY.get_sample_value("rate_limit_unavailable_total") or 0.0


async def test_with_redis_down_orders_are_accepted_and_counted(
    secured: OrderServiceSettings, provider: IdentityProvider, unused_tcp_port: int
) -> None:
    down = secured.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{unused_tcp_port}/0",
            "rate_limit_orders_per_minute": 1,
        }
    )
    before = _unavailable_count()
    async with serve(down) as client:
        answers = [
            await client.post("/orders", json=LUCAS, headers=bearer(provider.token("alice")))
            for _ in range(3)
        ]

    assert [a.status_code for a in answers] == [201, 201, 201]
    assert _unavailable_count() - before == 3


async def test_a_slow_redis_does_not_slow_orders_much(
    secured: OrderServiceSettings, provider: IdentityProvider, redis_server: RedisServer
) -> None:
    with FaultProxy(redis_server.host, redis_server.port) as proxy:
        slow = secured.model_copy(
            update={
                "redis_url": f"redis://{proxy.address}/0",
                "rate_limit_orders_per_minute": 1,
                "rate_limit_timeout_seconds": 0.1,
            }
        )
        proxy.blackhole()  # Redis accepts the connection and never answers
        async with serve(slow) as client:
            started = time.monotonic()
            answers = [
                await client.post("/orders", json=LUCAS, headers=bearer(provider.token("alice")))
                for _ in range(3)
            ]
            elapsed = time.monotonic() - started

    assert [a.status_code for a in answers] == [201, 201, 201]
    # One timeout (0.1 s) at most, then Redis is skipped for a while: no timeout per order.
    assert elapsed < 1.5, elapsed
