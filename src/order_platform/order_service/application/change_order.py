"""The `ChangeOrder` use case: confirm, ship or cancel a stored order, under the caller's
`If-Match` condition and with the Idempotency-Key protocol of the HTTP API."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from order_platform.contracts.errors import PreconditionFailed
from order_platform.order_service.application.idempotency import (
    IdempotencyKeyReused,
    RequestInFlight,
    caller_scoped,
)
from order_platform.order_service.application.order_access import Requester, visible_order
from order_platform.order_service.application.ports import (
    Clock,
    IdempotencyKeys,
    IdFactory,
    KeyClaim,
    OrderChangedMeanwhile,
    StorageUnavailable,
    UnitOfWork,
    WriteOutcomeUnknown,
)
from order_platform.order_service.domain import Command, Order
from order_platform.order_service.domain.order import (
    MAX_REASON_LENGTH,
    MAX_TRACKING_NUMBER_LENGTH,
    valid_optional_text,
)


@dataclass(frozen=True, slots=True)
class VersionCondition:
    """`If-Match` in the application's terms: the versions the change may apply to, or any
    version of an existing order. Empty, nothing matches (e.g. only weak tags were sent)."""

    versions: frozenset[int] = frozenset()
    any_version: bool = False

    def holds_for(self, version: int) -> bool:
        return self.any_version or version in self.versions


class VersionMismatch(PreconditionFailed):
    """The order is not at a version the condition names: nothing was changed. The answer
    says the current version (None when it could not be read), so the caller can re-read."""

    problem = "version-mismatch"

    def __init__(self, order_id: UUID, current_version: int | None) -> None:
        super().__init__(f"order {order_id} is at version {current_version}")
        self.order_id = order_id
        self.current_version = current_version


@dataclass(frozen=True, slots=True)
class ChangeOrder:
    order_id: UUID
    command: Command
    requester: Requester
    tracking_number: str | None = None  # ship only
    reason: str | None = None  # cancel only
    if_match: VersionCondition | None = None
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        if self.tracking_number is not None and self.command is not Command.SHIP:
            raise ValueError("only ship takes a tracking number")
        if self.reason is not None and self.command is not Command.CANCEL:
            raise ValueError("only cancel takes a reason")


@dataclass(frozen=True, slots=True)
class ChangedOrder:
    order: Order  # as stored after the change (a replay: as stored now)
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ChangeOrderHandler:
    new_unit_of_work: Callable[[], UnitOfWork]
    idempotency_keys: IdempotencyKeys
    clock: Clock
    new_id: IdFactory
    # How long a claimed key whose transition is missing counts as "in flight"; after that the
    # first attempt is presumed dead and a retry makes its change under the reserved event id.
    in_flight_window: timedelta = timedelta(seconds=10)

    async def __call__(self, change: ChangeOrder) -> ChangedOrder:
        change = _validated(change)  # invalid text claims no key and reads nothing
        event_id = self.new_id()
        if change.idempotency_key is None:
            return await self._change(change, event_id, retried=False)
        key = caller_scoped(change.idempotency_key, change.requester.subject)
        # A command's claim reserves its transition's event id (where POST /orders reserves
        # the new order's id): a retry asks whether the order recorded that event.
        ours = KeyClaim(_fingerprint(change), event_id, self.clock.now())
        holder = await self.idempotency_keys.claim(key, ours)
        if holder.fingerprint != ours.fingerprint:
            raise IdempotencyKeyReused(key)
        if holder != ours:
            return await self._again(change, key, holder)
        try:
            return await self._change(change, event_id, retried=False)
        except WriteOutcomeUnknown:
            raise  # the key stays claimed: a retry finds the transition if the write landed
        except Exception:
            # Nothing was changed: give the key back for another try. Best effort: if the
            # store is down, the claim simply ages out of its window.
            with contextlib.suppress(StorageUnavailable):
                await self.idempotency_keys.release(key, ours)
            raise

    async def _again(self, change: ChangeOrder, key: str, holder: KeyClaim) -> ChangedOrder:
        """The same change under a key an earlier attempt claimed: answer what it did."""
        reserved = holder.order_id
        if (replayed := await self._landed(change, reserved)) is not None:
            return replayed
        if self.clock.now() - holder.claimed_at < self.in_flight_window:
            raise RequestInFlight(key)
        # The first attempt died before its transition was stored: make it, under its event id.
        return await self._change(change, reserved, retried=True)

    async def _change(self, change: ChangeOrder, event_id: UUID, *, retried: bool) -> ChangedOrder:
        """Apply the change; a race lost to another change is `OrderChangedMeanwhile` (409),
        or `VersionMismatch` (412) when the request's If-Match no longer holds."""
        try:
            return ChangedOrder(await self._apply(change, event_id))
        except OrderChangedMeanwhile as lost:
            # A retry may have lost to its own first attempt, which landed late: a replay.
            if retried:
                with contextlib.suppress(StorageUnavailable):
                    if (replayed := await self._landed(change, event_id)) is not None:
                        return replayed
            if change.if_match is None:
                raise
            current = lost.current_version
            if current is None:
                current = await self._current_version(change)
            if current is not None and change.if_match.holds_for(current):
                raise  # e.g. `*`: the condition holds, the change lost a race all the same
            raise VersionMismatch(change.order_id, current) from lost

    async def _apply(self, change: ChangeOrder, event_id: UUID) -> Order:
        async with self.new_unit_of_work() as uow:
            # Not found before the version: another customer's order tells nothing.
            order = await visible_order(uow.orders, change.order_id, change.requester)
            if change.if_match is not None and not change.if_match.holds_for(order.version):
                raise VersionMismatch(order.id, order.version)
            _run(order, change, event_id, self.clock.now())
            uow.orders.update(order)
            await uow.commit()
        return order

    async def _landed(self, change: ChangeOrder, event_id: UUID) -> ChangedOrder | None:
        """The order as stored now, replayed, if it recorded the transition `event_id`."""
        async with self.new_unit_of_work() as uow:
            # In this order: the order read after the event was seen includes it.
            if not await uow.orders.has_event(change.order_id, event_id):
                return None
            order = await visible_order(uow.orders, change.order_id, change.requester)
        return ChangedOrder(order, replayed=True)

    async def _current_version(self, change: ChangeOrder) -> int | None:
        """For the 412 of a lost race whose winner's version the store did not say."""
        with contextlib.suppress(StorageUnavailable):
            async with self.new_unit_of_work() as uow:
                order = await uow.orders.get(change.order_id)
            return None if order is None else order.version
        return None


