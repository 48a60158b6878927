"""`GET /internal/orders/export`: every stored order for the read model's rebuild, as NDJSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from bson.decimal128 import Decimal128
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.order_service.bootstrap import create_http_app
from order_platform.order_service.infrastructure.settings import OrderServiceSettings

Database = AsyncDatabase[dict[str, Any]]


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines()]


async def test_every_stored_order_in_id_order_then_the_end_marker(
    client: httpx.AsyncClient, database: Database
) -> None:
    posted = [
        (await client.post("/orders", json={"customerName": f"C{n}", "totalAmount": n + 1})).json()
        for n in range(5)
    ]
    # One order still holding its unpublished event: stored all the same, exported with it.
    pending_event = uuid4()
    at = datetime(2026, 11, 25, 8, 0, 0, 250_000, tzinfo=UTC)
    pending = str(uuid4())
    await database.orders.insert_one(
        {
            "_id": pending,
            "customerName": "Pending",
            "totalAmount": Decimal128("9.90"),
            "createdAt": at,
            "outbox": {"eventId": str(pending_event)},
        }
    )

    response = await client.get("/internal/orders/export")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["orders-estimated-total"] == "6"
    *orders, end = lines(response)
    assert end == {"end": True, "count": 6}
    assert [o["id"] for o in orders] == sorted([p["id"] for p in posted] + [pending])
    by_id = {o["id"]: o for o in orders}
    for stored in posted:
        assert by_id[stored["id"]] == stored | {"eventId": by_id[stored["id"]]["eventId"]}
    assert by_id[pending] == {
        "id": pending,
        "customerName": "Pending",
        "totalAmount": "9.90",
        "createdAt": "2026-11-25T08:00:00.250Z",
        "status": "placed",  # stored before orders had a life
        "version": 1,
        "updatedAt": "2026-11-25T08:00:00.250Z",
        "eventId": str(pending_event),
    }

    after = sorted(by_id)[2]
    rest = lines(await client.get("/internal/orders/export", params={"after": after}))
    assert [o["id"] for o in rest[:-1]] == sorted(by_id)[3:]
    assert rest[-1] == {"end": True, "count": 3}


async def test_bad_input_is_a_problem_not_a_server_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/internal/orders/export", params={"after": "not-an-id"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "after"


async def test_an_empty_store_exports_just_the_end_marker(client: httpx.AsyncClient) -> None:
    response = await client.get("/internal/orders/export", params={"after": str(UUID(int=0))})

    assert lines(response) == [{"end": True, "count": 0}]


def test_the_export_is_not_in_the_public_openapi_document() -> None:
    paths = create_http_app(OrderServiceSettings()).openapi()["paths"]

    assert "/orders" in paths
    assert not any(path.startswith("/internal") for path in paths)
