"""The HTTP server every process runs (`http_server.server_config`), as a real uvicorn on
127.0.0.1 in this process: request heads are bounded, forwarded addresses are trusted only
from the configured proxies (guarantee 11)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn

from order_platform.building_blocks.http.server import server_config
from order_platform.building_blocks.runtime.settings import ServiceSettings
from tests.support.waiting import eventually

MiB = 1024 * 1024


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the client address it was given and the size of the body it read."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = json.dumps({"client": scope["client"][0], "body": len(body)}).encode()
    length = str(len(answer)).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]}
    )
    await send({"type": "http.response.body", "body": answer})


@asynccontextmanager
async def serving(settings: ServiceSettings) -> AsyncIterator[int]:
    """The platform's uvicorn configuration around `echo`, on a free port of 127.0.0.1."""
    server = uvicorn.Server(server_config(echo, host="127.0.0.1", port=0, settings=settings))
    running = asyncio.create_task(server.serve())

    async def started() -> bool:
        if running.done():
            running.result()  # a start that failed says why
        return server.started

    await eventually(started, what="uvicorn started")
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(running, 10)


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with serving(ServiceSettings()) as port:
        yield port


def head(*headers: str, method: str = "GET", length: int | None = None) -> bytes:
    lines = [f"{method} / HTTP/1.1", "Host: 127.0.0.1", *headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def filler(total: int, *, line: int = 1000) -> list[str]:
    """Header lines adding up to about `total` bytes on the wire."""
    return [f"X-Filler-{i}: " + "a" * (line - 16) for i in range(total // line)]


async def closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()  # a reset is expected after a refusal


async def answers(port: int, *chunks: bytes, count: int = 1) -> list[dict[str, Any]]:
    """Send `chunks` one write each on one connection; the JSON of `count` 200 answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        bodies = []
        for _ in range(count):
            status = await asyncio.wait_for(reader.readline(), 5)
            assert status.startswith(b"HTTP/1.1 200"), status
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                if name.lower() == b"transfer-encoding":
                    raise AssertionError("expected a content-length answer")
            bodies.append(json.loads(await reader.readexactly(length)))
        return bodies
    finally:
        await closed(writer)


async def test_guarantee_11_a_request_head_beyond_the_limit_is_refused(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    sent = 0
    try:
        # 1 MiB of header lines that never end: the server must not wait for (and keep) them all.
        for line in filler(MiB):
            writer.write(line.encode() + b"\r\n")
            sent += len(line) + 2
            if sent % (64 * 1024) < 1000:
                await writer.drain()
        await writer.drain()
    except ConnectionError:
        pass  # closed by the server while we were still sending: refused early
    try:
        answer = await asyncio.wait_for(reader.read(), 5)
    except ConnectionError:
        answer = b""  # reset: our unread header lines were discarded with the connection
    except TimeoutError:
        pytest.fail(f"the server kept reading an unfinished head of {sent} bytes")
    finally:
        await closed(writer)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    if answer:
        assert b"application/problem+json" in answer
        assert answer.endswith(b"}")


async def test_a_head_sent_in_small_pieces_is_counted_across_reads(port: int) -> None:
    # 20 KiB of head in reads of 100 bytes: the count spans reads.
    wire = head(*filler(20 * 1024))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for start in range(0, len(wire), 100):
            writer.write(wire[start : start + 100])
            await writer.drain()
            await asyncio.sleep(0)  # let the server read them one by one
        status = await asyncio.wait_for(reader.readline(), 5)
    except ConnectionError:
        status = b""
    finally:
        await closed(writer)
    assert status in (b"", b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


async def test_a_request_with_8_kib_of_headers_is_served(port: int) -> None:
    [whole] = await answers(port, head(*filler(8 * 1024)))
    wire = head(*filler(15 * 1024))
    [in_pieces] = await answers(port, *(wire[i : i + 100] for i in range(0, len(wire), 100)))

    assert whole == in_pieces == {"client": "127.0.0.1", "body": 0}


async def test_a_body_read_with_its_head_is_not_counted_as_head(port: int) -> None:
    body = b"b" * (200 * 1024)
    [answer] = await answers(port, head(method="POST", length=len(body)) + body)

    assert answer["body"] == len(body)


async def test_each_pipelined_request_has_its_own_head_limit(port: int) -> None:
    # Three requests of 10 KiB heads in one write: 30 KiB in all, each within the limit.
    one = head(*filler(10 * 1024))
    assert len(await answers(port, one * 3, count=3)) == 3


async def test_the_head_limit_is_a_setting() -> None:
    settings = ServiceSettings(http_max_request_head_bytes=64 * 1024)
    async with serving(settings) as port:
        [answer] = await answers(port, head(*filler(40 * 1024)))
    assert answer["client"] == "127.0.0.1"


FORWARDED = {
    "X-Forwarded-For": "203.0.113.7",
    "Forwarded": "for=203.0.113.7",
    "X-Real-IP": "203.0.113.7",
}


async def test_guarantee_11_forwarded_addresses_are_ignored_without_trusted_proxies(
    port: int,
) -> None:
    for name, value in FORWARDED.items():
        [answer] = await answers(port, head(f"{name}: {value}"))
        assert answer["client"] == "127.0.0.1", name


async def test_guarantee_11_forwarded_addresses_are_trusted_only_from_configured_proxies() -> None:
    async with serving(ServiceSettings(trusted_proxies="10.0.0.0/8, ::1")) as port:
        [answer] = await answers(port, head("X-Forwarded-For: 203.0.113.7"))
        assert answer["client"] == "127.0.0.1"  # a peer that is not one of the proxies

    async with serving(ServiceSettings(trusted_proxies="127.0.0.1")) as port:
        [through_proxy] = await answers(port, head("X-Forwarded-For: 203.0.113.7"))
        # Only the proxies' own header: the others stay ignored.
        others = [await answers(port, head(f"{n}: {v}")) for n, v in FORWARDED.items()][1:]

    assert through_proxy["client"] == "203.0.113.7"
    assert [answer["client"] for [answer] in others] == ["127.0.0.1", "127.0.0.1"]


@pytest.mark.parametrize("entry", ["localhost", "*", "10.0.0.0/33", "proxy.internal"])
def test_trusted_proxies_are_addresses_or_networks(entry: str) -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        ServiceSettings(trusted_proxies=f"10.0.0.1, {entry}")
