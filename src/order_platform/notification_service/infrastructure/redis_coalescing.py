"""Redis commands issued in one event-loop turn go out together, as one non-transactional
pipeline. A batch's notifications run concurrently (one task per order, each step awaited in
turn), so every step of the protocol (remember the order, claim, record, advance) costs one
round trip per batch instead of one per event. Each command keeps its own answer or error; a
connection error fails them all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline


class TurnPipeline:
    def __init__(self, client: Redis) -> None:
        self._client = client
        self._queued: list[tuple[Callable[[Pipeline], object], asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def run(self, command: Callable[[Pipeline], object]) -> Any:
        """`command` queues one command on the pipeline (`lambda p: p.set(...)`); its reply."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        self._queued.append((command, answer))
        if len(self._queued) == 1:
            task = loop.create_task(self._send())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return await answer

    async def _send(self) -> None:
        await asyncio.sleep(0)  # the rest of this turn's callers queue meanwhile
        batch, self._queued = self._queued, []
        pipeline = self._client.pipeline(transaction=False)
        for command, _ in batch:
            command(pipeline)
        try:
            results = await pipeline.execute(raise_on_error=False)
        except Exception as error:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error)
            return
        except BaseException:  # cancelled: so are the callers' answers
            for _, answer in batch:
                answer.cancel()
            raise
        for (_, answer), result in zip(batch, results, strict=True):
            if answer.done():
                continue  # its caller was cancelled
            if isinstance(result, BaseException):
                answer.set_exception(result)
            else:
                answer.set_result(result)
