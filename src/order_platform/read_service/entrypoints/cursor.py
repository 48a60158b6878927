"""Opaque page cursors: where the previous page ended, in URL-safe base64.

A cursor comes from the client, so it may hold anything that parses: a timestamp whose offset
pushes it past year 9999 or before year 1 once in UTC, say. Decoding normalises it to UTC
here, so that a well-formed but out-of-range cursor is an `InvalidCursor` (422), never an
`OverflowError` deeper down (500).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from uuid import UUID

from order_platform.contracts.errors import Invalid
from order_platform.read_service.domain import ListPosition


class InvalidCursor(Invalid):
    """Not a cursor this API handed out."""


def encode_cursor(position: ListPosition) -> str:
    raw = f"{position.created_at.isoformat()}|{position.order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> ListPosition:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, order_id = raw.split("|")
        at = datetime.fromisoformat(created_at)
        if at.tzinfo is None:
            raise ValueError("naive timestamp")
        return ListPosition(at.astimezone(UTC), UUID(order_id))
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("cursor is not one this API handed out") from None
