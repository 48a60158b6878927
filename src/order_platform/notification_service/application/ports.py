"""What `NotifyCustomer` needs from the outside world, as small Protocols."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol
from uuid import UUID

from order_platform.notification_service.domain import Notification


class NotificationFailed(Exception):
    """The sender could not deliver (timeout, connection error, server error): worth a retry."""


class NotificationRejected(NotificationFailed):
    """The receiver refused this notification (a 4xx): retrying the same request will not help."""


class LedgerUnavailable(Exception):
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


class NotificationSender(Protocol):
    async def send(self, notification: Notification) -> None:
        """Return once delivered; raise `NotificationFailed` (or its subclass) otherwise."""
        ...


class NotificationLedger(Protocol):
    """Durable, shared by all replicas: which events were notified, which are being notified.

    Every method raises `LedgerUnavailable` when the store does not answer.
    """

    async def claim(self, event_id: UUID) -> Claim:
        """Atomically take the event for sending, unless it was sent or is claimed already.

        A claim expires on its own after a short time, so that one whose holder crashed
        mid-send is taken over by the next delivery.
        """
        ...

    async def mark_sent(self, claim: Claim) -> None:
        """Record for a long time that the event was notified (replaces the claim)."""
        ...

    async def release(self, claim: Claim) -> None:
        """Give a claim back after a failed send, if it is still this attempt's."""
        ...
