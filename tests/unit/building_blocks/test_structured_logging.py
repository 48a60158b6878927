"""One record, one line: user text in a log cannot forge a record, in either format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from order_platform.building_blocks.runtime.structured_logging import (
    EscapingFormatter,
    configure_logging,
    escape_control_characters,
)

FORGED = "Lucas\n2026-11-25T08:00:00Z [info     ] order_accepted order_id=forged"
CONTROLS = "\x1b\r\t\x00\x7f\x85\x9b\u2028\u2029"


@pytest.fixture
def configured() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def _one_record(log_format: str, capsys: pytest.CaptureFixture[str]) -> str:
    configure_logging(service="test", log_format=log_format)
    structlog.get_logger("test").warning(
        f"event {FORGED}",
        customer_name=FORGED + "\x1b[2J" + CONTROLS,
        headers={"idempotency-key": f"k{CONTROLS}", FORGED: ["x\ny"]},
        error=ValueError(FORGED),
        amount=1,
    )
    return capsys.readouterr().err


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_guarantee_10_user_text_with_control_characters_is_one_log_line(
    log_format: str, capsys: pytest.CaptureFixture[str], configured: None
) -> None:
    output = _one_record(log_format, capsys)

    # `splitlines` splits at every line boundary there is, U+2028 and NEL included.
    assert len(output.splitlines()) == 1, output
    assert not any(control in output for control in CONTROLS)
    assert "order_accepted order_id=forged" in output  # kept, escaped, on the record's line
    if log_format == "json":
        record = json.loads(output)
        assert record["customer_name"] == escape_control_characters(FORGED + "\x1b[2J" + CONTROLS)
        assert record["amount"] == 1


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_traceback_quoting_user_text_cannot_pass_for_a_record(
    log_format: str, capsys: pytest.CaptureFixture[str], configured: None
) -> None:
    configure_logging(service="test", log_format=log_format)
    try:
        raise ValueError(f"bad name {FORGED}\x1b[31m")
    except ValueError:
        structlog.get_logger("test").exception("failed")
    output = capsys.readouterr().err

    assert "\x1b" not in output
    if log_format == "json":
        assert len(output.splitlines()) == 1
    else:
        lines = output.splitlines()
        assert "Traceback" in output
        assert all(line[:1] in {"", " "} for line in lines[1:]), output


def test_standard_library_records_are_escaped_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("test.escaping")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("key %s", f"k{FORGED}{CONTROLS}")
    finally:
        logger.removeHandler(handler)

    assert len(stream.getvalue().splitlines()) == 1


@given(st.text())
def test_escaped_text_never_breaks_a_line_nor_holds_a_control_character(text: str) -> None:
    escaped = escape_control_characters(text)

    assert len(escaped.splitlines()) <= 1
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in escaped)
