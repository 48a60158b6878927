"""The `NotifyCustomer` use case: one notification per event, however often it is delivered.

Exactly-once effect over at-least-once delivery, with the ledger recording per `eventId`:

1. claim the event (short-lived claim); a redelivery that finds it already *sent* skips it;
   one that finds a *live claim* sends nothing and raises `NotificationInFlight`, so the
   caller retries later instead of committing past an event that may yet fail;
2. send; on failure give the claim back and raise, so the retry can send at once;
3. record it as *sent* (long-lived).

A send whose record fails (the ledger stalled) is remembered in this process, and the record,
never the send, is retried: by the next delivery of the event here, and by
`retry_unrecorded_forever` in the background, whoever owns the partition by then. Meanwhile the
claim stays live in the ledger, so a replica that takes the partition over sees it in flight
and sends nothing; once the record lands it sees *sent*. A claim whose answer was lost may
have landed: the next try here claims with the same token and finds it its own, instead of
seeing it in flight and holding the partition until it expires. A duplicate therefore needs one of:

(a) the process that sent dies between sending and recording (its claim then expires and the
    next delivery sends again); or
(b) the ledger stays unreachable from the replica that sent for longer than the claim lifetime
    while another replica, which does reach it, takes the event over.

We chose that side deliberately: the other order (record, then send) would lose the
notification on such a crash, silently, which is worse than a rare second message (and the
webhook carries the event id, so a receiver can drop that one too). Case (b) is detected: the
late record reports `Recorded.TAKEN_OVER` to `report`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import NoReturn
from uuid import UUID

from order_platform.contracts.errors import Unavailable
from order_platform.notification_service.application.ports import (
    Claim,
    ClaimState,
    LedgerUnavailable,
    NotificationLedger,
    NotificationSender,
    Recorded,
)
from order_platform.notification_service.domain import Notification

# Tokens of claims that may still be ours, kept at most (the oldest is forgotten first).
MAX_CLAIMS_MAYBE_OURS = 1000


class NotificationInFlight(Unavailable):
    """Another attempt is sending this event right now: neither send nor move past it.

    Unavailable, not a conflict: no caller asked twice; another replica holds the event's
    claim, and it is ours again once that attempt ends or its claim expires (wait for it)."""

    def __init__(self, event_id: UUID) -> None:
        super().__init__(f"event {event_id} is being notified by another attempt")
        self.event_id = event_id


class Outcome(Enum):
    SENT = "sent"
    DUPLICATE = "duplicate"
    PARKED = "parked"  # `NotifyInOrder` only: stored until the order's missing version is told


def _ignore(event_id: UUID, recorded: Recorded) -> None:
    pass


@dataclass(frozen=True, slots=True)
class NotifyCustomerHandler:
    sender: NotificationSender
    ledger: NotificationLedger
    # Told what every landed record replaced (observability: a takeover means a second send).
    report: Callable[[UUID, Recorded], None] = _ignore
    # Sends still waiting for their record, at most: beyond it nothing more is sent until the
    # ledger takes them (as if it were unavailable), so memory stays bounded.
    max_unrecorded: int = 1000
    # Pause between background passes while the ledger refuses records.
    record_retry_seconds: float = 0.5
    # Sent, but the ledger did not take the record yet: only the record is retried.
    _unrecorded: dict[UUID, Claim] = field(default_factory=dict, init=False, repr=False)
    _to_record: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    # Claims the ledger may hold for us unbeknown (a claim's answer lost, a release that did
    # not land): the next try claims with the same token, so it finds its own claim instead of
    # waiting out its lifetime as another attempt's.
    _claims_maybe_ours: dict[UUID, str] = field(default_factory=dict, init=False, repr=False)

    async def __call__(self, notification: Notification) -> Outcome:
        event_id = notification.event_id
        if (sent := self._unrecorded.get(event_id)) is not None:
            await self._record(sent)
            return Outcome.SENT
        if len(self._unrecorded) >= self.max_unrecorded:
            raise LedgerUnavailable(
                f"{len(self._unrecorded)} sends wait for their record; no more until it is back"
            )
        claim = await self._claim(event_id)
        if claim.state is ClaimState.SENT:
            return Outcome.DUPLICATE
        if claim.state is ClaimState.IN_FLIGHT:
            raise NotificationInFlight(event_id)
        try:
            await self.sender.send(notification)
        except Exception:
            # If the ledger is away too, the claim stays ours: the retry claims it again with
            # its token. A cancelled send (shutdown) keeps its claim on purpose: it may have
            # gone out.
            try:
                await self.ledger.release(claim)
            except LedgerUnavailable:
                self._maybe_ours(event_id, claim.token)
            raise
        self._unrecorded[event_id] = claim
        self._to_record.set()
        await self._record(claim)
        return Outcome.SENT

    @property
    def unrecorded(self) -> int:
        """How many sends wait for their record."""
        return len(self._unrecorded)

    async def record_unrecorded(self) -> int:
        """One pass over the sends that wait for their record; stops at the first refusal.

        Returns how many records landed.
        """
        landed = 0
        for claim in list(self._unrecorded.values()):
            if claim.event_id not in self._unrecorded:
                continue  # recorded meanwhile by a delivery of the event
            try:
                await self._record(claim)
            except LedgerUnavailable:
                break
            landed += 1
        return landed

    async def retry_unrecorded_forever(self) -> NoReturn:
        """Record unrecorded sends until each lands, whichever partitions this process owns.

        Run it as a supervised background task for the life of the process; it idles while
        nothing waits. Errors other than an unavailable ledger propagate (to the supervisor).
        """
        while True:
            await self._to_record.wait()
            await self.record_unrecorded()
            if self._unrecorded:
                await asyncio.sleep(self.record_retry_seconds)
            else:
                self._to_record.clear()

    async def _claim(self, event_id: UUID) -> Claim:
        token = self._claims_maybe_ours.pop(event_id, None) or uuid.uuid4().hex
        try:
            return await self.ledger.claim(event_id, token)
        except BaseException:  # unavailable, or cancelled: either way it may have landed
            self._maybe_ours(event_id, token)
            raise

    def _maybe_ours(self, event_id: UUID, token: str) -> None:
        if len(self._claims_maybe_ours) >= MAX_CLAIMS_MAYBE_OURS:
            # Forgetting one is safe: its claim, if the ledger holds it, expires on its own.
            del self._claims_maybe_ours[next(iter(self._claims_maybe_ours))]
        self._claims_maybe_ours[event_id] = token

    async def _record(self, claim: Claim) -> None:
        recorded = await self.ledger.mark_sent(claim)
        if self._unrecorded.pop(claim.event_id, None) is not None:
            self.report(claim.event_id, recorded)
