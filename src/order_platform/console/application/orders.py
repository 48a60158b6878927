"""Where is my order, and the recent ones: the topic says accepted and published, the read
service when it was projected, the worker when it was notified, the dead letters why not.
A search shows every event of the order (created, confirmed, shipped, cancelled) with its four
hops; an event a consumer parked shows as parked, with the version it waits for.

Hop times of recent orders are asked for in one request per service per refresh, for the
orders still pending only: an order whose hops are all reached is never asked about again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from order_platform.console.application.attention import Attention, every
from order_platform.console.application.dead_letters import DeadLetterMonitor
from order_platform.console.application.ports import (
    HopSources,
    OrderStream,
    Parked,
    Projection,
    SeenEvent,
    SeenOrder,
)
from order_platform.console.domain.journey import (
    ConsumerSide,
    EventFacts,
    Hop,
    HopState,
    OrderFacts,
    end_to_end_ms,
    end_to_end_skew_ms,
    event_journey,
    journey,
)
from order_platform.contracts.errors import Unavailable

Json = dict[str, Any]
MAX_ASKED = 100  # ids per internal request (the services' limit)


@dataclass(frozen=True, slots=True)
class Known:
    projected_at: datetime | None = None
    notified_at: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.projected_at is not None and self.notified_at is not None


class OrderTracker:
    def __init__(
        self,
        stream: OrderStream,
        hops: HopSources,
        dead_letters: DeadLetterMonitor,
        *,
        recent_limit: int = 20,
        remembered: int = 2000,
    ) -> None:
        self._stream = stream
        self._hops = hops
        self._dead_letters = dead_letters
        self._recent_limit = recent_limit
        self._remembered = remembered
        self._known: OrderedDict[UUID, Known] = OrderedDict()
        self.unavailable: dict[str, str] = {}  # "read-service"/"notification-service" -> why

    async def refresh(self) -> None:
        """Ask the services about the recent orders not complete yet."""
        pending = [
            seen
            for seen in self._stream.recent(self._recent_limit)
            if not self._known.get(seen.order_id, Known()).complete
        ]
        if pending:
            await self._learn(pending)

    async def run(
        self, interval: float, stop: asyncio.Event, attention: Attention | None = None
    ) -> None:
        """Every `interval` seconds, or `attention`'s idle interval while nobody watches."""
        await every(interval, stop, attention, self.refresh)

    def recent(self) -> list[Json]:
        rows = []
        for seen in self._stream.recent(self._recent_limit):
            facts = self._facts(seen, self._known.get(seen.order_id, Known()))
            rows.append(
                {
                    "orderId": str(seen.order_id),
                    "customerName": seen.customer_name,
                    "totalAmount": seen.total_amount,
                    "createdAt": _iso(seen.created_at),
                    "hops": [hop_json(hop) for hop in journey(facts)],
                    "endToEndMs": end_to_end_ms(facts),
                    "endToEndSkewMs": end_to_end_skew_ms(facts),
                }
            )
        return rows

    async def find(self, query: str) -> Json | None:
        """The journey of the order with this id or correlation id, each of its events with its
        hops; None if nobody knows it."""
        found = await self._find_creation(query)
        if found is None:
            return None
        body, creation = found
        body["events"] = [
            {
                "eventId": str(event.event_id) if event.event_id else None,
                "eventType": event.event_type,
                "version": event.version,
                "hops": [hop_json(hop) for hop in event_journey(event)],
            }
            for event in await self._events(creation)
        ]
        body["unavailable"] = dict(self.unavailable)
        return body

    async def _events(self, creation: OrderFacts) -> list[EventFacts]:
        """The creation as its journey has it, then every other event the topic window, the read
        side or the notifier knows of, by version."""
        order_id = creation.order_id
        projected, notifier_parked_or_none = await asyncio.gather(
            self._ask("read-service", self._hops.projected_events(order_id)),
            self._ask("notification-service", self._hops.parked_notifications(order_id)),
        )
        projected_version = projected.version if projected is not None else None
        read_parked: dict[UUID, Parked] = projected.parked if projected is not None else {}
        notifier_parked: dict[UUID, Parked] = notifier_parked_or_none or {}
        seen: dict[int, SeenEvent] = {e.version: e for e in self._stream.events(order_id)}
        changes = [e.event_id for version, e in seen.items() if version > 1]
        changes += [p.event_id for p in [*read_parked.values(), *notifier_parked.values()]]
        notified: dict[UUID, datetime] = {}
        if changes:
            asked_notified = await self._ask(
                "notification-service", self._hops.notifications(list(dict.fromkeys(changes)))
            )
            notified = asked_notified or {}
        creation_seen = seen.get(1)
        events = [
            EventFacts(
                1,
                "OrderCreated",
                creation_seen.event_id if creation_seen else None,
                stored_at=creation.accepted_at,
                published_at=creation.published_at,
                projected=ConsumerSide(
                    at=creation.projected_at,
                    applied=creation.projected_at is None and projected_version is not None,
                    error=creation.projection_error,
                ),
                notified=ConsumerSide(at=creation.notified_at, error=creation.notification_error),
            )
        ]
        parked_ids = {p.version: p.event_id for p in read_parked.values()}
        parked_ids.update({p.version: p.event_id for p in notifier_parked.values()})
        versions = sorted((set(seen) | set(parked_ids)) - {1})
        for version in versions:
            event = seen.get(version)
            event_id = event.event_id if event else parked_ids[version]
            read, notifier = read_parked.get(event_id), notifier_parked.get(event_id)
            events.append(
                EventFacts(
                    version,
                    event.event_type if event else None,
                    event_id,
                    stored_at=event.occurred_at if event else None,
                    published_at=event.published_at if event else None,
                    projected=ConsumerSide(
                        applied=projected_version is not None and projected_version >= version,
                        waiting_for=read.waiting_for if read else None,
                    ),
                    notified=ConsumerSide(
                        at=notified.get(event_id),
                        waiting_for=notifier.waiting_for if notifier else None,
                    ),
                )
            )
        return _with_dead_letters(events, creation)

    async def _find_creation(self, query: str) -> tuple[Json, OrderFacts] | None:
        query = query.strip()
        seen = self._stream.find(query)
        if seen is not None:
            if not self._known.get(seen.order_id, Known()).complete:
                await self._learn([seen])
            facts = self._facts(seen, self._known.get(seen.order_id, Known()))
            body = self._journey_json(facts, seen.correlation_id, seen.event_id, on_topic=True)
            return body, facts
        try:
            order_id = UUID(query)
        except ValueError:
            return None
        # Not in the console's window of the topic: what the read side knows of it.
        try:
            projection = (await self._hops.projections([order_id])).get(order_id)
        except Unavailable as error:
            self.unavailable["read-service"] = str(error)
            projection = None
        if projection is None:
            failure = self._dead_letters.failure(order_id)
            if failure.projection is None and failure.notification is None:
                return None
            facts = OrderFacts(
                order_id,
                projection_error=failure.projection,
                notification_error=failure.notification,
            )
            return self._journey_json(facts, None, None, on_topic=False), facts
        notified = None
        with contextlib.suppress(Unavailable):
            notified = (await self._hops.notifications([projection.event_id])).get(
                projection.event_id
            )
        failure = self._dead_letters.failure(order_id)
        facts = OrderFacts(
            order_id,
            accepted_at=projection.created_at,
            projected_at=projection.projected_at,
            notified_at=notified,
            notification_error=failure.notification,
        )
        return self._journey_json(facts, None, projection.event_id, on_topic=False), facts

    def _journey_json(
        self,
        facts: OrderFacts,
        correlation_id: str | None,
        event_id: UUID | None,
        *,
        on_topic: bool,
    ) -> Json:
        return {
            "orderId": str(facts.order_id),
            "eventId": str(event_id) if event_id else None,
            "correlationId": correlation_id,
            "hops": [hop_json(hop) for hop in journey(facts)],
            "endToEndMs": end_to_end_ms(facts),
            "endToEndSkewMs": end_to_end_skew_ms(facts),
            "seenOnTopic": on_topic,
            "unavailable": dict(self.unavailable),
        }

    def _facts(self, seen: SeenOrder, known: Known) -> OrderFacts:
        failure = self._dead_letters.failure(seen.order_id)
        return OrderFacts(
            seen.order_id,
            accepted_at=seen.created_at,
            published_at=seen.published_at,
            projected_at=known.projected_at,
            notified_at=known.notified_at,
            projection_error=failure.projection,
            notification_error=failure.notification,
        )

    async def _learn(self, orders: list[SeenOrder]) -> None:
        orders = orders[:MAX_ASKED]
        asked = await asyncio.gather(
            self._ask("read-service", self._hops.projections([o.order_id for o in orders])),
            self._ask(
                "notification-service", self._hops.notifications([o.event_id for o in orders])
            ),
        )
        projections: dict[UUID, Projection] = asked[0] or {}
        notifications: dict[UUID, datetime] = asked[1] or {}
        for seen in orders:
            known = self._known.get(seen.order_id, Known())
            projection = projections.get(seen.order_id)
            if projection is not None and projection.projected_at is not None:
                known = replace(known, projected_at=projection.projected_at)
            if (notified := notifications.get(seen.event_id)) is not None:
                known = replace(known, notified_at=notified)
            self._known[seen.order_id] = known
            self._known.move_to_end(seen.order_id)
        while len(self._known) > self._remembered:
            self._known.popitem(last=False)

    async def _ask[T](self, service: str, question: Awaitable[T]) -> T | None:
        try:
            answer = await question
        except Unavailable as error:
            self.unavailable[service] = str(error)
            return None
        self.unavailable.pop(service, None)
        return answer


