"""Commands issued in one event-loop turn share one round trip, each keeping its own reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from order_platform.notification_service.infrastructure.redis_coalescing import TurnPipeline
from order_platform.notification_service.infrastructure.redis_ledger import new_redis_client


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    client = new_redis_client(redis_url, timeout_seconds=1)
    yield client
    await client.aclose()


async def test_one_turns_commands_go_out_as_one_pipeline_each_with_its_reply(
    client: Redis, unique_name: str
) -> None:
    pipelined, pipelines = TurnPipeline(client), 0
    make_pipeline = client.pipeline

    def counted(*args: object, **kwargs: object) -> object:
        nonlocal pipelines
        pipelines += 1
        return make_pipeline(*args, **kwargs)  # type: ignore[arg-type]

    client.pipeline = counted  # type: ignore[method-assign]
    keys = [f"{unique_name}:{n}" for n in range(20)]

    await asyncio.gather(*(pipelined.run(lambda p, k=k: p.set(k, k)) for k in keys))
    replies = await asyncio.gather(*(pipelined.run(lambda p, k=k: p.get(k)) for k in keys))

    assert replies == [k.encode() for k in keys]
    assert pipelines == 2


async def test_a_commands_own_error_fails_that_command_only(
    client: Redis, unique_name: str
) -> None:
    pipelined, key = TurnPipeline(client), f"{unique_name}:text"
    await client.set(key, "not a number")

    replies = await asyncio.gather(
        pipelined.run(lambda p: p.incr(key)),
        pipelined.run(lambda p: p.eval("return ARGV[1]", 0, "ok")),
        return_exceptions=True,
    )

    assert isinstance(replies[0], ResponseError)
    assert replies[1] == b"ok"


async def test_an_unreachable_server_fails_every_command_of_the_turn(unique_name: str) -> None:
    client = new_redis_client("redis://127.0.0.1:1/0", timeout_seconds=0.2)
    pipelined = TurnPipeline(client)

    replies = await asyncio.gather(
        pipelined.run(lambda p: p.get(f"{unique_name}:a")),
        pipelined.run(lambda p: p.get(f"{unique_name}:b")),
        return_exceptions=True,
    )

    assert all(isinstance(reply, (RedisError, OSError)) for reply in replies)
    await client.aclose()
