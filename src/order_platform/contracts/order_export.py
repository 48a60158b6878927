"""The Order Service's export of its stored orders (`GET /internal/orders/export`), written by
its API and read by the read model's rebuild (`operations.read_model_rebuild`).

NDJSON: one order per line in order of id (`order_state_json`, the order with its life, plus
`eventId`, the id of its `OrderCreated` event, null when the write model no longer keeps it),
then the end line `{"end": true, "count": N}`. A stream without the end line was cut short.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final
from uuid import UUID

from order_platform.building_blocks.http.decimal_json import parse_decimal, parse_json
from order_platform.contracts.order_json import AnOrderInItsLife, order_state_json

EXPORT_PATH: Final = "/internal/orders/export"
MEDIA_TYPE: Final = "application/x-ndjson"
# About how many order lines to expect (for progress reports), as a response header.
ESTIMATED_TOTAL_HEADER: Final = "Orders-Estimated-Total"


@dataclass(frozen=True, slots=True)
class ExportedOrderLine:
    id: UUID
    customer_name: str
    total_amount: Decimal
    created_at: datetime
    event_id: UUID | None
    customer_id: str | None = None
    # An export of a version before orders had a life has none of these: placed, version 1.
    status: str = "placed"
    version: int = 1
    updated_at: datetime | None = None
    tracking_number: str | None = None
    cancellation_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ExportEnd:
    count: int  # order lines sent before it


def order_line(order: AnOrderInItsLife, event_id: UUID | None) -> str:
    fields = order_state_json(order) | {"eventId": None if event_id is None else str(event_id)}
    return json.dumps(fields) + "\n"


def end_line(count: int) -> str:
    return json.dumps({"end": True, "count": count}) + "\n"


def read_line(raw: str) -> ExportedOrderLine | ExportEnd:
    """One line of the export; `ValueError`, `KeyError`, `TypeError` or `AttributeError` for a
    line that is neither an order nor the end."""
    fields = parse_json(raw)  # numbers as Decimal, in range, like every body we read
    if fields.get("end") is True:
        count = fields.get("count")
        if not isinstance(count, int) or isinstance(count, bool):
            raise ValueError(f"the end line's count is {count!r}, not a number")
        return ExportEnd(count)
    event_id = fields.get("eventId")
    return ExportedOrderLine(
        id=UUID(fields["id"]),
        customer_name=fields["customerName"],
        total_amount=parse_decimal(str(fields["totalAmount"])),
        created_at=datetime.fromisoformat(fields["createdAt"]).astimezone(UTC),
        event_id=UUID(event_id) if event_id else None,
        customer_id=fields.get("customerId"),
        status=str(fields.get("status", "placed")),
        version=int(fields.get("version", 1)),
        # `updatedAt` is the creation's time while the order never changed (version 1).
        updated_at=(
            datetime.fromisoformat(fields["updatedAt"]).astimezone(UTC)
            if fields.get("version", 1) != 1
            else None
        ),
        tracking_number=fields.get("trackingNumber"),
        cancellation_reason=fields.get("cancellationReason"),
    )
