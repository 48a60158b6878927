"""The `NotifyCustomer` use case: one notification per event, however often it is delivered.

Exactly-once effect over at-least-once delivery, with the ledger recording per `eventId`:

1. claim the event (short-lived claim); a redelivery that finds it already *sent* skips it;
   one that finds a *live claim* sends nothing and raises `NotificationInFlight`, so the
   caller retries later instead of committing past an event that may yet fail;
2. send; on failure give the claim back and raise, so the retry can send at once;
3. record it as *sent* (long-lived).

A crash between 2 and 3 leaves a claim that expires; the next delivery then sends again. We
chose that side deliberately: at least once, with the duplicate window limited to a crash
between sending and recording. The other order (record, then send) would lose the
notification on such a crash, silently, which is worse than a rare second message (and the
webhook carries the event id, so a receiver can drop that one too). A failure to record after
a successful send is remembered in this process and only the record is retried, so an
unavailable ledger alone never causes a second send.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from enum import Enum
from uuid import UUID

from order_platform.notification_service.application.ports import (
    Claim,
    ClaimState,
    LedgerUnavailable,
    NotificationLedger,
    NotificationSender,
)
from order_platform.notification_service.domain import Notification


class NotificationInFlight(Exception):
    """Another attempt is sending this event right now: neither send nor move past it."""

    def __init__(self, event_id: UUID) -> None:
        super().__init__(f"event {event_id} is being notified by another attempt")
        self.event_id = event_id


class Outcome(Enum):
    SENT = "sent"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class NotifyCustomerHandler:
    sender: NotificationSender
    ledger: NotificationLedger
    # Sent, but the ledger did not take the record yet: a retry records without resending.
    _unrecorded: dict[UUID, Claim] = field(default_factory=dict, init=False, repr=False)

    async def __call__(self, notification: Notification) -> Outcome:
        event_id = notification.event_id
        if (sent := self._unrecorded.get(event_id)) is not None:
            await self._record(sent)
            return Outcome.SENT
        claim = await self.ledger.claim(event_id)
        if claim.state is ClaimState.SENT:
            return Outcome.DUPLICATE
        if claim.state is ClaimState.IN_FLIGHT:
            raise NotificationInFlight(event_id)
        try:
            await self.sender.send(notification)
        except Exception:
            # Best effort: if the ledger is away too, the claim simply expires. A cancelled
            # send (shutdown) keeps its claim on purpose: it may have gone out.
            with contextlib.suppress(LedgerUnavailable):
                await self.ledger.release(claim)
            raise
        self._unrecorded[event_id] = claim
        await self._record(claim)
        return Outcome.SENT

    async def _record(self, claim: Claim) -> None:
        await self.ledger.mark_sent(claim)
        del self._unrecorded[claim.event_id]
