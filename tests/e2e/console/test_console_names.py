"""Guarantee 11 on the console process itself: it answers only to its own names (a page that
rebinds its name to 127.0.0.1 gets nothing) and refuses state changes from other origins,
while its own page keeps working in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from order_platform.devtools.embedded import PlatformService
from tests.e2e.console.conftest import chromium_path

GROUP = "order-read-service"
REDRIVE = f"/api/dead-letters/{GROUP}/redrive"
SECONDS = 1000  # Playwright's timeouts are in milliseconds


@pytest.fixture
def console(kafka_bootstrap: str, unique_name: str, tmp_path: Path) -> Iterator[PlatformService]:
    """The console alone, on Kafka (the services it watches are simply unavailable)."""
    nowhere = "http://127.0.0.1:9"
    service = PlatformService(
        "console",
        env={
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            "ORDER_EVENTS_TOPIC": unique_name,
            "ORDER_SERVICE_URL": nowhere,
            "READ_SERVICE_URL": nowhere,
            "NOTIFICATION_SERVICE_URL": nowhere,
            "CONSOLE_ALLOWED_HOSTS": "",
            "LOG_FORMAT": "json",
        },
        log_dir=tmp_path,
    )
    service.start()
    try:
        yield service
    finally:
        service.stop()


def test_guarantee_11_the_console_refuses_a_foreign_host(console: PlatformService) -> None:
    port = console.port
    with httpx.Client(base_url=console.url, timeout=10) as client:
        for own in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert client.get("/api/overview", headers={"Host": own}).status_code == 200, own
        for foreign in (
            f"rebound.example:{port}",  # another site's name, rebound to 127.0.0.1
            "rebound.example",
            f"localhost:{port + 1}",  # another port on the same name is another origin
            f"localhost:{port}.rebound.example",
            "",
        ):
            for method, path in (("GET", "/api/overview"), ("GET", "/"), ("POST", REDRIVE)):
                refused = client.request(
                    method, path, headers={"Host": foreign}, json={"all": True}
                )
                assert refused.status_code == 400, (foreign, path, refused.text)
                assert refused.headers["content-type"] == "application/problem+json"
                assert "answers only to its own host names" in refused.json()["detail"]
                assert "orders" not in refused.text.lower()


def test_guarantee_11_the_console_refuses_state_changes_from_other_origins(
    console: PlatformService,
) -> None:
    own_origin = console.url
    with httpx.Client(base_url=console.url, timeout=30) as client:
        for headers in (
            {"Origin": "http://rebound.example"},
            {"Origin": "null"},
            {"Origin": f"https://127.0.0.1:{console.port}"},  # another scheme: another origin
            {"Origin": f"http://localhost:{console.port}"},  # allowed name, not this page's
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            refused = client.post(REDRIVE, json={"all": True}, headers=headers)
            assert refused.status_code == 403, (headers, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
        # Its own page, and clients that are no browser (curl, scripts), go through.
        for headers in ({"Origin": own_origin}, {"Sec-Fetch-Site": "same-origin"}, {}):
            answer = client.post(REDRIVE, json={"all": True}, headers=headers)
            assert answer.status_code == 200, (headers, answer.text)
        # Reading is not a state change: a cross-origin GET of its own name is fine.
        assert client.get("/api/overview", headers={"Origin": "http://x.example"}).is_success


async def test_guarantee_11_a_rebound_name_gets_nothing_and_the_page_works_by_its_own(
    console: PlatformService,
) -> None:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found (see tests/e2e/console/conftest.py)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable,
            # DNS rebinding, without DNS: another site's name resolves to the console's address.
            args=["--host-resolver-rules=MAP rebound.example 127.0.0.1"],
        )
        try:
            page = await browser.new_page()
            rebound = await page.goto(f"http://rebound.example:{console.port}/")
            assert rebound is not None
            assert rebound.status == 400
            overview = await page.evaluate("fetch('/api/overview').then((r) => r.status)")
            assert overview == 400

            own = await page.goto(console.url)
            assert own is not None
            assert own.status == 200
            # The page polls its overview and shows it: the topic is read, the services not.
            await expect(page.locator('[data-part="post"]')).to_have_class(
                "node unavailable", timeout=15 * SECONDS
            )
            await expect(page.locator("#dlq-groups .group")).to_have_count(2, timeout=15 * SECONDS)
            # Its own redrive request (a POST, so Chromium sends its Origin) is taken.
            redrive = await page.evaluate(
                """(path) => fetch(path, {method: 'POST', headers: {'Content-Type':
                   'application/json'}, body: JSON.stringify({all: true})}).then((r) => r.status)""",
                REDRIVE,
            )
            assert redrive == 200
        finally:
            await browser.close()
