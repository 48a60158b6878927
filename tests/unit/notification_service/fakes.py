"""Hand-written fakes of the Notification Service's ports, for tests without I/O."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from uuid import UUID

from order_platform.notification_service.application.ports import (
    Claim,
    ClaimState,
    LedgerUnavailable,
    NotificationFailed,
    Recorded,
)
from order_platform.notification_service.domain import (
    Notification,
    OrderCreatedNotification,
    OrderProgress,
)

_SENT = "sent"


class FakeLedger:
    """A dict of event id to `sent:<token>` or `pending:<token>`; claims expire when told to."""

    def __init__(self) -> None:
        self.entries: dict[UUID, str] = {}
        self.available = True
        self.fail_mark_sent = False
        self.lose_claim_replies = 0  # claims to apply and then answer `LedgerUnavailable`
        self._tokens = (str(n) for n in itertools.count(1))

    async def claim(self, event_id: UUID, token: str | None = None) -> Claim:
        self._check()
        token = token or next(self._tokens)
        holder = self.entries.get(event_id)
        if holder is None or holder == f"pending:{token}":
            self.entries[event_id] = f"pending:{token}"
            if self.lose_claim_replies:
                self.lose_claim_replies -= 1
                raise LedgerUnavailable("fake ledger: claim applied, reply lost")
            return Claim(event_id, ClaimState.CLAIMED, token)
        if holder.startswith(_SENT):
            return Claim(event_id, ClaimState.SENT)
        return Claim(event_id, ClaimState.IN_FLIGHT)

    async def mark_sent(self, claim: Claim) -> Recorded:
        self._check()
        if self.fail_mark_sent:
            raise LedgerUnavailable("fake ledger refuses to record")
        replaced = self.entries.get(claim.event_id)
        self.entries[claim.event_id] = f"{_SENT}:{claim.token}"
        if replaced is None or replaced == f"pending:{claim.token}":
            return Recorded.OWN_CLAIM
        if replaced == f"{_SENT}:{claim.token}":
            return Recorded.ALREADY_RECORDED
        return Recorded.TAKEN_OVER

    async def release(self, claim: Claim) -> None:
        self._check()
        if self.entries.get(claim.event_id) == f"pending:{claim.token}":
            del self.entries[claim.event_id]

    def expire_claims(self) -> None:
        """What time does to claims whose holder crashed."""
        self.entries = {
            key: value for key, value in self.entries.items() if value.startswith(_SENT)
        }

    def sent(self) -> set[UUID]:
        """The events recorded as sent."""
        return {key for key, value in self.entries.items() if value.startswith(_SENT)}

    def _check(self) -> None:
        if not self.available:
            raise LedgerUnavailable("fake ledger is down")


class RecordingSender:
    """Remembers what it sent; can fail a number of times, fail chosen events, or hold sends
    behind a gate."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self.failures_left = 0
        self.refused: set[UUID] = set()  # event ids whose sends fail
        self.gate: asyncio.Event | None = None
        self.sending = asyncio.Event()

    async def send(self, notification: Notification) -> None:
        self.sending.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failures_left:
            self.failures_left -= 1
            raise NotificationFailed("fake receiver is down")
        if notification.event_id in self.refused:
            raise NotificationFailed("fake receiver is down for this event")
        self.sent.append(notification)


class FakeOrderProgress:
    """Each order's record as a plain `OrderProgress` in a dict; every write answers it."""

    def __init__(self) -> None:
        self.orders: dict[UUID, OrderProgress] = {}
        self.available = True

    async def progress(self, order_id: UUID) -> OrderProgress:
        self._check()
        return self.orders.get(order_id, OrderProgress())

    async def remember_customer(self, order_id: UUID, customer_name: str) -> OrderProgress:
        self._check()
        known = self.orders.get(order_id, OrderProgress())
        version = 0 if known.notified_version is None else known.notified_version
        return self._store(
            order_id, replace(known, notified_version=version, customer_name=customer_name)
        )

    async def park(self, notification: Notification) -> OrderProgress:
        self._check()
        known = self.orders.get(notification.order_id, OrderProgress())
        kept = (
            replace(notification, customer_name=None)
            if not isinstance(notification, OrderCreatedNotification)
            else notification
        )
        parked = {**known.parked, notification.order_version: kept}
        return self._store(notification.order_id, replace(known, parked=parked))

    async def advance(self, order_id: UUID, version: int) -> OrderProgress:
        self._check()
        known = self.orders.get(order_id, OrderProgress())
        notified = (
            version if known.notified_version is None else max(known.notified_version, version)
        )
        parked = {v: n for v, n in known.parked.items() if v != version}
        return self._store(order_id, replace(known, notified_version=notified, parked=parked))

    async def with_parked(
        self, *, limit: int, scan_at_most: int
    ) -> tuple[list[tuple[UUID, OrderProgress]], bool]:
        self._check()
        seen = list(self.orders.items())[:scan_at_most]
        found = [(order_id, progress) for order_id, progress in seen if progress.parked]
        complete = len(seen) == len(self.orders) and len(found) <= limit
        return found[:limit], complete

    def forget(self, order_id: UUID) -> None:
        """What the retention does to an order's record left alone long enough."""
        self.orders.pop(order_id, None)

    def _store(self, order_id: UUID, progress: OrderProgress) -> OrderProgress:
        self.orders[order_id] = progress
        return progress

    def _check(self) -> None:
        if not self.available:
            raise LedgerUnavailable("fake order progress is down")
