"""`POST /orders` over HTTP on fakes: the real app (routes, problem table, body dependency,
middleware) through `create_app`, the real handler on fake ports, no server. Milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from structlog.testing import capture_logs

from order_platform.order_service.bootstrap import OrderServicePorts, wire
from order_platform.order_service.entrypoints.api import create_app
from tests.unit.http_api import problem, serving_api
from tests.unit.order_service.fakes import (
    FakeClock,
    FakeIdempotencyKeys,
    FakeStore,
    FakeUnitOfWork,
    SequentialIds,
)

LUCAS = {"customerName": "Lucas", "totalAmount": 199.90}
FIRST_ID = "00000000-0000-0000-0000-000000000001"  # SequentialIds: order 1, event 2


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
async def client(store: FakeStore) -> AsyncIterator[httpx.AsyncClient]:
    ports = OrderServicePorts(
        new_unit_of_work=lambda: FakeUnitOfWork(store),
        idempotency_keys=FakeIdempotencyKeys(store),
        clock=FakeClock(),
        new_id=SequentialIds(),
    )
    api = wire(ports, location_base_url="http://reads:8002/")  # as bootstrap wires it
    async with serving_api(create_app, api) as client:
        yield client


async def test_201_with_the_order_and_its_location(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    with capture_logs() as logs:
        response = await client.post("/orders", json=LUCAS)

    assert response.status_code == 201
    assert response.headers["location"] == f"http://reads:8002/orders/{FIRST_ID}"
    assert response.headers["etag"] == '"1"'
    assert "idempotent-replayed" not in response.headers
    assert response.json() == {
        "id": FIRST_ID,
        "customerName": "Lucas",
        "totalAmount": "199.90",
        "createdAt": "2026-11-25T08:00:00.000Z",
        "status": "placed",
        "version": 1,
        "updatedAt": "2026-11-25T08:00:00.000Z",
    }
    assert list(store.orders) == [store.outbox[0].order_id]
    accepted = [log for log in logs if log["event"] == "order_accepted"]
    assert accepted == [
        {"event": "order_accepted", "log_level": "info", "order_id": FIRST_ID, "replayed": False}
    ]


async def test_numbers_are_read_as_decimals_never_floats(client: httpx.AsyncClient) -> None:
    # As floats, 0.1 + 0.2 style values drift and 1.005 would pass as 1.00 or 1.01.
    exact = await client.post(
        "/orders",
        content=b'{"customerName": "A", "totalAmount": 0.30}',
        headers={"Content-Type": "application/json"},
    )
    assert exact.json()["totalAmount"] == "0.30"
    three_places = await client.post(
        "/orders",
        content=b'{"customerName": "A", "totalAmount": 1.005}',
        headers={"Content-Type": "application/json"},
    )
    assert problem(three_places, 422)["errors"][0]["field"] == "totalAmount"


# Numbers that `Decimal` cannot parse (InvalidOperation) or parses but cannot compute with.
BEYOND_DECIMAL = [
    b'{"customerName": "A", "totalAmount": 1e9999999999999999999}',
    b'{"customerName": "A", "totalAmount": 1e-9999999999999999999}',
    b'{"customerName": "A", "totalAmount": 1, "note": 1e9999999999999999999}',
    b'{"customerName": "A", "totalAmount": 1, "note": [-1E+999999999999999999]}',
    b'{"customerName": "A", "totalAmount": 1e999999999999999999}',
    b'{"customerName": "A", "totalAmount": 1, "note": ' + b"9" * 5000 + b"}",
]
BEYOND_DECIMAL_AS_TEXT = ["1e9999999999999999999", "1e999999999999999999", "1e-999999999999999999"]


@pytest.mark.parametrize("content", BEYOND_DECIMAL)
async def test_guarantee_10_a_number_beyond_decimals_range_is_422(
    client: httpx.AsyncClient, store: FakeStore, content: bytes
) -> None:
    response = await client.post(
        "/orders", content=content, headers={"Content-Type": "application/json"}
    )

    body = problem(response, 422)
    assert body["type"] == "urn:order-platform:problem:invalid-request"
    assert "out of range" in body["detail"]
    assert not store.orders
    assert not store.outbox


@pytest.mark.parametrize("amount", BEYOND_DECIMAL_AS_TEXT)
async def test_guarantee_10_a_numeric_string_beyond_decimals_range_is_422(
    client: httpx.AsyncClient, store: FakeStore, amount: str
) -> None:
    response = await client.post("/orders", json={"customerName": "A", "totalAmount": amount})

    errors = problem(response, 422)["errors"]
    assert [error["field"] for error in errors] == ["totalAmount"]
    assert not store.orders


async def test_a_repeated_key_replays_the_first_answer(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    headers = {"Idempotency-Key": "order-7f3a"}
    first = await client.post("/orders", json=LUCAS, headers=headers)
    with capture_logs() as logs:
        again = await client.post(
            "/orders", json={**LUCAS, "totalAmount": "199.9"}, headers=headers
        )

    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.json() == first.json()
    assert len(store.orders) == 1
    assert [log["replayed"] for log in logs if log["event"] == "order_accepted"] == [True]


async def test_the_same_key_with_another_body_is_422(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "order-7f3a"}
    await client.post("/orders", json=LUCAS, headers=headers)
    response = await client.post("/orders", json={**LUCAS, "totalAmount": 1}, headers=headers)

    body = problem(response, 422)
    assert body["type"] == "urn:order-platform:problem:idempotency-key-reused"
    assert "different request body" in body["detail"]
    assert "errors" not in body


async def test_a_key_still_in_flight_is_409_with_retry_after(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    store.commit_gate = asyncio.Event()
    headers = {"Idempotency-Key": "burst"}
    first = asyncio.create_task(client.post("/orders", json=LUCAS, headers=headers))
    await store.commit_waiting.wait()

    response = await client.post("/orders", json=LUCAS, headers=headers)
    store.commit_gate.set()

    body = problem(response, 409)
    assert body["type"] == "urn:order-platform:problem:request-in-flight"
    assert response.headers["retry-after"] == "1"
    assert (await first).status_code == 201


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
async def test_a_body_that_is_not_json_is_415(
    client: httpx.AsyncClient, store: FakeStore, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/orders", content=b'{"customerName": "A"}', headers=headers)

    body = problem(response, 415)
    assert body == {
        "type": "about:blank",
        "title": "Unsupported Media Type",
        "status": 415,
        "detail": "Send the order as application/json.",
    }
    assert not store.orders


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "APPLICATION/JSON", "application/x+json"]
)
async def test_json_media_types_are_accepted(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/orders",
        content=b'{"customerName": "A", "totalAmount": "1"}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("content", [b"", b"customerName=A", b'{"totalAmount": NaN}', b"\xff"])
async def test_a_body_that_does_not_parse_is_422_saying_why(
    client: httpx.AsyncClient, content: bytes
) -> None:
    response = await client.post(
        "/orders", content=content, headers={"Content-Type": "application/json"}
    )

    body = problem(response, 422)
    assert body["type"] == "urn:order-platform:problem:invalid-request"
    assert body["detail"].startswith("The body is not valid JSON: ")
    assert "errors" not in body


INVALID: list[tuple[object, list[str]]] = [
    ({"totalAmount": 1}, ["customerName"]),
    ({"customerName": 42, "totalAmount": True}, ["customerName", "totalAmount"]),
    ([LUCAS], ["body"]),
    ({"customerName": " ", "totalAmount": 1}, ["customerName"]),  # a rule of the domain
    ({"customerName": "A", "totalAmount": 0}, ["totalAmount"]),  # a rule of the domain
    ({"customerName": "Lu\ncas", "totalAmount": 1}, ["customerName"]),
    ({**LUCAS, "customerId": "someone-else"}, ["customerId"]),  # the token says who
    ({**LUCAS, "currency": "EUR"}, ["currency"]),  # not stored without it
]


@pytest.mark.parametrize(("body", "fields"), INVALID)
async def test_an_invalid_body_is_422_naming_the_api_fields(
    client: httpx.AsyncClient, store: FakeStore, body: object, fields: list[str]
) -> None:
    response = await client.post("/orders", json=body, headers={"Idempotency-Key": "k"})

    problem_body = problem(response, 422)
    assert problem_body["type"] == "urn:order-platform:problem:invalid-request"
    assert problem_body["detail"] == "The request is not valid."
    assert [error["field"] for error in problem_body["errors"]] == fields
    assert all(error["message"] for error in problem_body["errors"])
    assert not store.orders
    assert not store.outbox


async def test_an_invalid_idempotency_key_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/orders", json=LUCAS, headers={"Idempotency-Key": "has space"})

    assert [error["field"] for error in problem(response, 422)["errors"]] == ["Idempotency-Key"]


async def test_storage_down_is_503_with_retry_after_and_nothing_stored(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    store.available = False

    response = await client.post("/orders", json=LUCAS)

    body = problem(response, 503)
    assert body["type"] == "about:blank"
    assert "nothing was stored" in body["detail"]
    assert response.headers["retry-after"] == "2"


async def test_a_lost_reply_is_503_outcome_unknown(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    store.lose_replies = True

    response = await client.post("/orders", json=LUCAS, headers={"Idempotency-Key": "k"})

    body = problem(response, 503)
    assert body["type"] == "urn:order-platform:problem:outcome-unknown"
    assert response.headers["retry-after"] == "2"
    store.lose_replies = False
    retry = await client.post("/orders", json=LUCAS, headers={"Idempotency-Key": "k"})
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"


async def test_unknown_routes_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    problem(await client.get("/nowhere"), 404)
    problem(await client.delete("/orders"), 405)


async def test_the_openapi_document_describes_the_body_answers_and_headers(
    client: httpx.AsyncClient,
) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/orders"]["post"]

    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"customerName", "totalAmount"}
    assert body["additionalProperties"] is False
    created = operation["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/OrderStateResponse")
    assert set(created["headers"]) == {"Location", "ETag", "Idempotent-Replayed"}
    assert set(operation["responses"]) >= {"409", "413", "415", "422", "503"}
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    assert operation["parameters"][0]["name"] == "Idempotency-Key"
