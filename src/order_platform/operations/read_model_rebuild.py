"""Rebuild the read model from the write model while the read service keeps answering.

The source of truth is the write model, not the topic (whose old events Kafka's retention may
have deleted), and services never read each other's databases: the Order Service streams what
it stores (`GET /internal/orders/export`, NDJSON in order of id, one cursor: one scan on the
embedded MongoDB, an `_id` index walk on a real one) and the rebuild writes it into a fresh
*generation* of the read model through the read service's own adapter:

1. `begin`: the pointer document says a new generation is being built. Within the pointer's
   cache lifetime every read service projects new events into it as well as into the live one.
2. Wait for that lifetime and a margin, so no projection still writes only the live one; then
   copy every stored order from the export (bulk inserts, idempotent per order id: an order the
   projection already put there is neither changed nor listed twice), in windows sorted by
   creation time so that the timeline keeps each second in few chunks. An order is either
   stored before the export's cursor opened (then it is in the export) or after (then its event
   is published later, and projected into the new generation too: a projection resolves the
   pointer when it handles a batch, after the batch's events were published). An export
   without its end line is never switched to.
3. `switch`: one single-document update makes the new generation live. Readers move within the
   pointer's cache lifetime, each query on one generation throughout, with cache keys of that
   generation, so no page of the old model is served after the switch.
4. Wait that lifetime again, then drop the old generation (unless `keep_old`).

A failure before the switch abandons the new generation (readers never saw it). A rebuild that
died without abandoning is taken over by the next one once its heartbeat is a minute old.

This module knows neither service's code: the read side is a `RebuildTarget` (the read
service's adapter, built by `read_service/bootstrap.py`'s `open_rebuild_target`), the write
side HTTP.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol
from uuid import UUID, uuid5

import httpx

from order_platform.contracts.order_export import (
    ESTIMATED_TOTAL_HEADER,
    EXPORT_PATH,
    ExportedOrderLine,
    ExportEnd,
    read_line,
)

# The event id of a rebuilt order whose event was published long ago (the write model keeps
# only unpublished events' ids): derived from the order id, so every rebuild agrees on it.
REBUILT_EVENT_NAMESPACE = UUID("6f1c2a7e-2b7d-4f0e-9a55-0c7f3d1e8b42")
BATCH_SIZE = 1000
# Orders sorted by creation before they are written (memory: about 10 MB per 20,000).
WINDOW_SIZE = 20_000
STALE_REBUILD = timedelta(minutes=1)


class RebuildFailed(Exception):
    """The rebuild stopped; the message is one sentence for the operator."""

    exit_code = 1


class SourceUnreachable(RebuildFailed):
    exit_code = 69  # EX_UNAVAILABLE


class TargetUnreachable(RebuildFailed):
    exit_code = 69


@dataclass(frozen=True, slots=True)
class ExportedOrder:
    id: UUID
    customer_name: str
    total_amount: Decimal
    created_at: datetime
    event_id: UUID
    customer_id: str | None = None
    status: str = "placed"
    version: int = 1
    updated_at: datetime | None = None
    tracking_number: str | None = None
    cancellation_reason: str | None = None


class RebuildTarget(Protocol):
    """The read model's side. Raises `ConnectionError` when its store cannot be reached; any
    other exception's message is one sentence for the operator."""

    @property
    def pointer_ttl_seconds(self) -> float: ...

    async def live(self) -> tuple[str, str | None]:
        """The live generation and the one being built, if any."""
        ...

    async def begin(self, generation: str, *, stale_after: timedelta) -> str | None:
        """Mark `generation` as being built; return a dead rebuild's generation it took over."""
        ...

    async def beat(self, generation: str) -> None: ...

    async def apply(self, generation: str, orders: Sequence[ExportedOrder]) -> None: ...

    async def switch(self, generation: str) -> str:
        """Make `generation` live in one atomic step; return the generation it replaced."""
        ...

    async def abandon(self, generation: str) -> None: ...

    async def drop(self, generation: str) -> None: ...


