"""What `NotifyCustomer` needs from the outside world, as small Protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol
from uuid import UUID

from order_platform.contracts.errors import Unavailable
from order_platform.notification_service.domain import Notification, OrderProgress


class NotificationFailed(Exception):
    """The sender could not deliver (timeout, connection error, server error): worth a retry."""


class NotificationRejected(NotificationFailed):
    """The receiver refused this notification (a 4xx): retrying the same request will not help."""


class LedgerUnavailable(Unavailable):
    """The record of sent notifications cannot be reached; nothing may be sent without it."""


class ClaimState(Enum):
    CLAIMED = "claimed"
    """Nobody sent it and nobody is sending it: it is ours to send now."""
    SENT = "sent"
    """It was sent before: a redelivery, skip it."""
    IN_FLIGHT = "in_flight"
    """Another attempt holds a live claim (another replica is sending it right now)."""


@dataclass(frozen=True, slots=True)
class Claim:
    event_id: UUID
    state: ClaimState
    # Identifies the attempt that holds the claim, so that only it can give the claim back.
    token: str = ""


class Recorded(Enum):
    """What a `sent` record replaced: tells whether another attempt sent the event too."""

    OWN_CLAIM = "own_claim"
    """This attempt's claim, or nothing (it expired untouched): this was the only send."""
    ALREADY_RECORDED = "already_recorded"
    """This attempt's own record: an earlier try of it landed though its answer was lost."""
    TAKEN_OVER = "taken_over"
    """Another attempt's claim or record: it took over after this claim expired and sent too."""


class NotificationSender(Protocol):
    async def send(self, notification: Notification) -> None:
        """Return once delivered; raise `NotificationFailed` (or its subclass) otherwise."""
        ...


class NotificationLedger(Protocol):
    """Durable, shared by all replicas: which events were notified, which are being notified.

    Every method raises `LedgerUnavailable` when the store does not answer.
    """

    async def claim(self, event_id: UUID, token: str | None = None) -> Claim:
        """Atomically take the event for sending, unless it was sent or is claimed already.

        A claim expires on its own after a short time, so that one whose holder crashed
        mid-send is taken over by the next delivery. `token` names the attempt (the ledger
        draws one when it is `None`): a claim made again with the token of one whose answer
        was lost finds that claim its own (`CLAIMED`), not another attempt's (`IN_FLIGHT`).
        """
        ...

    async def mark_sent(self, claim: Claim) -> Recorded:
        """Record for a long time that the event was notified, whatever holds it now.

        Only an attempt that did send calls this, so `sent` is true whenever it lands, even
        late: it then replaces whatever is there (another attempt's claim included, which makes
        a release after that attempt's failed send keep `sent`, as it should) and says what it
        replaced.
        """
        ...

    async def release(self, claim: Claim) -> None:
        """Give a claim back after a failed send, if it is still this attempt's."""
        ...


class OrderProgressLedger(Protocol):
    """Durable, shared by all replicas, beside the ledger of events: per order, the customer's
    name, the highest version notified in order and the events parked until their turn.

    Every write is atomic on the order's record, refreshes its retention (that of `sent`
    records) and answers the record as it left it, so that the caller decides on what is
    stored, not on what it read before. Every method raises `LedgerUnavailable` when the store
    does not answer.
    """

    async def progress(self, order_id: UUID) -> OrderProgress:
        """The order's record (`OrderProgress()` when there is none)."""
        ...

    async def remember_customer(self, order_id: UUID, customer_name: str) -> OrderProgress:
        """The order's creation was seen: keep its customer's name, and start its record at
        version 0 (nothing notified) unless it has one."""
        ...

    async def park(self, notification: Notification) -> OrderProgress:
        """Keep the event (without its name) until its turn; parking it again changes nothing."""
        ...

    async def advance(self, order_id: UUID, version: int) -> OrderProgress:
        """The order was notified up to `version`: raise its notified version to it (never
        lower it) and drop the parked event of that version, if any."""
        ...


class SentTimes(Protocol):
    """When events were notified (for the operator console); raises `LedgerUnavailable`."""

    async def sent_at(self, event_ids: Sequence[UUID]) -> dict[UUID, datetime]:
        """The events recorded as sent, with when; the others (pending, unknown) are absent."""
        ...
