"""`POST /orders` with authentication on (a fake authenticator) and a rate limit (a fake):
who may create, that the order is theirs, that keys are per caller, and what a refusal says.
Nothing is stored for a refused request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from order_platform.order_service.bootstrap import OrderServicePorts, wire
from order_platform.order_service.entrypoints.api import create_app
from tests.unit.auth_fakes import ALICE_READS, ALICE_WRITES, BOB_WRITES, FakeTokens, bearer
from tests.unit.http_api import problem, serving_api
from tests.unit.order_service.fakes import (
    CountingRateLimit,
    FakeClock,
    FakeIdempotencyKeys,
    FakeStore,
    FakeUnitOfWork,
    SequentialIds,
)

LUCAS = {"customerName": "Lucas", "totalAmount": 199.90}


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def rate_limit() -> CountingRateLimit:
    return CountingRateLimit(limit=3)


@pytest.fixture
async def client(
    store: FakeStore, rate_limit: CountingRateLimit
) -> AsyncIterator[httpx.AsyncClient]:
    ports = OrderServicePorts(
        new_unit_of_work=lambda: FakeUnitOfWork(store),
        idempotency_keys=FakeIdempotencyKeys(store),
        clock=FakeClock(),
        new_id=SequentialIds(),
    )
    api = wire(ports, auth=FakeTokens(), rate_limit=rate_limit)
    async with serving_api(create_app, api) as client:
        yield client


@pytest.mark.parametrize(
    ("headers", "invalid"),
    [
        ({}, False),
        ({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, False),
        (bearer("forged"), True),
    ],
)
async def test_no_valid_token_is_401_with_a_bearer_challenge_and_stores_nothing(
    client: httpx.AsyncClient, store: FakeStore, headers: dict[str, str], invalid: bool
) -> None:
    response = await client.post("/orders", json=LUCAS, headers=headers)

    problem(response, 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert ('error="invalid_token"' in challenge) == invalid
    assert not store.orders
    assert not store.outbox


async def test_a_token_without_orders_write_is_403_and_stores_nothing(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    response = await client.post("/orders", json=LUCAS, headers=bearer(ALICE_READS))

    assert problem(response, 403)["type"] == "urn:order-platform:problem:insufficient-scope"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert not store.orders


async def test_the_token_is_checked_before_the_body(client: httpx.AsyncClient) -> None:
    problem(await client.post("/orders", content=b"not json"), 401)


async def test_the_order_belongs_to_the_token_subject(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    response = await client.post("/orders", json=LUCAS, headers=bearer(ALICE_WRITES))

    assert response.status_code == 201
    assert response.json()["customerId"] == "alice"
    (order,) = store.orders.values()
    assert order.customer_id == "alice"
    assert [event.customer_id for event in store.outbox] == ["alice"]


async def test_idempotency_keys_are_per_caller(client: httpx.AsyncClient, store: FakeStore) -> None:
    key = {"Idempotency-Key": "same-key"}
    alice = await client.post("/orders", json=LUCAS, headers=bearer(ALICE_WRITES) | key)
    bob = await client.post("/orders", json=LUCAS, headers=bearer(BOB_WRITES) | key)
    alice_again = await client.post("/orders", json=LUCAS, headers=bearer(ALICE_WRITES) | key)

    assert (alice.status_code, bob.status_code, alice_again.status_code) == (201, 201, 201)
    assert alice.json()["id"] != bob.json()["id"]
    assert bob.json()["customerId"] == "bob"
    assert "idempotent-replayed" not in bob.headers  # bob never sees alice's order
    assert alice_again.json() == alice.json()
    assert alice_again.headers["idempotent-replayed"] == "true"
    assert len(store.orders) == 2


async def test_over_the_rate_limit_is_429_with_the_draft_headers_and_stores_nothing(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    for _ in range(3):
        assert (
            await client.post("/orders", json=LUCAS, headers=bearer(ALICE_WRITES))
        ).status_code == 201

    refused = await client.post("/orders", json=LUCAS, headers=bearer(ALICE_WRITES))
    other = await client.post("/orders", json=LUCAS, headers=bearer(BOB_WRITES))

    assert problem(refused, 429)["type"] == "urn:order-platform:problem:rate-limited"
    assert refused.headers["retry-after"] == "17"
    assert refused.headers["ratelimit-policy"] == '"orders-per-minute";q=3;w=60'
    assert refused.headers["ratelimit"] == '"orders-per-minute";r=0;t=17'
    assert other.status_code == 201  # per caller
    assert len(store.orders) == 4


async def test_refused_tokens_are_not_counted_against_anyone(
    client: httpx.AsyncClient, rate_limit: CountingRateLimit
) -> None:
    await client.post("/orders", json=LUCAS)
    await client.post("/orders", json=LUCAS, headers=bearer(ALICE_READS))

    assert rate_limit.hits == {}


async def test_the_docs_declare_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert document["paths"]["/orders"]["post"]["security"] == [{"bearer": []}]
    assert {"401", "403", "429"} <= set(document["paths"]["/orders"]["post"]["responses"])


async def test_health_and_metrics_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.get("/health/ready")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200
