"""Guarantee 11 against every HTTP process as `order-platform` starts it: a request head is
bounded, and the rate limit's client address cannot be picked with a forwarded header."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from order_platform.devtools.embedded import PlatformService

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
HTTP_PROCESSES = ["order-service", "read-service", "notification-service", "console"]


@pytest.fixture
def environment(
    kafka_bootstrap: str, mongodb_uri: str, redis_url: str, unique_name: str
) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": unique_name,
        "REDIS_URL": redis_url,
        "ORDER_EVENTS_TOPIC": unique_name,
        "CONSUMER_GROUP": unique_name,
        "LOG_FORMAT": "json",
    }


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def send_unfinished_head(port: int, total: int) -> tuple[int, bytes]:
    """Header lines adding up to `total` bytes, never ended by the blank line: how much the
    connection took before the server closed it, and what the server answered."""
    line = b"X-Filler: " + b"a" * 1012 + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while sent < total:
                sock.sendall(line * 64)
                sent += len(line) * 64
        except ConnectionError:
            pass  # refused while we were still sending
        sock.settimeout(5)
        try:
            return sent, sock.recv(65536)
        except ConnectionError:
            return sent, b""  # a reset: our unread lines were discarded with the connection
        except TimeoutError:
            pytest.fail(f"the server is still reading a head of {sent} bytes")


@pytest.mark.parametrize("command", HTTP_PROCESSES)
def test_guarantee_11_a_request_head_beyond_the_limit_is_refused(
    command: str, environment: dict[str, str], tmp_path: Path
) -> None:
    with PlatformService(command, env=environment, log_dir=tmp_path) as service:
        before = rss_bytes(service.pid or 0)
        sent, answer = send_unfinished_head(service.port, 32 * MiB)
        grown = rss_bytes(service.pid or 0) - before
        # ~8 KiB of headers is an ordinary request and still served.
        ordinary = httpx.get(
            f"{service.url}/health/live",
            headers={f"X-Filler-{i}": "a" * 1000 for i in range(8)},
            timeout=5,
        )

        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert sent < 32 * MiB, "the server read every header line it was sent"
        assert grown < 8 * MiB, f"RSS grew by {grown} bytes"
        assert ordinary.status_code == 200


def post_orders(url: str, headers: list[dict[str, str]]) -> list[int]:
    return [
        httpx.post(
            f"{url}/orders",
            json={"customerName": "Lucas", "totalAmount": "1.00"},
            headers=header,
            timeout=10,
        ).status_code
        for header in headers
    ]


def test_guarantee_11_forwarded_addresses_are_trusted_only_from_configured_proxies(
    environment: dict[str, str], tmp_path: Path, unique_name: str
) -> None:
    limited = environment | {"RATE_LIMIT_ORDERS_PER_MINUTE": "2"}
    # Six callers by name; the suffix keeps other tests' buckets out of this one's.
    suffix = sum(unique_name.encode()) % 250 + 1
    named = [{"X-Forwarded-For": f"198.51.{i}.{suffix}"} for i in range(6)]
    # The other two headers some proxies set: never read, whoever sends them.
    named[4] = {"Forwarded": f"for=198.51.4.{suffix}"}
    named[5] = {"X-Real-IP": f"198.51.5.{suffix}"}

    with PlatformService("order-service", env=limited, log_dir=tmp_path) as service:
        from_anyone = post_orders(service.url, named)
    behind_proxy = limited | {"TRUSTED_PROXIES": "127.0.0.1"}
    with PlatformService("order-service", env=behind_proxy, log_dir=tmp_path) as service:
        through_proxy = post_orders(service.url, named[:4] * 2)

    assert from_anyone.count(201) <= 2, from_anyone
    assert from_anyone.count(429) >= 4, from_anyone
    # Behind a configured proxy each named caller has its own two orders a minute.
    assert through_proxy == [201] * 8, through_proxy