def _with_dead_letters(events: list[EventFacts], creation: OrderFacts) -> list[EventFacts]:
    """The order's dead letter on each side is its first event there neither applied nor
    parked (the creation's journey has its own): what the later ones, parked, wait for."""
    marked = list(events)
    creation_hops = {hop.name: hop.state for hop in event_journey(events[0])}
    if creation.projection_error and creation_hops["projected"] is HopState.REACHED:
        index = _first_open([event.projected for event in marked])
        if index is not None:
            side = replace(marked[index].projected, error=creation.projection_error)
            marked[index] = replace(marked[index], projected=side)
    if creation.notification_error and creation_hops["notified"] is HopState.REACHED:
        index = _first_open([event.notified for event in marked])
        if index is not None:
            side = replace(marked[index].notified, error=creation.notification_error)
            marked[index] = replace(marked[index], notified=side)
    return marked


def _first_open(sides: list[ConsumerSide]) -> int | None:
    for index, side in enumerate(sides):
        if index and side.at is None and not side.applied and side.waiting_for is None:
            return index
    return None


def hop_json(hop: Hop) -> Json:
    return {
        "name": hop.name,
        "state": hop.state.value,
        "at": _iso(hop.at) if hop.at else None,
        "clock": hop.clock,
        "latencyMs": hop.latency_ms,
        "skewMs": hop.skew_ms,
        "error": hop.error,
        "waitingFor": hop.waiting_for,
    }


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