def _run(order: Order, change: ChangeOrder, event_id: UUID, now: datetime) -> None:
    match change.command:
        case Command.CONFIRM:
            order.confirm(event_id=event_id, now=now)
        case Command.SHIP:
            order.ship(event_id=event_id, now=now, tracking_number=change.tracking_number)
        case Command.CANCEL:
            order.cancel(event_id=event_id, now=now, reason=change.reason)


def _validated(change: ChangeOrder) -> ChangeOrder:
    """The change with its text as the domain keeps it (trimmed), or `InvalidOrderField`."""
    return replace(
        change,
        tracking_number=valid_optional_text(
            "tracking_number", change.tracking_number, MAX_TRACKING_NUMBER_LENGTH
        ),
        reason=valid_optional_text("reason", change.reason, MAX_REASON_LENGTH),
    )


def _fingerprint(change: ChangeOrder) -> str:
    """Identifies the change by its meaning: command, order and its text (" x " is "x").
    If-Match is left out: a replay answers what the first attempt did, whatever it expected."""
    text = change.tracking_number if change.command is Command.SHIP else change.reason
    material = "\x00".join(
        ["change", change.command, str(change.order_id), "-" if text is None else f"+{text}"]
    )
    return hashlib.sha256(material.encode()).hexdigest()
