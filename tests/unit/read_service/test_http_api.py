"""`GET /orders` and `GET /orders/{id}` over HTTP on fakes: the real app through `create_app`,
the real queries on the fake read model and cache, no server. Milliseconds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import httpx
import pytest

from order_platform.read_service.bootstrap import wire
from order_platform.read_service.domain import OrderChange, OrderView
from order_platform.read_service.entrypoints.api import create_app
from tests.unit.http_api import problem, serving_api
from tests.unit.read_service.fakes import (
    FakeReadModel,
    FakeReadModelGenerations,
    FakeViewCache,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def view(n: int) -> OrderView:
    # Two orders per second, so some positions tie on time and are ordered by id.
    return OrderView(
        UUID(int=n), f"C{n}", Decimal("1.5"), T0 + timedelta(seconds=n // 2), UUID(int=1000 + n)
    )


@pytest.fixture
def read_model() -> FakeReadModel:
    return FakeReadModel()


@pytest.fixture
def cache() -> FakeViewCache:
    return FakeViewCache()


@pytest.fixture
async def client(
    read_model: FakeReadModel, cache: FakeViewCache
) -> AsyncIterator[httpx.AsyncClient]:
    async with serving_api(
        create_app, wire(FakeReadModelGenerations(read_model), cache).api
    ) as client:
        yield client


async def test_an_order_is_answered_in_the_platform_shape(
    client: httpx.AsyncClient, read_model: FakeReadModel
) -> None:
    await read_model.apply([view(3)])

    response = await client.get(f"/orders/{UUID(int=3)}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "id": str(UUID(int=3)),
        "customerName": "C3",
        "totalAmount": "1.50",
        "createdAt": "2026-11-25T08:00:01.000Z",
        "status": "placed",
        "version": 1,
        "updatedAt": "2026-11-25T08:00:01.000Z",
    }
    assert response.headers["etag"] == '"1"'


async def test_an_unknown_order_is_404_and_not_cached(
    client: httpx.AsyncClient, read_model: FakeReadModel, cache: FakeViewCache
) -> None:
    missing = UUID(int=42)

    body = problem(await client.get(f"/orders/{missing}"), 404)

    assert body["detail"] == f"Order {missing} is unknown or not projected yet."
    assert not cache.orders
    await read_model.apply([OrderView(missing, "Late", Decimal("2"), T0, UUID(int=1))])
    assert (await client.get(f"/orders/{missing}")).status_code == 200


async def test_an_id_that_is_no_uuid_is_422(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/orders/not-a-uuid"), 422)
    assert [error["field"] for error in body["errors"]] == ["order_id"]


async def test_pages_link_to_the_next_until_the_last(
    client: httpx.AsyncClient, read_model: FakeReadModel
) -> None:
    await read_model.apply([view(n) for n in range(5)])

    pages: list[list[str]] = []
    url: str | None = "/orders?limit=2"
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200
        pages.append([order["id"] for order in response.json()])
        link = response.headers.get("link")
        url = None
        if link is not None:
            assert link.startswith("</orders?limit=2&cursor=")
            assert link.endswith('>; rel="next"')
            url = response.links["next"]["url"]

    assert pages == [[str(UUID(int=n)) for n in ids] for ids in ([4, 3], [2, 1], [0])]


async def test_a_status_filters_the_list_and_its_next_links(
    client: httpx.AsyncClient, read_model: FakeReadModel
) -> None:
    await read_model.apply([view(n) for n in range(5)])
    for n in (0, 2, 3):
        change = OrderChange(UUID(int=2000 + n), UUID(int=n), 2, "cancelled", T0)
        await read_model.reveal_changes(await read_model.stage_changes([change]))

    first = await client.get("/orders?limit=2&status=cancelled")
    assert [order["id"] for order in first.json()] == [str(UUID(int=3)), str(UUID(int=2))]
    assert {order["status"] for order in first.json()} == {"cancelled"}
    assert first.headers["link"].endswith('&status=cancelled>; rel="next"')
    rest = await client.get(first.links["next"]["url"])
    assert [order["id"] for order in rest.json()] == [str(UUID(int=0))]

    unknown = await client.get("/orders?status=lost")
    assert unknown.status_code == 422
    assert unknown.headers["content-type"].startswith("application/problem+json")


async def test_an_empty_list_is_an_empty_array_without_link(client: httpx.AsyncClient) -> None:
    response = await client.get("/orders")

    assert response.status_code == 200
    assert response.json() == []
    assert "link" not in response.headers


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=201", "limit"), ("limit=x", "limit"), ("cursor=zz", "cursor")],
)
async def test_a_bad_limit_or_cursor_is_422_naming_it(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    body = problem(await client.get(f"/orders?{query}"), 422)

    assert body["type"] == "urn:order-platform:problem:invalid-request"
    assert [error["field"] for error in body["errors"]] == [field]


async def test_the_read_model_away_is_503_with_retry_after(
    client: httpx.AsyncClient, read_model: FakeReadModel
) -> None:
    read_model.available = False

    for response in [await client.get("/orders"), await client.get(f"/orders/{UUID(int=1)}")]:
        body = problem(response, 503)
        assert body["detail"] == "The read model is unavailable; retry later."
        assert response.headers["retry-after"] == "2"


async def test_the_cache_away_still_answers(
    client: httpx.AsyncClient, read_model: FakeReadModel, cache: FakeViewCache
) -> None:
    await read_model.apply([view(1)])
    cache.available = False

    assert (await client.get(f"/orders/{UUID(int=1)}")).status_code == 200
    assert len((await client.get("/orders")).json()) == 1


async def test_the_openapi_document_describes_answers_and_headers(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    listing = paths["/orders"]["get"]["responses"]
    assert listing["200"]["content"]["application/json"]["schema"]["items"]["$ref"].endswith(
        "/OrderStateResponse"
    )
    assert "Link" in listing["200"]["headers"]
    assert "Retry-After" in listing["503"]["headers"]
    assert set(paths["/orders/{order_id}"]["get"]["responses"]) >= {"200", "404", "422", "503"}
