"""Guarantee 8: the read service is not ready while its projection is not consuming."""

from __future__ import annotations

import httpx
import pytest

from order_platform.building_blocks.kafka.consumer import ConsumerRunner
from order_platform.read_service.infrastructure.settings import ReadServiceSettings
from tests.integration.read_service.conftest import serve
from tests.support.waiting import eventually


async def test_guarantee_8_readiness_is_503_while_the_consumer_is_down(
    settings: ReadServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashing = True
    real_run = ConsumerRunner.run

    async def run(self: ConsumerRunner[object]) -> None:
        if crashing:
            raise RuntimeError("projection consumer crashed")
        await real_run(self)

    monkeypatch.setattr(ConsumerRunner, "run", run)

    async with serve(settings) as client:

        async def readiness() -> httpx.Response:
            return await client.get("/health/ready")

        async def status_is(code: int) -> httpx.Response | None:
            answer = await readiness()
            return answer if answer.status_code == code else None

        down = await eventually(lambda: status_is(503), what="503 while the consumer crashes")
        checks = down.json()["checks"]
        assert checks["mongodb"] == "ok", checks
        assert checks["consumer"].startswith("unavailable: TaskDown restarting after RuntimeError")

        crashing = False  # the supervisor's next restart succeeds
        up = await eventually(lambda: status_is(200), timeout=30, what="ready once consuming")
        assert up.json()["checks"]["consumer"] == "ok"
