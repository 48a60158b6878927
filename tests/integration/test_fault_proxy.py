"""The fault proxy does what the failure tests rely on, checked against real Redis."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from redis import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.support.fault_proxy import FaultProxy
from tests.support.waiting import wait_until


@pytest.fixture
def proxy(redis_url: str) -> Iterator[FaultProxy]:
    parts = urlsplit(redis_url)
    with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        yield proxy


def client(proxy: FaultProxy, timeout: float = 0.3) -> Redis:
    return Redis(host=proxy.host, port=proxy.port, socket_timeout=timeout, retry=None)


def test_forwards_both_ways(proxy: FaultProxy, unique_name: str) -> None:
    redis = client(proxy)
    redis.set(unique_name, "v")
    assert redis.get(unique_name) == b"v"


def test_held_replies_arrive_after_the_timeout_but_the_request_was_applied(
    proxy: FaultProxy, redis_url: str, unique_name: str
) -> None:
    redis = client(proxy)
    assert redis.ping()  # connected (the handshake's replies are not held)
    proxy.hold_replies()
    with pytest.raises(RedisTimeoutError):
        redis.set(unique_name, "applied")
    direct = Redis.from_url(redis_url)
    assert direct.get(unique_name) == b"applied"  # slow, not down: the write happened
    proxy.release_replies()
    assert client(proxy).get(unique_name) == b"applied"


def test_latency_delays_replies(proxy: FaultProxy, unique_name: str) -> None:
    proxy.latency(0.2)
    started = time.monotonic()
    client(proxy, timeout=2).set(unique_name, "v")
    assert time.monotonic() - started >= 0.2
    proxy.heal()


def test_dropped_connections_fail_mid_request(proxy: FaultProxy, unique_name: str) -> None:
    with socket.create_connection((proxy.host, proxy.port), timeout=5) as raw:
        # The kernel accepts before the proxy has joined the connection to the server.
        wait_until(lambda: proxy.open_connections == 1, timeout=5, what="connection joined")
        proxy.hold_replies()
        raw.sendall(b"PING\r\n")
        proxy.drop_connections()
        proxy.release_replies()
        try:
            answer = raw.recv(100)
        except ConnectionResetError:
            answer = b""
        assert answer == b""  # cut before the reply
    assert client(proxy).ping()  # new connections work again


def test_blackhole_swallows_everything_until_healed(
    proxy: FaultProxy, redis_url: str, unique_name: str
) -> None:
    redis = client(proxy)
    assert redis.ping()
    proxy.blackhole()
    with pytest.raises(RedisTimeoutError):
        redis.set(unique_name, "never")
    assert Redis.from_url(redis_url).get(unique_name) is None
    proxy.heal()
    assert client(proxy).ping()
