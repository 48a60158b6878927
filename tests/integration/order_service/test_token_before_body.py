"""Guarantee 11 at the socket, behind a real uvicorn: no unauthenticated request makes the
Order Service wait for (or buffer) a body before its token is checked, chunked or not, and a
body over the limit is refused as soon as it crosses it. The app runs on fakes (tokens, store):
what is under test is when the server answers, not what it stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from order_platform.building_blocks.http.service_app import Started
from order_platform.building_blocks.runtime.health import Readiness
from order_platform.order_service.bootstrap import OrderServicePorts, wire
from order_platform.order_service.entrypoints.api import OrderServiceApi, create_app
from tests.support.uvicorn_server import uvicorn_serving
from tests.unit.auth_fakes import ALICE_WRITES, FakeTokens
from tests.unit.order_service.fakes import (
    FakeClock,
    FakeIdempotencyKeys,
    FakeStore,
    FakeUnitOfWork,
    SequentialIds,
)

PROMPTLY = 2.0  # seconds: the answer needs no body, only the request's head
HTTP_IMPLEMENTATIONS = ["httptools", "h11"]


@asynccontextmanager
async def order_service(http: str, store: FakeStore) -> AsyncIterator[tuple[str, int]]:
    ports = OrderServicePorts(
        new_unit_of_work=lambda: FakeUnitOfWork(store),
        idempotency_keys=FakeIdempotencyKeys(store),
        clock=FakeClock(),
        new_id=SequentialIds(),
    )
    api = wire(ports, auth=FakeTokens())

    async def start() -> Started[OrderServiceApi]:
        return Started(api, Readiness({}), lambda: asyncio.sleep(0))

    async with uvicorn_serving(create_app(start), http=http) as address:
        yield address


def chunked_post(*headers: bytes) -> bytes:
    return b"\r\n".join(
        [
            b"POST /orders HTTP/1.1",
            b"Host: orders",
            b"Content-Type: application/json",
            b"Transfer-Encoding: chunked",
            *headers,
            b"",
            b"",
        ]
    )


async def answer_head(reader: asyncio.StreamReader) -> bytes:
    """The status line and headers of the next answer, within `PROMPTLY`."""
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PROMPTLY)


@pytest.mark.parametrize("http", HTTP_IMPLEMENTATIONS)
@pytest.mark.parametrize("expect", [b"", b"Expect: 100-continue"], ids=["plain", "expect"])
async def test_guarantee_11_an_anonymous_chunked_post_is_refused_before_its_body_is_read(
    http: str, expect: bytes
) -> None:
    store = FakeStore()
    async with order_service(http, store) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            # The head only: a body that never comes. Had anything read it, the server would
            # wait for it (or answer `100 Continue` first, when the client expects one).
            writer.write(chunked_post(*([expect] if expect else [])))
            await writer.drain()

            head = await answer_head(reader)
            assert head.startswith(b"HTTP/1.1 401 "), head
            assert b"www-authenticate: bearer" in head.lower()
            # Closed after the answer: the client cannot hold the connection by sending on.
            await asyncio.wait_for(reader.read(), PROMPTLY)
            assert reader.at_eof()
        finally:
            writer.close()
    assert not store.orders


@pytest.mark.parametrize("http", HTTP_IMPLEMENTATIONS)
async def test_guarantee_11_a_chunked_body_is_refused_as_soon_as_it_crosses_64_kib(
    http: str,
) -> None:
    store = FakeStore()
    async with order_service(http, store) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(chunked_post(f"Authorization: Bearer {ALICE_WRITES}".encode()))
            for _ in range(70):  # 70 KiB and no last chunk: the refusal cannot wait for the end
                writer.write(b"400\r\n" + b" " * 1024 + b"\r\n")
            await writer.drain()

            head = await answer_head(reader)
            assert head.startswith(b"HTTP/1.1 413 "), head
            assert b"content-type: application/problem+json" in head.lower()
        finally:
            writer.close()
    assert not store.orders
