"""The operator's `order-platform read-model rebuild` in the simulated world.

The real `rebuild` runs, with the read service's real `ReadModelRebuildTarget` over the
consuming side's generations (the fake, behind the read model's faults) and the Order
Service's real export route over a live replica's `MongoStoredOrders` (behind MongoDB's
faults), reached through an HTTP transport that calls the route in process. The operator's
process may crash mid-rebuild (the next rebuild takes it over once its heartbeat is a minute
old); a rebuild that fails is run again, as a careful operator does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx

from order_platform.contracts.order_export import EXPORT_PATH
from order_platform.operations.read_model_rebuild import (
    RebuildFailed,
    RebuildOptions,
    rebuild,
)
from order_platform.order_service.application.ports import StorageUnavailable
from order_platform.order_service.entrypoints.internal_api import export_orders
from order_platform.order_service.infrastructure.write_model import MongoStoredOrders
from order_platform.read_service.application.ports import ReadModelUnavailable, StagedChanges
from order_platform.read_service.domain import OrderChange, OrderView
from order_platform.read_service.infrastructure.pointer_cache import Pointer
from order_platform.read_service.infrastructure.rebuild_target import ReadModelRebuildTarget
from tests.simulation.consumers import read_model_call
from tests.simulation.world import Process, World
from tests.unit.read_service.fakes import FakeReadModel, FakeReadModelGenerations

ORDER_SERVICE = "http://order-service"


class _ExportedApi:
    def __init__(self, stored_orders: MongoStoredOrders) -> None:
        self.stored_orders = stored_orders


class _Body(httpx.AsyncByteStream):
    """The route's streamed body; a replica that crashes or loses MongoDB mid-export cuts the
    connection, as the real server does."""

    def __init__(self, body: AsyncIterator[Any], serving: Process) -> None:
        self._body, self._serving = body, serving

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._body:
                yield chunk if isinstance(chunk, bytes) else chunk.encode()
        except asyncio.CancelledError:
            if self._serving.alive:
                raise  # the operator's own cancellation
            raise httpx.ReadError("simulated: the replica serving the export crashed") from None
        except StorageUnavailable as error:
            raise httpx.ReadError(f"simulated: the export was cut ({error})") from error


class OrderServiceTransport(httpx.AsyncBaseTransport):
    """`GET /health/ready` and the export, served by a live replica chosen per request."""

    def __init__(self, world: World, serving: Callable[[], tuple[Process, Any] | None]) -> None:
        self._world = world
        self._serving = serving  # a live replica's process and its orders collection

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        serving = self._serving()
        if serving is None:
            raise httpx.ConnectError("simulated: no Order Service replica is up")
        process, orders = serving
        if request.url.path == "/health/ready":
            return httpx.Response(200, json={"status": "ready"})
        assert request.url.path == EXPORT_PATH
        api = _ExportedApi(MongoStoredOrders(orders, timeout_seconds=5.0))
        try:
            answer = await export_orders(None, api, after=None)  # type: ignore[arg-type]
        except StorageUnavailable as error:
            return httpx.Response(503, json={"detail": str(error)})
        except asyncio.CancelledError:
            if process.alive:
                raise
            raise httpx.ConnectError("simulated: the replica crashed") from None
        return httpx.Response(
            answer.status_code,
            headers=dict(answer.headers),
            stream=_Body(answer.body_iterator, process),  # type: ignore[attr-defined]
        )


class SimRebuildableGenerations:
    """The shared generations as the operator's process reaches the read model's MongoDB."""

    def __init__(self, world: World, process: Process, shared: FakeReadModelGenerations) -> None:
        self._world, self._process, self._shared = world, process, shared

    @property
    def pointer_ttl_seconds(self) -> float:
        return self._shared.pointer_ttl_seconds

    async def _call[T](self, apply: Callable[[], Awaitable[T]]) -> T:
        return await read_model_call(self._world, self._process, apply)

    def model(self, generation: str) -> _SimModel:
        return _SimModel(self, generation)

    async def read(self) -> Pointer:
        return await self._call(self._shared.read)

    async def begin(self, generation: str, *, stale_after: timedelta) -> str | None:
        return await self._call(lambda: self._shared.begin(generation, stale_after=stale_after))

    async def beat(self, generation: str) -> None:
        await self._call(lambda: self._shared.beat(generation))

    async def switch(self, generation: str) -> str:
        return await self._call(lambda: self._shared.switch(generation))

    async def abandon(self, generation: str) -> None:
        await self._call(lambda: self._shared.abandon(generation))

    async def drop(self, generation: str) -> None:
        await self._call(lambda: self._shared.drop(generation))


class _SimModel:
    def __init__(self, generations: SimRebuildableGenerations, generation: str) -> None:
        self._generations, self._generation = generations, generation

    async def apply(self, views: list[OrderView]) -> None:
        model = self._model()
        await self._generations._call(lambda: model.apply(views))

    async def catch_up(self, views: Sequence[OrderView]) -> None:
        model = self._model()
        await self._generations._call(lambda: model.catch_up(views))

    async def stage_changes(
        self, changes: Sequence[OrderChange], release_for: Sequence[UUID] = ()
    ) -> StagedChanges:
        model = self._model()
        return await self._generations._call(lambda: model.stage_changes(changes, release_for))

    async def reveal_changes(self, staged: StagedChanges) -> None:
        model = self._model()
        await self._generations._call(lambda: model.reveal_changes(staged))

    def _model(self) -> FakeReadModel:
        model = self._generations._shared.model(self._generation)
        assert isinstance(model, FakeReadModel)
        return model


class _Quiet:
    def started(self, total_estimate: int) -> None: ...

    def advanced(self, done: int) -> None: ...

    def note(self, message: str) -> None: ...

    def finished(self) -> None: ...


class Operator:
    """Runs rebuilds until one succeeds (a few attempts, a pause between them)."""

    def __init__(
        self,
        world: World,
        shared: FakeReadModelGenerations,
        serving: Callable[[], tuple[Process, Any] | None],
        name: str,
    ) -> None:
        self.world = world
        self.process = Process(name)
        self._generations = SimRebuildableGenerations(world, self.process, shared)
        self._transport = OrderServiceTransport(world, serving)
        self.switched = 0
        # Small batches stretch the copy over many calls, so that orders are stored and
        # projected while it runs.
        rng = world.rng
        self._options = RebuildOptions(
            ORDER_SERVICE,
            batch_size=rng.choice((1, 2, 1000)),
            window_size=rng.choice((2, 20_000)),
        )

    async def rebuild_until_done(self, attempts: int) -> None:
        target = ReadModelRebuildTarget(
            self._generations, where="the simulated read model", close=_nothing
        )
        for _ in range(attempts):
            async with httpx.AsyncClient(
                transport=self._transport, base_url=ORDER_SERVICE
            ) as client:
                self.world.trace(self.process.name, "starts a rebuild")
                try:
                    report = await rebuild(target, self._options, _Quiet(), http=client)
                except (RebuildFailed, ReadModelUnavailable) as error:
                    # Its message names generations, whose names are not the seed's to choose.
                    self.world.trace(self.process.name, f"rebuild failed: {type(error).__name__}")
                else:
                    self.switched += 1
                    self.world.trace(self.process.name, f"rebuilt {report.orders} orders")
                    return
            await asyncio.sleep(self.world.rng.uniform(5.0, 20.0))


async def _nothing() -> None:
    return None
