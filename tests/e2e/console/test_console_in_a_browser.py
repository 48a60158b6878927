"""The operator console in a real browser (headless Chromium) on a running platform: an order
shows in recent orders and, searched, with its four hops and their latencies, then each of its
later events with theirs; an event that skips a version shows parked with the version it waits
for; a stopped read service shows as unavailable while the rest keeps updating; a dead letter
is redriven from the page, with a confirmation."""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Dialog, Page, expect

from order_platform.contracts.order_events import OrderShippedV1
from order_platform.devtools.embedded import PlatformService
from tests.support.events import produce
from tests.support.system import System

pytestmark = pytest.mark.slow

SCREENSHOT = Path(__file__).parents[3] / "docs" / "console.png"
SECONDS = 1000  # Playwright's timeouts are in milliseconds
A_LATENCY = re.compile(r"\d+(\.\d+)? m?s")
A_TIME = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$")


async def post_order(system: System, name: str, correlation_id: str | None = None) -> str:
    headers = {"X-Correlation-Id": correlation_id} if correlation_id else {}
    async with httpx.AsyncClient(base_url=system.order.url, timeout=10) as client:
        created = await client.post(
            "/orders", json={"customerName": name, "totalAmount": "42.50"}, headers=headers
        )
    assert created.status_code == 201, created.text
    order_id: str = created.json()["id"]
    return order_id


async def test_an_order_appears_in_recent_orders_and_its_search_shows_every_hop(
    system: System, console: PlatformService, page: Page, tmp_path: Path
) -> None:
    await page.goto(console.url)
    await expect(page.locator('[data-part="post"]')).to_have_class(
        "node ready", timeout=15 * SECONDS
    )

    order_id = await post_order(system, "Ada", correlation_id="console-test-1")

    row = page.locator(f'#recent tr[data-order-id="{order_id}"]')
    await expect(row).to_be_visible(timeout=15 * SECONDS)
    await expect(row.locator('.hop[data-hop="notified"]')).to_have_attribute(
        "data-state", "reached", timeout=15 * SECONDS
    )
    await expect(row.locator(".e2e")).to_have_text(A_LATENCY, timeout=5 * SECONDS)

    # Searched by its correlation id: every hop reached, each with its time and latency.
    await page.fill("#order-query", "console-test-1")
    await page.click("#search button")
    journey = page.locator("#journey")
    await expect(journey.locator('[data-field="order-id"]')).to_have_text(order_id)
    creation = journey.locator('tr[data-version="1"]')
    await expect(creation).to_have_attribute("data-event-type", "OrderCreated")
    for hop in ("accepted", "published", "projected", "notified"):
        chip = creation.locator(f'.hop[data-hop="{hop}"]')
        await expect(chip).to_have_attribute("data-state", "reached", timeout=10 * SECONDS)
        await expect(chip.locator("small")).to_have_text(A_TIME)
        if hop != "accepted":
            await expect(chip).to_contain_text(A_LATENCY)

    # Its life goes on: each later event shows with its own four hops.
    async with httpx.AsyncClient(base_url=system.order.url, timeout=10) as client:
        for command in ("confirm", "ship"):
            answered = await client.post(f"/orders/{order_id}/{command}")
            assert answered.status_code == 200, answered.text
    for version, event_type in ((2, "OrderConfirmed"), (3, "OrderShipped")):
        row = journey.locator(f'tr[data-version="{version}"]')
        await expect(row).to_have_attribute("data-event-type", event_type, timeout=15 * SECONDS)
        for hop in ("accepted", "published", "projected", "notified"):
            await expect(row.locator(f'.hop[data-hop="{hop}"]')).to_have_attribute(
                "data-state", "reached", timeout=15 * SECONDS
            )

    # The pipeline's rates count it.
    await expect(page.locator('[data-part="projection"] dd').first).not_to_have_text(
        "0.00/s", timeout=10 * SECONDS
    )
    # The README's picture: UPDATE_CONSOLE_SCREENSHOT=1 writes it to docs/console.png.
    target = SCREENSHOT if os.environ.get("UPDATE_CONSOLE_SCREENSHOT") else tmp_path / "console.png"
    await page.screenshot(path=target, full_page=True)


