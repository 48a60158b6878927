"""Opaque page cursors: where the previous page ended, in URL-safe base64."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

from order_platform.read_service.domain import ListPosition


class InvalidCursor(ValueError):
    pass


def encode_cursor(position: ListPosition) -> str:
    raw = f"{position.created_at.isoformat()}|{position.order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> ListPosition:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, order_id = raw.split("|")
        position = ListPosition(datetime.fromisoformat(created_at), UUID(order_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("cursor is not one this API handed out") from None
    if position.created_at.tzinfo is None:
        raise InvalidCursor("cursor is not one this API handed out")
    return position
