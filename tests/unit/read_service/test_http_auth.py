"""`GET /orders` and `GET /orders/{id}` with authentication on (a fake authenticator): a
customer sees their own orders only, in every page; someone else's order is a 404 exactly
like an unknown one; an admin sees everything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import httpx
import pytest

from order_platform.read_service.bootstrap import wire
from order_platform.read_service.domain import OrderView
from order_platform.read_service.entrypoints.api import create_app
from tests.unit.auth_fakes import ADMIN, ALICE_READS, BOB_READS, WRITE_ONLY, FakeTokens, bearer
from tests.unit.http_api import problem, serving_api
from tests.unit.read_service.fakes import FakeReadModel, FakeReadModelGenerations, FakeViewCache

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def order(n: int, customer: str | None) -> OrderView:
    return OrderView(
        UUID(int=n),
        f"C{n}",
        Decimal("1.50"),
        T0 + timedelta(seconds=n),
        UUID(int=1000 + n),
        customer,
    )


@pytest.fixture
async def read_model() -> FakeReadModel:
    model = FakeReadModel()
    # Interleaved: alice has the odd ones, bob the even ones, one order from before auth.
    await model.apply([order(n, "alice" if n % 2 else "bob") for n in range(1, 11)])
    await model.apply([order(99, None)])
    return model


@pytest.fixture
async def client(read_model: FakeReadModel) -> AsyncIterator[httpx.AsyncClient]:
    api = wire(FakeReadModelGenerations(read_model), FakeViewCache(), auth=FakeTokens()).api
    async with serving_api(create_app, api) as client:
        yield client


async def every_page(client: httpx.AsyncClient, token: str, limit: int) -> list[list[int]]:
    pages: list[list[int]] = []
    url: str | None = f"/orders?limit={limit}"
    while url is not None:
        response = await client.get(url, headers=bearer(token))
        assert response.status_code == 200, response.text
        pages.append([UUID(o["id"]).int for o in response.json()])
        url = response.links.get("next", {}).get("url")
    return pages


@pytest.mark.parametrize("limit", [1, 2, 3, 200])
async def test_a_customer_lists_their_own_orders_only_in_every_page(
    client: httpx.AsyncClient, limit: int
) -> None:
    alice = await every_page(client, ALICE_READS, limit)
    bob = await every_page(client, BOB_READS, limit)

    assert [n for page in alice for n in page] == [9, 7, 5, 3, 1]
    assert [n for page in bob for n in page] == [10, 8, 6, 4, 2]
    assert all(len(page) <= limit for page in alice + bob)


async def test_an_admin_lists_everyone(client: httpx.AsyncClient) -> None:
    everyone = await every_page(client, ADMIN, 4)

    assert [n for page in everyone for n in page] == [99, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]


async def test_someone_elses_order_is_404_like_an_unknown_one(client: httpx.AsyncClient) -> None:
    bobs = await client.get(f"/orders/{UUID(int=2)}", headers=bearer(ALICE_READS))
    unknown = await client.get(f"/orders/{UUID(int=12345)}", headers=bearer(ALICE_READS))
    before_auth = await client.get(f"/orders/{UUID(int=99)}", headers=bearer(ALICE_READS))

    problem(bobs, 404)
    problem(before_auth, 404)
    assert bobs.json()["detail"].replace(str(UUID(int=2)), "ID") == problem(unknown, 404)[
        "detail"
    ].replace(str(UUID(int=12345)), "ID")


async def test_own_order_and_admin_read_it(client: httpx.AsyncClient) -> None:
    own = await client.get(f"/orders/{UUID(int=1)}", headers=bearer(ALICE_READS))
    admin = await client.get(f"/orders/{UUID(int=2)}", headers=bearer(ADMIN))

    assert own.json()["customerId"] == "alice"
    assert admin.json()["customerId"] == "bob"


async def test_a_cached_order_is_still_checked_for_its_owner(client: httpx.AsyncClient) -> None:
    # The admin's read puts bob's order in the cache; alice still cannot see it.
    assert (await client.get(f"/orders/{UUID(int=2)}", headers=bearer(ADMIN))).status_code == 200
    problem(await client.get(f"/orders/{UUID(int=2)}", headers=bearer(ALICE_READS)), 404)


async def test_a_cached_page_of_one_customer_is_never_served_to_another(
    client: httpx.AsyncClient,
) -> None:
    first_alice = await client.get("/orders?limit=2", headers=bearer(ALICE_READS))
    first_bob = await client.get("/orders?limit=2", headers=bearer(BOB_READS))
    first_admin = await client.get("/orders?limit=2", headers=bearer(ADMIN))

    assert [UUID(o["id"]).int for o in first_alice.json()] == [9, 7]
    assert [UUID(o["id"]).int for o in first_bob.json()] == [10, 8]
    assert [UUID(o["id"]).int for o in first_admin.json()] == [99, 10]


@pytest.mark.parametrize("path", ["/orders", f"/orders/{UUID(int=1)}"])
async def test_no_token_is_401_a_bad_one_invalid_token_and_a_write_only_scope_403(
    client: httpx.AsyncClient, path: str
) -> None:
    missing = await client.get(path)
    forged = await client.get(path, headers=bearer("forged"))
    write_only = await client.get(path, headers=bearer(WRITE_ONLY))

    problem(missing, 401)
    assert missing.headers["www-authenticate"] == 'Bearer realm="order-platform"'
    problem(forged, 401)
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]
    problem(write_only, 403)


async def test_the_consoles_projection_times_need_the_admin_scope(
    client: httpx.AsyncClient,
) -> None:
    path = f"/internal/projections?orderId={UUID(int=1)}"

    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=bearer(ALICE_READS))).status_code == 403
    answer = await client.get(path, headers=bearer(ADMIN))
    assert answer.status_code == 200
    assert str(UUID(int=1)) in answer.json()["projections"]
