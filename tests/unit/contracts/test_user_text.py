"""The one rule about user text: which characters are refused, and its JSON Schema patterns."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_platform.contracts import SCHEMA_PATH
from order_platform.contracts.user_text import (
    CONTROL_CHARACTERS,
    TEXT_PATTERN,
    TRIMMED_TEXT_PATTERN,
    code_point,
    first_control_character,
)

# Written out here, not derived from the module: the test is the second opinion.
LINE_BREAKING = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]]
LONE_SURROGATES = [chr(c) for c in (0xD800, 0xDA00, 0xDBFF, 0xDC00, 0xDFFF)]
SCHEMA = json.loads(SCHEMA_PATH.read_text())


@pytest.mark.parametrize("control", LINE_BREAKING, ids=code_point)
def test_guarantee_10_every_line_breaking_character_is_refused(control: str) -> None:
    assert first_control_character(f"Lu{control}cas") == control


@pytest.mark.parametrize("surrogate", LONE_SURROGATES, ids=code_point)
def test_guarantee_10_a_lone_surrogate_is_refused(surrogate: str) -> None:
    assert first_control_character(f"Lu{surrogate}cas") == surrogate
    with pytest.raises(UnicodeEncodeError):  # why: it could be neither stored nor published
        surrogate.encode()


@pytest.mark.parametrize("text", ["Lucas", "Zoë 李", "👩‍🚀 O'Brien", "a b", "\u00a0nbsp", ""])
def test_text_people_write_is_accepted(text: str) -> None:
    assert first_control_character(text) is None


@given(st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"])))
def test_no_other_character_is_refused(text: str) -> None:
    # Cc is exactly C0, DEL and C1; Zl and Zp are U+2028 and U+2029; Cs the surrogates.
    assert first_control_character(text) is None


def test_the_first_refused_character_is_named_without_quoting_it() -> None:
    assert first_control_character("a\x1bb\nc") == "\x1b"
    assert code_point("\x1b") == "U+001B"
    assert code_point("\ud800") == "U+D800"


def test_the_published_event_schema_states_the_same_rule() -> None:
    """`order_created.v1.schema.json` is a file for other languages; it must not drift."""
    properties = SCHEMA["properties"]

    assert properties["customerName"]["pattern"] == TEXT_PATTERN
    assert properties["customerId"]["pattern"] == TEXT_PATTERN


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30))
def test_the_schema_patterns_agree_with_the_rule(text: str) -> None:
    # Python's `re` and ECMA-262 read these escapes alike; surrogates are left to validators.
    allowed = first_control_character(text) is None

    assert (re.fullmatch(TEXT_PATTERN, text) is not None) == allowed
    assert (re.fullmatch(TRIMMED_TEXT_PATTERN, text) is not None) == (
        allowed and bool(text.strip())
    )


def test_the_class_holds_what_its_comment_says() -> None:
    refused = {chr(c) for c in range(0x110000) if CONTROL_CHARACTERS.fullmatch(chr(c))}

    assert refused == {*LINE_BREAKING, *(chr(c) for c in range(0xD800, 0xE000))}
