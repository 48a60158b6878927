"""Page cursors: whatever a client sends, decoding answers a usable position or `InvalidCursor`."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from order_platform.read_service.domain import ListPosition
from order_platform.read_service.entrypoints.cursor import (
    InvalidCursor,
    decode_cursor,
    encode_cursor,
)
from order_platform.read_service.infrastructure.timeline import position_second

offsets = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-(24 * 60 - 1), 24 * 60 - 1)
)


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _usable(position: ListPosition) -> None:
    """What the query side does with a position: nothing of it may raise."""
    assert position.created_at.utcoffset() == timedelta(0)
    position_second(position)
    assert decode_cursor(encode_cursor(position)) == position
    assert (position < ListPosition(datetime.now(UTC), uuid4())) in {True, False}


@given(st.datetimes(timezones=offsets), st.uuids())
@example(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), UUID(int=0))
@example(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))), UUID(int=0))
def test_guarantee_10_a_well_formed_cursor_is_a_usable_position_or_invalid(
    at: datetime, order_id: UUID
) -> None:
    try:
        position = decode_cursor(_cursor(f"{at.isoformat()}|{order_id}"))
    except InvalidCursor:
        return
    _usable(position)
    assert position.created_at == at


@given(st.text(max_size=200))
def test_any_text_decodes_to_a_usable_position_or_invalid(cursor: str) -> None:
    try:
        position = decode_cursor(cursor)
    except InvalidCursor:
        return
    _usable(position)


@given(st.text(max_size=80), st.text(max_size=80))
def test_any_decoded_text_is_a_usable_position_or_invalid(created_at: str, order_id: str) -> None:
    try:
        position = decode_cursor(_cursor(f"{created_at}|{order_id}"))
    except InvalidCursor:
        return
    _usable(position)


@pytest.mark.parametrize(
    "raw",
    [
        f"0001-01-01T00:00:00+05:00|{UUID(int=1)}",  # before year 1 in UTC
        f"9999-12-31T23:59:59-05:00|{UUID(int=1)}",  # after year 9999 in UTC
        f"99999-01-01T00:00:00+00:00|{UUID(int=1)}",
        f"2026-11-25T08:00:00|{UUID(int=1)}",  # no offset
        f"2026-11-25T08:00:00+24:00|{UUID(int=1)}",
        f"2026-11-25T08:00:00Z|{'9' * 60}",
        f"2026-11-25T08:00:00Z|{UUID(int=1)}|extra",
    ],
)
def test_out_of_range_or_malformed_positions_are_invalid(raw: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(_cursor(raw))


def test_a_cursor_handed_out_decodes_to_its_position() -> None:
    position = ListPosition(datetime(2026, 11, 25, 8, 0, 0, 123000, tzinfo=UTC), uuid4())

    assert decode_cursor(encode_cursor(position)) == position
