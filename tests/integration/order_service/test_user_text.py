"""`POST /orders`: a customer name is data; control characters in it are refused (422)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

Database = AsyncDatabase[dict[str, Any]]

FORGING = {
    "newline": "Lucas\nlevel=info event=order_accepted order_id=forged",
    "carriage return": "Lucas\r",
    "tab": "Lu\tcas",
    "escape": "\x1b[2J\x1b[HLucas",
    "nul": "Lu\x00cas",
    "delete": "Lucas\x7f",
    "c1 next line": "Lucas\x85forged",
    "c1 csi": "Lucas\x9b31m",
    "line separator": "Lucas\u2028forged",
    "paragraph separator": "Lucas\u2029forged",
    "trailing newline": "Lucas\n",
}


@pytest.mark.parametrize("name", FORGING.values(), ids=FORGING.keys())
async def test_guarantee_10_control_characters_in_a_name_are_422_and_nothing_is_stored(
    client: httpx.AsyncClient, database: Database, name: str
) -> None:
    response = await client.post(
        "/orders",
        json={"customerName": name, "totalAmount": "1.00"},
        headers={"Idempotency-Key": "forged-name"},
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [error["field"] for error in response.json()["errors"]] == ["customerName"]
    assert await database.orders.count_documents({}) == 0
    assert await database.idempotency_keys.count_documents({}) == 0


async def test_the_openapi_schema_states_the_rule(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    body = schema["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["properties"]["customerName"]

    assert "control characters" in name["description"]
    assert "\\u2028" in name["pattern"]


async def test_guarantee_10_a_lone_surrogate_in_a_name_is_422_and_nothing_is_stored(
    client: httpx.AsyncClient, database: Database
) -> None:
    # Valid JSON (an escaped UTF-16 half) that decodes to text no UTF-8 encoder accepts:
    # storing or publishing it would fail after validation.
    response = await client.post(
        "/orders",
        content=b'{"customerName": "Lu\\ud800cas", "totalAmount": "1.00"}',
        headers={"content-type": "application/json", "Idempotency-Key": "half-a-character"},
    )

    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["customerName"]
    assert await database.orders.count_documents({}) == 0
    assert await database.idempotency_keys.count_documents({}) == 0
