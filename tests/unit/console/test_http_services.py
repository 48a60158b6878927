"""The console's HTTP client of the services: the bearer token on every call when one is
configured, none otherwise; answers parsed; a service that refuses is `ServiceUnavailable`."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest

from order_platform.console.application.ports import ServiceUnavailable
from order_platform.console.infrastructure.http_services import HttpServices

METRICS = "# HELP x_total X\n# TYPE x_total counter\nx_total 3.0\n"


def recording(status: int = 200) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []
    event = uuid4()

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if status != 200:
            return httpx.Response(status)
        if request.url.path == "/metrics":
            return httpx.Response(200, text=METRICS)
        if request.url.path == "/health/ready":
            return httpx.Response(503, json={"status": "unavailable", "checks": {"redis": "down"}})
        return httpx.Response(200, json={"notifications": {str(event): "2026-11-28T12:00:00.000Z"}})

    return seen, httpx.MockTransport(answer)


@pytest.mark.parametrize(("token", "expected"), [("t0k3n", "Bearer t0k3n"), (None, None)])
async def test_every_call_carries_the_console_token_when_one_is_set(
    token: str | None, expected: str | None
) -> None:
    seen, transport = recording()
    services = HttpServices(
        read_url="http://r",
        notification_url="http://w",
        timeout_seconds=1,
        access_token=token,
        transport=transport,
    )

    scrape = await services.scrape("http://w")
    notified = await services.notifications([uuid4()])
    await services.aclose()

    assert [request.headers.get("authorization") for request in seen] == [expected] * 3
    assert scrape.ready is False
    assert scrape.checks == {"redis": "down"}
    assert sum(scrape.counters.values()) == 3.0
    assert len(notified) == 1


async def test_a_refusing_service_is_unavailable_with_why() -> None:
    _, transport = recording(status=403)
    services = HttpServices(
        read_url="http://r", notification_url="http://w", timeout_seconds=1, transport=transport
    )

    with pytest.raises(ServiceUnavailable, match="answered 403"):
        await services.projections([uuid4()])
    scrape = await services.scrape("http://r")
    await services.aclose()

    assert scrape.error == "/metrics answered 403"
