"""An order's life over HTTP against MongoDB: the commands and `GET /orders/{id}` through the
composition root's real adapters, the version compare-and-set deciding races."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

Database = AsyncDatabase[dict[str, Any]]


async def placed(client: httpx.AsyncClient) -> str:
    response = await client.post("/orders", json={"customerName": "Lucas", "totalAmount": "9.90"})
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    order_id: str = response.json()["id"]
    return order_id


async def test_an_orders_life_is_stored_and_answered(
    client: httpx.AsyncClient, database: Database
) -> None:
    order_id = await placed(client)

    read = await client.get(f"/orders/{order_id}")
    confirmed = await client.post(f"/orders/{order_id}/confirm", headers={"If-Match": '"1"'})
    shipped = await client.post(
        f"/orders/{order_id}/ship", json={"trackingNumber": "1Z999"}, headers={"If-Match": "*"}
    )
    refused = await client.post(f"/orders/{order_id}/cancel")
    current = await client.get(f"/orders/{order_id}")

    assert (read.headers["etag"], read.json()["status"]) == ('"1"', "placed")
    assert (confirmed.status_code, confirmed.headers["etag"]) == (200, '"2"')
    assert (shipped.status_code, shipped.headers["etag"]) == (200, '"3"')
    assert refused.status_code == 409
    assert refused.json()["orderStatus"] == "shipped"
    assert current.json() == shipped.json()
    assert current.json()["trackingNumber"] == "1Z999"
    stored = await database.orders.find_one({"_id": order_id})
    assert stored is not None
    assert (stored["status"], stored["version"], stored["trackingNumber"]) == (
        "shipped",
        3,
        "1Z999",
    )


async def test_of_two_racing_confirms_one_wins_the_other_is_refused_never_a_5xx(
    client: httpx.AsyncClient,
) -> None:
    plain, conditional = await placed(client), await placed(client)

    answers = await asyncio.gather(
        *[client.post(f"/orders/{plain}/confirm") for _ in range(2)],
        *[
            client.post(f"/orders/{conditional}/confirm", headers={"If-Match": '"1"'})
            for _ in range(2)
        ],
    )

    assert sorted(answer.status_code for answer in answers[:2]) == [200, 409]
    assert sorted(answer.status_code for answer in answers[2:]) == [200, 412]
    (mismatch,) = [answer for answer in answers[2:] if answer.status_code == 412]
    assert (mismatch.json()["currentVersion"], mismatch.headers["etag"]) == (2, '"2"')


async def test_a_retry_with_the_same_key_replays_the_change(client: httpx.AsyncClient) -> None:
    order_id = await placed(client)
    key = {"Idempotency-Key": "cancel-once"}

    first = await client.post(f"/orders/{order_id}/cancel", json={"reason": "Twice"}, headers=key)
    again = await client.post(f"/orders/{order_id}/cancel", json={"reason": "Twice"}, headers=key)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["version"] == 2
