"""The order's life over HTTP with authentication on (a fake authenticator) and a rate limit
(a fake): who may run which command and read which order, that another customer's order is
404, that keys are per caller and that commands share the caller's rate limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from order_platform.order_service.bootstrap import OrderServicePorts, wire
from order_platform.order_service.entrypoints.api import create_app
from tests.unit.auth_fakes import (
    ADMIN,
    ALICE_READS,
    ALICE_WRITES,
    BOB_READS,
    BOB_WRITES,
    WRITE_ONLY,
    FakeTokens,
    bearer,
)
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
    return CountingRateLimit(limit=100)


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


async def alices_order(client: httpx.AsyncClient) -> str:
    response = await client.post("/orders", json=LUCAS, headers=bearer(ALICE_WRITES))
    assert response.status_code == 201, response.text
    order_id: str = response.json()["id"]
    return order_id


@pytest.mark.parametrize("command", ["confirm", "ship"])
@pytest.mark.parametrize("token", [ALICE_WRITES, ALICE_READS, WRITE_ONLY])
async def test_confirm_and_ship_need_orders_admin_even_for_the_owner(
    client: httpx.AsyncClient, store: FakeStore, command: str, token: str
) -> None:
    order_id = await alices_order(client)

    response = await client.post(f"/orders/{order_id}/{command}", headers=bearer(token))

    assert problem(response, 403)["type"] == "urn:order-platform:problem:insufficient-scope"
    assert 'scope="orders:admin"' in response.headers["www-authenticate"]
    assert store.orders[next(iter(store.orders))].version == 1


async def test_an_admin_confirms_and_ships_any_order(client: httpx.AsyncClient) -> None:
    order_id = await alices_order(client)

    confirmed = await client.post(f"/orders/{order_id}/confirm", headers=bearer(ADMIN))
    shipped = await client.post(f"/orders/{order_id}/ship", headers=bearer(ADMIN))

    assert (confirmed.status_code, shipped.status_code) == (200, 200)
    assert shipped.json()["customerId"] == "alice"
    assert shipped.headers["etag"] == '"3"'


@pytest.mark.parametrize("token", [ALICE_WRITES, ADMIN])
async def test_the_owner_with_orders_write_or_an_admin_cancels(
    client: httpx.AsyncClient, token: str
) -> None:
    order_id = await alices_order(client)

    response = await client.post(f"/orders/{order_id}/cancel", headers=bearer(token))

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"


async def test_another_customers_order_is_404_and_stays_unchanged(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    order_id = await alices_order(client)

    cancel = await client.post(
        f"/orders/{order_id}/cancel", headers=bearer(BOB_WRITES) | {"If-Match": '"7"'}
    )
    read = await client.get(f"/orders/{order_id}", headers=bearer(BOB_READS))

    assert problem(cancel, 404)["type"] == "about:blank"  # not 412: nothing about the order
    assert "etag" not in cancel.headers
    problem(read, 404)
    assert store.orders[next(iter(store.orders))].status == "placed"


async def test_cancel_needs_orders_write_or_orders_admin(client: httpx.AsyncClient) -> None:
    order_id = await alices_order(client)

    response = await client.post(f"/orders/{order_id}/cancel", headers=bearer(ALICE_READS))

    problem(response, 403)
    assert 'scope="orders:write orders:admin"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(("token", "status"), [(ALICE_READS, 200), (ADMIN, 200), (WRITE_ONLY, 403)])
async def test_get_needs_orders_read_or_orders_admin(
    client: httpx.AsyncClient, token: str, status: int
) -> None:
    order_id = await alices_order(client)

    response = await client.get(f"/orders/{order_id}", headers=bearer(token))

    assert response.status_code == status, response.text
    if status == 200:
        assert response.headers["etag"] == '"1"'


@pytest.mark.parametrize("command", ["confirm", "ship", "cancel"])
async def test_no_token_is_401_before_the_body_is_read(
    client: httpx.AsyncClient, command: str
) -> None:
    order_id = await alices_order(client)

    problem(await client.post(f"/orders/{order_id}/{command}", content=b"not json"), 401)
    problem(await client.get(f"/orders/{order_id}"), 401)


async def test_keys_are_per_caller(client: httpx.AsyncClient) -> None:
    order_id = await alices_order(client)
    key = {"Idempotency-Key": "same-key"}
    await client.post(f"/orders/{order_id}/confirm", headers=bearer(ADMIN) | key)

    alices = await client.post(f"/orders/{order_id}/cancel", headers=bearer(ALICE_WRITES) | key)

    assert alices.status_code == 200  # her own key: not the admin's confirm replayed
    assert "idempotent-replayed" not in alices.headers
    assert alices.json()["status"] == "cancelled"


async def test_commands_count_against_the_callers_rate_limit(
    client: httpx.AsyncClient, rate_limit: CountingRateLimit
) -> None:
    order_id = await alices_order(client)
    rate_limit.limit = 2

    allowed = await client.post(f"/orders/{order_id}/cancel", headers=bearer(ALICE_WRITES))
    refused = await client.post(f"/orders/{order_id}/cancel", headers=bearer(ALICE_WRITES))
    await client.get(f"/orders/{order_id}", headers=bearer(ALICE_WRITES))  # reads are free
    await client.post(f"/orders/{order_id}/cancel", headers=bearer(ALICE_READS))  # refused: 403

    assert allowed.status_code == 200
    assert problem(refused, 429)["type"] == "urn:order-platform:problem:rate-limited"
    assert rate_limit.hits == {"sub:alice": 3}


async def test_the_docs_declare_the_bearer_scheme_on_every_route(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    for path, method in [
        ("/orders/{order_id}/confirm", "post"),
        ("/orders/{order_id}/ship", "post"),
        ("/orders/{order_id}/cancel", "post"),
        ("/orders/{order_id}", "get"),
    ]:
        assert paths[path][method]["security"] == [{"bearer": []}]
        assert {"401", "403"} <= set(paths[path][method]["responses"])
