"""The whole story with all three services as processes: POST, read it back, one notification."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from tests.support.system import System, walk_orders
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


async def test_a_posted_order_is_readable_by_location_and_in_the_list_and_notified_once(
    system: System,
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        created = await client.post(
            f"{system.order.url}/orders",
            json={"customerName": "Lucas", "totalAmount": 199.90},
            headers={"Idempotency-Key": "story-1"},
        )
        assert created.status_code == 201, created.text
        order = created.json()
        assert order["customerName"] == "Lucas"
        assert order["totalAmount"] == "199.90"
        location = created.headers["Location"]
        assert location == f"{system.reads[0].url}/orders/{order['id']}"

        async def projected() -> httpx.Response | None:
            response = await client.get(location)
            return response if response.status_code == 200 else None

        read = await eventually(projected, timeout=15, what="the order projected")
        assert read.json() == order

    assert walk_orders(system.reads[0].url) == [order]

    async def one_line() -> Counter[str]:
        return system.notified()

    assert await eventually(one_line, timeout=15, what="the notification") == Counter(
        {order["id"]: 1}
    )
    await system.wait_until_idle()
    assert system.notified() == Counter({order["id"]: 1}), system.logs()
    line = f"📩 Notification sent to Lucas | Order: {order['id']} | Total: $199.90"
    assert line in system.workers[0].log()
