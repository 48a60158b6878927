"""An order as every HTTP API shows it: `{"id", "customerName", "totalAmount", "createdAt"}`,
and with its life (`order_state_json`) where the service knows it: `status`, `version`,
`updatedAt`, and where set `trackingNumber` and `cancellationReason`.

The same choices as the event (docs/design.md, "HTTP API" and "Events"): camelCase, money as a
decimal string with two places (never a JSON number, so nobody goes through float),
timestamps RFC 3339 UTC with a `Z`. Made once here, for every service that answers orders.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol
from uuid import UUID

from pydantic import BaseModel, Field

from order_platform.contracts.order_created import rfc3339


class AnOrder(Protocol):
    """What any service's order (the aggregate, a read-model view) has to show."""

    @property
    def id(self) -> UUID: ...

    @property
    def customer_name(self) -> str: ...

    @property
    def total_amount(self) -> Decimal: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def customer_id(self) -> str | None: ...


class AnOrderInItsLife(AnOrder, Protocol):
    """An order whose life the service knows (the Order Service's aggregate)."""

    @property
    def status(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def updated_at(self) -> datetime | None: ...  # None: never changed since it was placed

    @property
    def tracking_number(self) -> str | None: ...

    @property
    def cancellation_reason(self) -> str | None: ...


def order_json(order: AnOrder) -> dict[str, str]:
    # A plain dict: serialised once by the response, not validated again on the hot path.
    shown = {
        "id": str(order.id),
        "customerName": order.customer_name,
        "totalAmount": f"{order.total_amount:.2f}",
        "createdAt": rfc3339(order.created_at),
    }
    if order.customer_id is not None:  # placed with authentication on: the token's `sub`
        shown["customerId"] = order.customer_id
    return shown


def order_state_json(order: AnOrderInItsLife) -> dict[str, str | int]:
    """`order_json` and the order's life. `updatedAt` is always there: the last change, the
    creation while there was none. Optional fields are absent while unset, never null."""
    shown: dict[str, str | int] = {
        **order_json(order),
        "status": str(order.status),
        "version": order.version,
        "updatedAt": rfc3339(order.updated_at or order.created_at),
    }
    if order.tracking_number is not None:
        shown["trackingNumber"] = order.tracking_number
    if order.cancellation_reason is not None:
        shown["cancellationReason"] = order.cancellation_reason
    return shown


# The schema of `order_json`, for the OpenAPI documents (`response_model`).
class OrderResponse(BaseModel):
    id: str = Field(examples=["0b8e6d0c-3f55-4a4e-9c39-7d6a0c2d8f10"])
    customerName: str = Field(examples=["Lucas"])
    totalAmount: str = Field(
        pattern=r"^[0-9]+\.[0-9]{2}$",
        description="Decimal string with two places, never a float.",
        examples=["199.90"],
    )
    createdAt: str = Field(description="RFC 3339, UTC.", examples=["2026-11-25T08:00:00.000Z"])
    customerId: str | None = Field(
        default=None,
        description="Who placed the order (the token's `sub`); absent when auth was off.",
    )


# The schema of `order_state_json`.
class OrderStateResponse(OrderResponse):
    status: Literal["placed", "confirmed", "shipped", "cancelled"]
    version: int = Field(ge=1, description="1 when placed, one more per change; the `ETag`.")
    updatedAt: str = Field(description="RFC 3339, UTC: the last change (the creation if none).")
    trackingNumber: str | None = Field(default=None, description="Once shipped, if given.")
    cancellationReason: str | None = Field(default=None, description="Once cancelled, if given.")