async def test_an_event_that_skips_a_version_shows_parked_with_the_version_it_waits_for(
    system: System, console: PlatformService, page: Page
) -> None:
    await page.goto(console.url)
    order_id = await post_order(system, "Hopper")
    created = page.locator(f'#recent tr[data-order-id="{order_id}"]')
    for hop in ("projected", "notified"):  # its creation consumed by both, then:
        await expect(created.locator(f'.hop[data-hop="{hop}"]')).to_have_attribute(
            "data-state", "reached", timeout=15 * SECONDS
        )
    # Shipped without its confirmation (version 2 lost, say): both consumers hold it back.
    shipped = OrderShippedV1(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        order_id=uuid.UUID(order_id),
        order_version=3,
        tracking_number="TN-7",
    )
    await produce(system.kafka_bootstrap, system.topic, [shipped])

    await page.fill("#order-query", order_id)
    await page.click("#search button")
    row = page.locator('#journey tr[data-version="3"]')
    await expect(row).to_have_attribute("data-event-type", "OrderShipped", timeout=15 * SECONDS)
    for hop in ("projected", "notified"):
        chip = row.locator(f'.hop[data-hop="{hop}"]')
        await expect(chip).to_have_attribute("data-state", "parked", timeout=15 * SECONDS)
        await expect(chip).to_have_attribute("data-waiting-for", "2")
        await expect(chip).to_contain_text("parked, waits for version 2")
    await expect(row.locator('.hop[data-hop="published"]')).to_have_attribute(
        "data-state", "reached"
    )


async def test_a_stopped_read_service_is_unavailable_while_the_rest_keeps_updating(
    system: System, console: PlatformService, page: Page
) -> None:
    await page.goto(console.url)
    projection = page.locator('[data-part="projection"]')
    await expect(projection).to_have_class("node ready", timeout=15 * SECONDS)

    system.reads[0].stop()

    await expect(projection).to_have_class("node unavailable", timeout=15 * SECONDS)
    await expect(projection.locator(".service")).to_contain_text("connection refused")
    # The rest keeps working: a new order shows, published and notified, projection pending.
    order_id = await post_order(system, "Grace")
    row = page.locator(f'#recent tr[data-order-id="{order_id}"]')
    await expect(row).to_be_visible(timeout=15 * SECONDS)
    await expect(row.locator('.hop[data-hop="notified"]')).to_have_attribute(
        "data-state", "reached", timeout=15 * SECONDS
    )
    await expect(row.locator('.hop[data-hop="projected"]')).to_have_attribute(
        "data-state", "pending"
    )
    await expect(page.locator('[data-part="notification"]')).to_have_class("node ready")
    await expect(page.locator('[data-part="post"]')).to_have_class("node ready")
    await expect(page.locator("#freshness")).not_to_have_class("stale")


async def test_a_dead_letter_is_shown_failed_in_its_order_and_redriven_from_the_page(
    system: System, console: PlatformService, page: Page
) -> None:
    read_group, _ = system.groups
    poisoned = str(uuid.uuid4())
    await produce(system.kafka_bootstrap, system.topic, [b"{not an event"], key=poisoned.encode())
    await page.goto(console.url)

    group = page.locator(f'.group[data-group="{read_group}"]')
    await expect(group.locator(".count")).to_have_text("1", timeout=20 * SECONDS)
    letter = group.locator("tr[data-coordinates]")
    await expect(letter).to_contain_text(poisoned)

    # Its order: published nowhere readable, dead-lettered by the read side, with the error.
    await page.fill("#order-query", poisoned)
    await page.click("#search button")
    failed = page.locator('#journey .hop[data-hop="projected"]')
    await expect(failed).to_have_attribute("data-state", "failed", timeout=10 * SECONDS)
    await expect(failed.locator("small")).not_to_be_empty()

    # Refused at the confirmation: nothing is sent.
    async def dismiss(dialog: Dialog) -> None:
        await dialog.dismiss()

    page.once("dialog", dismiss)
    await letter.locator("button.redrive").click()
    await expect(page.locator("#redrive-result")).to_have_text("")

    # Confirmed: sent back to that group once; the poison fails again into a second dead
    # letter that carries its history.
    async def accept(dialog: Dialog) -> None:
        assert read_group in dialog.message
        await dialog.accept()

    page.once("dialog", accept)
    await group.locator("tr[data-coordinates]").first.locator("button.redrive").click()
    await expect(page.locator("#redrive-result")).to_have_text(
        f"{read_group}: redrove 1", timeout=15 * SECONDS
    )
    await expect(group.locator(".count")).to_have_text("2", timeout=20 * SECONDS)
    await expect(group.locator("tr[data-coordinates]").first).to_contain_text("redriven 1×")
