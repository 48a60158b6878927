"""`GET /orders` over the real stack: a well-formed but out-of-range cursor is 422, never 5xx."""

from __future__ import annotations

import base64
from uuid import UUID

import httpx
import pytest

OUT_OF_RANGE = {
    "before year 1 in UTC": "0001-01-01T00:00:00+05:00",
    "after year 9999 in UTC": "9999-12-31T23:59:59-05:00",
    "year 99999": "99999-01-01T00:00:00+00:00",
    "offset of a day": "2026-11-25T08:00:00+24:00",
}


def _cursor(created_at: str, order_id: str = str(UUID(int=1))) -> str:
    return base64.urlsafe_b64encode(f"{created_at}|{order_id}".encode()).decode().rstrip("=")


@pytest.mark.parametrize("created_at", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
async def test_guarantee_10_an_out_of_range_cursor_is_422(
    client: httpx.AsyncClient, created_at: str
) -> None:
    response = await client.get("/orders", params={"cursor": _cursor(created_at)})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [error["field"] for error in response.json()["errors"]] == ["cursor"]


async def test_a_cursor_at_the_edge_of_time_is_an_empty_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/orders", params={"cursor": _cursor("0001-01-01T00:00:00Z")})

    assert response.status_code == 200, response.text
    assert response.json() == []
