"""`POST /orders` against MongoDB and the broker: accepted, refused, published."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import jsonschema
import pytest
from bson.decimal128 import Decimal128
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.contracts import SCHEMA_PATH, OrderCreatedV1
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from tests.integration.order_service.conftest import serve
from tests.support.kafka_topic import read_topic
from tests.support.outbox import pending_in_async
from tests.support.waiting import eventually

Database = AsyncDatabase[dict[str, Any]]
SCHEMA = json.loads(SCHEMA_PATH.read_text())


async def published_everything(database: Database) -> bool:
    return await pending_in_async(database) == 0


async def test_an_accepted_order_is_stored_and_answered(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post("/orders", json={"customerName": "Lucas", "totalAmount": 199.90})

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "customerName",
        "totalAmount",
        "createdAt",
        "status",
        "version",
        "updatedAt",
    }
    assert (body["status"], body["version"]) == ("placed", 1)
    assert body["customerName"] == "Lucas"
    assert body["totalAmount"] == "199.90"
    assert body["createdAt"].endswith("Z")
    assert response.headers["location"] == f"/orders/{body['id']}"
    stored = await database.orders.find_one({"_id": body["id"]})
    assert stored is not None
    assert stored["totalAmount"] == Decimal128("199.90")


async def test_the_location_header_points_at_the_configured_read_service(
    settings: OrderServiceSettings,
) -> None:
    configured = settings.model_copy(update={"order_location_base_url": "http://reads:8002/"})
    async with serve(configured) as client:
        response = await client.post("/orders", json={"customerName": "A", "totalAmount": "1"})
        assert response.headers["location"] == f"http://reads:8002/orders/{response.json()['id']}"


async def test_one_post_publishes_exactly_one_valid_event_keyed_by_the_order_id(
    client: httpx.AsyncClient,
    database: Database,
    kafka_bootstrap: str,
    settings: OrderServiceSettings,
) -> None:
    response = await client.post(
        "/orders",
        json={"customerName": "Zoë 李", "totalAmount": "10.5"},
        headers={"X-Correlation-Id": "checkout-42"},
    )
    order = response.json()
    assert response.headers["x-correlation-id"] == "checkout-42"

    await eventually(lambda: published_everything(database), what="outbox emptied")
    records = await read_topic(kafka_bootstrap, settings.order_events_topic)

    assert len(records) == 1
    (record,) = records
    assert record.key == order["id"].encode()
    value = json.loads(record.value)
    jsonschema.validate(value, SCHEMA, format_checker=jsonschema.FormatChecker())
    event = OrderCreatedV1.from_json(record.value)
    assert event.order_id == UUID(order["id"])
    assert event.customer_name == "Zoë 李"
    assert event.total_amount == Decimal("10.50")
    assert value["totalAmount"] == "10.50"
    assert value["createdAt"] == order["createdAt"]
    headers = dict(record.headers)
    # A traceparent joins them when tracing is on (another test may have turned it on).
    assert {k: v for k, v in headers.items() if k != "traceparent"} == {
        "event-type": b"OrderCreated",
        "event-version": b"1",
        "content-type": b"application/json",
        "correlation-id": b"checkout-42",
    }


async def test_unicode_names_are_stored_intact(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post("/orders", json={"customerName": "  Zoë 李 🍕 ", "totalAmount": 5})
    stored = await database.orders.find_one({"_id": response.json()["id"]})
    assert stored is not None
    assert stored["customerName"] == "Zoë 李 🍕"


def _body(name: object = "Lucas", amount: object = 199.9) -> dict[str, object]:
    return {"customerName": name, "totalAmount": amount}


BAD_JSON_BODIES: list[tuple[str, object]] = [
    ("missing name", {"totalAmount": 1}),
    ("missing amount", {"customerName": "Lucas"}),
    ("empty object", {}),
    ("array", [_body()]),
    ("name is a number", _body(name=42)),
    ("name is null", _body(name=None)),
    ("name is an object", _body(name={"$gt": ""})),
    ("name is an array", _body(name=["Lucas"])),
    ("empty name", _body(name="")),
    ("whitespace name", _body(name=" \t\n ")),
    ("201 characters", _body(name="x" * 201)),
    ("amount zero", _body(amount=0)),
    ("amount negative", _body(amount=-1)),
    ("amount three decimals", _body(amount=1.005)),
    ("amount three decimals as string", _body(amount="1.005")),
    ("amount NaN string", _body(amount="NaN")),
    ("amount Infinity string", _body(amount="Infinity")),
    ("amount 1e30", _body(amount=1e30)),
    ("amount over a billion", _body(amount="1000000000.01")),
    ("amount is text", _body(amount="lots")),
    ("amount is boolean", _body(amount=True)),
    ("amount is null", _body(amount=None)),
    ("amount is an object", _body(amount={"$gt": 0})),
]


@pytest.mark.parametrize(("case", "body"), BAD_JSON_BODIES, ids=[c for c, _ in BAD_JSON_BODIES])
async def test_bad_input_gets_a_problem_and_stores_nothing(
    client: httpx.AsyncClient, database: Database, case: str, body: object
) -> None:
    response = await client.post("/orders", json=body, headers={"Idempotency-Key": case})
    _assert_problem(response, 422)
    assert response.json()["errors"], case
    assert await database.orders.count_documents({}) == 0
    assert await database.idempotency_keys.count_documents({}) == 0


BAD_RAW_REQUESTS: list[tuple[str, bytes, str, int]] = [
    ("not json", b"customerName=Lucas", "application/json", 422),
    ("truncated json", b'{"customerName": "Lucas", ', "application/json", 422),
    ("bare NaN literal", b'{"customerName": "Lucas", "totalAmount": NaN}', "application/json", 422),
    (
        "bare Infinity",
        b'{"customerName": "Lucas", "totalAmount": Infinity}',
        "application/json",
        422,
    ),
    ("wrong content type", b'{"customerName": "Lucas", "totalAmount": 1}', "text/plain", 415),
    (
        "form content type",
        b"customerName=Lucas&totalAmount=1",
        "application/x-www-form-urlencoded",
        415,
    ),
    ("no content type", b'{"customerName": "Lucas", "totalAmount": 1}', "", 415),
    (
        "100 KiB body",
        b'{"customerName": "' + b"x" * 100 * 1024 + b'", "totalAmount": 1}',
        "application/json",
        413,
    ),
    ("invalid utf-8", b'{"customerName": "\xff\xfe", "totalAmount": 1}', "application/json", 422),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "application/json", 413),
    ("empty body", b"", "application/json", 422),
]


@pytest.mark.parametrize(
    ("case", "content", "content_type", "status"),
    BAD_RAW_REQUESTS,
    ids=[case for case, *_ in BAD_RAW_REQUESTS],
)
async def test_malformed_requests_get_a_problem_and_store_nothing(
    client: httpx.AsyncClient,
    database: Database,
    case: str,
    content: bytes,
    content_type: str,
    status: int,
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/orders", content=content, headers=headers)
    _assert_problem(response, status)
    assert await database.orders.count_documents({}) == 0


async def test_a_chunked_body_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 1024

    response = await client.post(
        "/orders", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _assert_problem(response, 413)


@pytest.mark.parametrize("key", [b"", b"x" * 256, b"has space", "naïve".encode(), b"tab\there"])
async def test_an_invalid_idempotency_key_is_refused(client: httpx.AsyncClient, key: bytes) -> None:
    response = await client.post("/orders", json=_body(), headers={"Idempotency-Key": key})
    _assert_problem(response, 422)


async def test_unknown_routes_and_wrong_methods_are_problems(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get("/nowhere"), 404)
    _assert_problem(await client.delete("/orders"), 405)


async def test_a_retry_with_the_same_key_replays_the_original_response(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = {"Idempotency-Key": "order-7f3a"}
    first = await client.post("/orders", json=_body(amount=199.9), headers=headers)
    again = await client.post("/orders", json=_body(amount="199.90"), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await database.orders.count_documents({}) == 1


async def test_the_same_key_with_a_different_body_is_422(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = {"Idempotency-Key": "order-7f3a"}
    await client.post("/orders", json=_body(amount=1), headers=headers)
    response = await client.post("/orders", json=_body(amount=2), headers=headers)

    _assert_problem(response, 422)
    assert "different request body" in response.json()["detail"]
    assert await database.orders.count_documents({}) == 1


async def test_concurrent_requests_with_one_key_create_one_order(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = {"Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(client.post("/orders", json=_body(), headers=headers) for _ in range(8))
    )

    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    created = {response.json()["id"] for response in responses if response.status_code == 201}
    assert len(created) == 1
    for conflict in (response for response in responses if response.status_code == 409):
        _assert_problem(conflict, 409)
        assert conflict.headers["retry-after"]
    assert await database.orders.count_documents({}) == 1


async def test_mongodb_unavailable_is_503_with_retry_after(
    settings: OrderServiceSettings, unused_tcp_port: int
) -> None:
    away = settings.model_copy(
        update={
            "mongodb_uri": f"mongodb://127.0.0.1:{unused_tcp_port}",
            "mongodb_timeout_seconds": 0.5,
        }
    )
    async with serve(away) as client:
        response = await client.post("/orders", json=_body())
        _assert_problem(response, 503)
        assert response.headers["retry-after"]
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["mongodb"].startswith("unavailable")


async def test_kafka_unavailable_still_accepts_and_holds_the_event(
    settings: OrderServiceSettings, database: Database, unused_tcp_port: int
) -> None:
    away = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{unused_tcp_port}"})
    async with serve(away) as client:
        response = await client.post("/orders", json=_body())
        assert response.status_code == 201

        async def ready() -> bool:
            return (await client.get("/health/ready")).status_code == 200

        await eventually(ready, timeout=5, what="ready while Kafka is away")
    stored = await database.orders.find_one({"_id": response.json()["id"]})
    assert stored is not None
    assert await pending_in_async(database) == 1  # still to be published


async def test_health_docs_and_metrics_answer(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}

    async def ready_answer() -> httpx.Response | None:
        answer = await client.get("/health/ready")
        return answer if answer.status_code == 200 else None

    # Ready once the relay's first heartbeat is recorded, a moment after start.
    ready = await eventually(ready_answer, timeout=5, what="ready")
    assert ready.json() == {
        "status": "ok",
        "checks": {"mongodb": "ok", "outbox-relay": "ok", "auth": "disabled"},
    }
    assert (await client.get("/docs")).status_code == 200
    assert "/orders" in (await client.get("/openapi.json")).json()["paths"]
    metrics = await client.get("/metrics")
    assert "outbox_pending_entries" in metrics.text


def _assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
