"""A service's HTTP app on a fake application object, and what every problem answer holds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from order_platform.building_blocks.http.service_app import Started
from order_platform.building_blocks.runtime.health import Readiness
from tests.support.asgi import serving


@asynccontextmanager
async def serving_api[Api](
    create_app: Callable[[Callable[[], Awaitable[Started[Api]]]], FastAPI], api: Api
) -> AsyncIterator[httpx.AsyncClient]:
    """`create_app` as the bootstrap calls it, started with `api` instead of real adapters."""

    async def start() -> Started[Api]:
        async def stop() -> None:
            pass

        return Started(api, Readiness({}), stop)

    async with serving(create_app(start)) as client:
        yield client


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem+json body of `response`, once its status and required members are checked."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body
