"""The `CreateOrder` use case, with the Idempotency-Key protocol of the HTTP API."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from order_platform.order_service.application.idempotency import (
    IdempotencyKeyReused,
    RequestInFlight,
    caller_scoped,
)
from order_platform.order_service.application.ports import (
    Clock,
    IdempotencyKeys,
    IdFactory,
    KeyClaim,
    OrderAlreadyExists,
    StorageUnavailable,
    UnitOfWork,
    WriteOutcomeUnknown,
)
from order_platform.order_service.domain import Order


@dataclass(frozen=True, slots=True)
class CreateOrder:
    customer_name: str
    total_amount: Decimal
    idempotency_key: str | None = None
    customer_id: str | None = None  # the caller; None while authentication is off


@dataclass(frozen=True, slots=True)
class CreatedOrder:
    order: Order
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class CreateOrderHandler:
    new_unit_of_work: Callable[[], UnitOfWork]
    idempotency_keys: IdempotencyKeys
    clock: Clock
    new_id: IdFactory
    # How long a claimed key whose order is missing counts as "in flight"; after that the
    # first attempt is presumed dead and a retry completes it under the reserved order id.
    in_flight_window: timedelta = timedelta(seconds=10)

    async def __call__(self, command: CreateOrder) -> CreatedOrder:
        order = Order.create(
            order_id=self.new_id(),
            event_id=self.new_id(),
            customer_name=command.customer_name,
            total_amount=command.total_amount,
            now=self.clock.now(),
            customer_id=command.customer_id,
        )
        if command.idempotency_key is None:
            try:
                await self._store(order)
            except OrderAlreadyExists:
                # Its id is new, so only our own write can be there (a retried insert).
                return CreatedOrder(await self._stored(order.id))
            return CreatedOrder(order)
        return await self._create_once(
            caller_scoped(command.idempotency_key, command.customer_id), order
        )

    async def _create_once(self, key: str, order: Order) -> CreatedOrder:
        ours = KeyClaim(_fingerprint(order), order.id, order.created_at)
        holder = await self.idempotency_keys.claim(key, ours)
        if holder.fingerprint != ours.fingerprint:
            raise IdempotencyKeyReused(key)
        if holder != ours:
            async with self.new_unit_of_work() as uow:
                existing = await uow.orders.get(holder.order_id)
            if existing is not None:
                return CreatedOrder(existing, replayed=True)
            if self.clock.now() - holder.claimed_at < self.in_flight_window:
                raise RequestInFlight(key)
            # The first attempt died between claiming and storing: finish its work.
            order = Order.create(
                order_id=holder.order_id,
                event_id=order.events[0].event_id,
                customer_name=order.customer_name,
                total_amount=order.total_amount,
                now=order.created_at,
                customer_id=order.customer_id,
            )
        try:
            await self._store(order)
        except OrderAlreadyExists:
            return CreatedOrder(await self._stored(order.id), replayed=True)
        except WriteOutcomeUnknown:
            raise  # the key stays claimed: a retry finds the order if the write landed
        except Exception:
            if holder == ours:
                # Best effort: if the store is down, the claim simply ages out of its window.
                with contextlib.suppress(StorageUnavailable):
                    await self.idempotency_keys.release(key, ours)
            raise
        return CreatedOrder(order)

    async def _store(self, order: Order) -> None:
        async with self.new_unit_of_work() as uow:
            uow.orders.add(order)
            await uow.commit()

    async def _stored(self, order_id: UUID) -> Order:
        async with self.new_unit_of_work() as uow:
            existing = await uow.orders.get(order_id)
        if existing is None:  # pragma: no cover - a store that lies about its contents
            raise OrderAlreadyExists(str(order_id))
        return existing


def _fingerprint(order: Order) -> str:
    """Identifies the request by its meaning: "199.9" and 199.90 are the same order."""
    material = f"{order.customer_name}\x00{order.total_amount}"
    return hashlib.sha256(material.encode()).hexdigest()