class Progress(Protocol):
    def started(self, total_estimate: int) -> None: ...

    def advanced(self, done: int) -> None: ...

    def note(self, message: str) -> None: ...

    def finished(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RebuildOptions:
    order_service_url: str
    order_service_token: str = ""  # a bearer token (`orders:admin`) when auth is on
    dry_run: bool = False
    keep_old: bool = False
    batch_size: int = BATCH_SIZE
    window_size: int = WINDOW_SIZE


@dataclass(frozen=True, slots=True)
class RebuildReport:
    generation: str
    previous: str
    orders: int
    seconds: float  # from marking the generation to the end, waits included
    kept_old: bool
    dry_run: bool = False
    estimated_total: int = 0
    taken_over: str | None = None
    copy_seconds: float = 0.0  # exporting and writing the orders only

    @property
    def rate(self) -> float:
        return self.orders / self.copy_seconds if self.copy_seconds > 0 else 0.0


def named(generation: str) -> str:
    """A generation as the operator reads it; "" is the one that existed before any rebuild."""
    return repr(generation) if generation else "'' (the original orders and timeline)"


def new_generation_name(now: datetime) -> str:
    """Sortable by creation, unique, valid in a MongoDB collection name."""
    return f"g{now.astimezone(UTC):%Y%m%d%H%M%S}{secrets.token_hex(3)}"


def exported_order(line: ExportedOrderLine) -> ExportedOrder:
    return ExportedOrder(
        id=line.id,
        customer_name=line.customer_name,
        total_amount=line.total_amount,
        created_at=line.created_at,
        event_id=line.event_id or uuid5(REBUILT_EVENT_NAMESPACE, str(line.id)),
        customer_id=line.customer_id,
        status=line.status,
        version=line.version,
        updated_at=line.updated_at,
        tracking_number=line.tracking_number,
        cancellation_reason=line.cancellation_reason,
    )


async def _export_batches(
    response: httpx.Response, batch_size: int
) -> AsyncIterator[list[ExportedOrder]]:
    batch: list[ExportedOrder] = []
    seen = 0
    ended: ExportEnd | None = None
    async for raw in _lines(response):
        if not raw.strip():
            continue
        if ended is not None:
            raise RebuildFailed("The Order Service's export went on after its end line.")
        try:
            line = read_line(raw)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            message = f"The Order Service's export has a line it cannot read: {error}."
            raise RebuildFailed(message) from error
        if isinstance(line, ExportEnd):
            ended = line
            continue
        batch.append(exported_order(line))
        seen += 1
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
    if ended is None:
        raise RebuildFailed(
            f"The Order Service's export stopped after {seen} orders without its end line; "
            "nothing was switched."
        )
    if ended.count != seen:
        raise RebuildFailed(
            f"The Order Service's export announced {ended.count} orders but sent {seen}."
        )


async def _lines(response: httpx.Response) -> AsyncIterator[str]:
    try:
        async for line in response.aiter_lines():
            yield line
    except httpx.TransportError as error:
        raise RebuildFailed(
            f"The Order Service's export was cut short ({type(error).__name__}); "
            "nothing was switched."
        ) from error


async def rebuild(
    target: RebuildTarget,
    options: RebuildOptions,
    progress: Progress,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    http: httpx.AsyncClient | None = None,
) -> RebuildReport:
    """Build a new generation from the export, switch to it, drop the old one."""
    token = options.order_service_token
    client = http or httpx.AsyncClient(
        base_url=options.order_service_url,
        timeout=httpx.Timeout(30.0, connect=5.0),
        headers={"Authorization": f"Bearer {token}"} if token else None,
    )
    try:
        return await _rebuild(target, options, progress, client, sleep)
    finally:
        if http is None:
            await client.aclose()


async def _rebuild(
    target: RebuildTarget,
    options: RebuildOptions,
    progress: Progress,
    client: httpx.AsyncClient,
    sleep: Callable[[float], Awaitable[None]],
) -> RebuildReport:
    active, building = await _target_call(target.live())
    generation = new_generation_name(datetime.now(UTC))
    settle = target.pointer_ttl_seconds * 2 + 1.0
    if options.dry_run:
        estimate = await _estimate(client, options.order_service_url)
        if building is not None:
            progress.note(f"a rebuild of generation {building!r} is in progress or died")
        return RebuildReport(
            generation, active, 0, 0.0, options.keep_old, dry_run=True, estimated_total=estimate
        )

    await _reachable(client, options.order_service_url)  # before anything changes
    taken_over = await _target_call(target.begin(generation, stale_after=STALE_REBUILD))
    started = time.monotonic()
    done = 0
    try:
        if taken_over:
            progress.note(f"took over from a rebuild that died: dropping its {taken_over!r}")
            await _target_call(target.drop(taken_over))
        progress.note(
            f"generation {generation!r} marked as building; waiting {settle:.0f} s until every "
            "read service projects into it too"
        )
        await sleep(settle)
        copy_started = time.monotonic()
        async with _Export(client, options.order_service_url) as (response, estimate):
            progress.started(estimate)
            window: list[ExportedOrder] = []
            async for batch in _export_batches(response, options.batch_size):
                window += batch
                if len(window) >= options.window_size:
                    done = await _apply(target, generation, window, options, done, progress)
                    window = []
            done = await _apply(target, generation, window, options, done, progress)
        copy_seconds = time.monotonic() - copy_started
        progress.finished()
        previous = await _target_call(target.switch(generation))
    except BaseException:
        progress.finished()
        progress.note(f"nothing was switched; dropping the half-built {generation!r}")
        try:
            await target.abandon(generation)
            # A projection that still had the pointer cached may have written it once more.
            await sleep(settle)
            await target.drop(generation)
        except Exception as error:  # the original failure is the one to report
            progress.note(f"could not drop generation {generation!r}: {error}")
        raise
    if not options.keep_old:
        progress.note(
            f"switched to {generation!r}; waiting {settle:.0f} s until no reader uses "
            f"{named(previous)}, then dropping it"
        )
        await sleep(settle)
        await _target_call(target.drop(previous))
    return RebuildReport(
        generation,
        previous,
        done,
        time.monotonic() - started,
        options.keep_old,
        estimated_total=done,
        taken_over=taken_over,
        copy_seconds=copy_seconds,
    )


async def _apply(
    target: RebuildTarget,
    generation: str,
    window: list[ExportedOrder],
    options: RebuildOptions,
    done: int,
    progress: Progress,
) -> int:
    """Write a window of the export in order of creation: the timeline gets one chunk per
    second and batch, so batches that each span a few seconds keep a second's orders in a few
    chunks (a page reads few documents); batches in order of id would spread every second over
    as many chunks as there are batches."""
    window.sort(key=lambda order: (order.created_at, order.id))
    for start in range(0, len(window), options.batch_size):
        batch = window[start : start + options.batch_size]
        await _target_call(target.apply(generation, batch))
        await _target_call(target.beat(generation))
        done += len(batch)
        progress.advanced(done)
    return done


async def _target_call[T](call: Awaitable[T]) -> T:
    try:
        return await call
    except ConnectionError as error:
        raise TargetUnreachable(
            f"The read model's MongoDB cannot be reached {error} (MONGODB_URI)."
        ) from error
    except RebuildFailed:
        raise
    except Exception as error:  # the target's refusals are one sentence each
        raise RebuildFailed(str(error)) from error


class _Export:
    """The export's response, open; its estimated total from the header."""

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client, self._base_url = client, base_url
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> tuple[httpx.Response, int]:
        try:
            request = self._client.build_request("GET", EXPORT_PATH)
            self._response = await self._client.send(request, stream=True)
        except httpx.TransportError as error:
            raise _unreachable(self._base_url, error) from error
        response = self._response
        if response.status_code != 200:
            await response.aread()
            raise SourceUnreachable(
                f"The Order Service at {self._base_url} answered the export with "
                f"{response.status_code}: {response.text[:200]}"
            )
        return response, _int(response.headers.get(ESTIMATED_TOTAL_HEADER))

    async def __aexit__(self, *exc_info: object) -> None:
        if self._response is not None:
            await self._response.aclose()


async def _reachable(client: httpx.AsyncClient, base_url: str) -> None:
    try:
        response = await client.get("/health/ready")
    except httpx.TransportError as error:
        raise _unreachable(base_url, error) from error
    if response.status_code != 200:
        raise SourceUnreachable(
            f"The Order Service at {base_url} is not ready ({response.status_code}): "
            f"{response.text[:200]}"
        )


async def _estimate(client: httpx.AsyncClient, base_url: str) -> int:
    async with _Export(client, base_url) as (_, estimate):
        return estimate


def _unreachable(base_url: str, error: Exception) -> SourceUnreachable:
    return SourceUnreachable(
        f"The Order Service cannot be reached at {base_url} (ORDER_SERVICE_URL): "
        f"{type(error).__name__} {error}".rstrip()
        + "."
    )


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
