"""`GET /asyncapi.json` on the Order Service (issue 25, item 7): the events' AsyncAPI document,
the committed one, served without a token even while authentication is on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from order_platform.order_service.bootstrap import OrderServicePorts, wire
from order_platform.order_service.entrypoints.api import create_app
from tests.unit.auth_fakes import FakeTokens, bearer
from tests.unit.http_api import serving_api
from tests.unit.order_service.fakes import (
    CountingRateLimit,
    FakeClock,
    FakeIdempotencyKeys,
    FakeStore,
    FakeUnitOfWork,
    SequentialIds,
)

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    store = FakeStore()
    ports = OrderServicePorts(
        new_unit_of_work=lambda: FakeUnitOfWork(store),
        idempotency_keys=FakeIdempotencyKeys(store),
        clock=FakeClock(),
        new_id=SequentialIds(),
    )
    api = wire(ports, auth=FakeTokens(), rate_limit=CountingRateLimit(limit=1))
    async with serving_api(create_app, api) as client:
        yield client


async def test_the_asyncapi_document_is_served_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/asyncapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads(COMMITTED.read_text(encoding="utf-8"))


async def test_a_bad_token_does_not_keep_the_document_from_anyone(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/asyncapi.json", headers=bearer("forged"))
    second = await client.get("/asyncapi.json")  # not counted against any rate limit either

    assert first.status_code == second.status_code == 200
    assert first.json()["asyncapi"] == "3.0.0"


async def test_the_document_is_not_an_operation_of_the_http_api(client: httpx.AsyncClient) -> None:
    """Like `/openapi.json`: served next to the API, not part of it."""
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert "/asyncapi.json" not in paths


async def test_orders_still_need_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/orders/00000000-0000-0000-0000-000000000001")).status_code == 401
