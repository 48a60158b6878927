"""The read service's side of `order-platform read-model rebuild` (built by its bootstrap).

The rebuild (`operations/read_model_rebuild.py`) knows no service's code; this adapter gives
it the read model's generations and writes through the same `MongoReadModel.apply` as the
projection, so the rebuilt model has exactly the shape and idempotence of a projected one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Protocol
from uuid import UUID

from pymongo.errors import InvalidURI
from pymongo.uri_parser import parse_uri

from order_platform.contracts.order_json import AnOrderInItsLife
from order_platform.read_service.application.ports import ReadModel, ReadModelUnavailable
from order_platform.read_service.domain import OrderView
from order_platform.read_service.infrastructure.pointer_cache import Pointer


class ExportedOrder(AnOrderInItsLife, Protocol):
    """An order as the export brings it (the rebuild's `ExportedOrder`): in its life, with its
    creation's event id."""

    @property
    def event_id(self) -> UUID: ...


class RebuildableGenerations(Protocol):
    """What the rebuild needs of the read model's generations: `MongoReadModelGenerations`,
    or the tests' fake of it."""

    @property
    def pointer_ttl_seconds(self) -> float: ...

    def model(self, generation: str) -> ReadModel: ...

    async def read(self) -> Pointer: ...

    async def begin(self, generation: str, *, stale_after: timedelta) -> str | None: ...

    async def beat(self, generation: str) -> None: ...

    async def switch(self, generation: str) -> str: ...

    async def abandon(self, generation: str) -> None: ...

    async def drop(self, generation: str) -> None: ...


class ReadModelRebuildTarget:
    """Raises `ConnectionError` when the read model's MongoDB cannot be reached."""

    def __init__(
        self,
        generations: RebuildableGenerations,
        *,
        where: str,
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self._generations = generations
        self._where = where  # named in the one sentence that says it cannot be reached
        self._close = close

    @property
    def pointer_ttl_seconds(self) -> float:
        return self._generations.pointer_ttl_seconds

    async def live(self) -> tuple[str, str | None]:
        pointer = await self._reachable(self._generations.read())
        return pointer.active, pointer.building

    async def begin(self, generation: str, *, stale_after: timedelta) -> str | None:
        return await self._reachable(self._generations.begin(generation, stale_after=stale_after))

    async def beat(self, generation: str) -> None:
        await self._reachable(self._generations.beat(generation))

    async def apply(self, generation: str, orders: Sequence[ExportedOrder]) -> None:
        views = [
            OrderView(
                id=order.id,
                customer_name=order.customer_name,
                total_amount=order.total_amount,
                created_at=order.created_at,
                event_id=order.event_id,
                customer_id=order.customer_id,
                status=order.status,
                version=order.version,
                updated_at=order.updated_at,
                tracking_number=order.tracking_number,
                cancellation_reason=order.cancellation_reason,
            )
            for order in orders
        ]
        model = self._generations.model(generation)
        await self._reachable(model.apply(views))
        # An order the projection stored here first (its creation arrived during the copy)
        # may be behind what the write model holds now: the copy's state wins if newer.
        await self._reachable(model.catch_up(views))
        # Changes the projection parked in this generation before the copy got there.
        released = await self._reachable(model.stage_changes([], [view.id for view in views]))
        await self._reachable(model.reveal_changes(released))

    async def switch(self, generation: str) -> str:
        return await self._reachable(self._generations.switch(generation))

    async def abandon(self, generation: str) -> None:
        await self._reachable(self._generations.abandon(generation))

    async def drop(self, generation: str) -> None:
        await self._reachable(self._generations.drop(generation))

    async def close(self) -> None:
        await self._close()

    async def _reachable[T](self, call: Awaitable[T]) -> T:
        try:
            return await call
        except ReadModelUnavailable as error:
            raise ConnectionError(f"at {self._where}") from error


def hosts_of(uri: str) -> str:
    """Where the URI points, without credentials or options."""
    try:
        return ",".join(f"{host}:{port}" for host, port in parse_uri(uri)["nodelist"])
    except (InvalidURI, ValueError):
        return "the configured address"
