"""The operator console as a process in front of a running platform, and a headless Chromium
(Debian's `chromium`, driven by Playwright; never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from order_platform.devtools.embedded import PlatformService
from tests.support.system import System

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    """`CHROMIUM_PATH`, else the first Chromium on PATH (scripts/install-test-packages installs
    Debian's)."""
    if (configured := os.environ.get("CHROMIUM_PATH")) is not None:
        return configured
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


@pytest.fixture
def console(system: System, tmp_path: Path) -> Iterator[PlatformService]:
    read_group, notification_group = system.groups
    service = PlatformService(
        "console",
        env={
            "KAFKA_BOOTSTRAP_SERVERS": system.kafka_bootstrap,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            "ORDER_EVENTS_TOPIC": system.topic,
            "ORDER_SERVICE_URL": system.order.url,
            "READ_SERVICE_URL": ",".join(read.url for read in system.reads),
            "NOTIFICATION_SERVICE_URL": ",".join(worker.url for worker in system.workers),
            "READ_CONSUMER_GROUP": read_group,
            "NOTIFICATION_CONSUMER_GROUP": notification_group,
            "CONSOLE_SCRAPE_INTERVAL_SECONDS": "0.5",
            "CONSOLE_REFRESH_INTERVAL_SECONDS": "0.5",
            "CONSOLE_DEAD_LETTERS_INTERVAL_SECONDS": "1",
            "LOG_FORMAT": "json",
        },
        log_dir=tmp_path,
    )
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "no Chromium found (install Debian's `chromium`, e.g. scripts/install-test-packages, "
            "or set CHROMIUM_PATH): the browser tests of the operator console are skipped"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()
