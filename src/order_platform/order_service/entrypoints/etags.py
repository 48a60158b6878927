"""An order's version as an HTTP entity tag (`ETag: "3"`), and `If-Match` read into the
application's `VersionCondition` with RFC 9110's strong comparison: `"3"` matches version 3,
a weak tag (`W/"3"`) never matches, `*` matches any existing order."""

from __future__ import annotations

import re
from typing import Final

from order_platform.order_service.application.change_order import VersionCondition

# One element of the list: an entity tag (RFC 9110, 8.8.3), then a comma or the end.
_ELEMENT: Final = re.compile(r'[ \t]*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*(?:,|\Z)')
# Recipients accept empty list elements: `"1", , "2",`.
_EMPTY_ELEMENT: Final = re.compile(r"[ \t]*(?:,|\Z)")
# The tags this service makes: a version without leading zeros ("03" is another tag).
_VERSION_TAG: Final = re.compile(r"[1-9][0-9]{0,17}")


class InvalidIfMatch(ValueError):
    """The header is not `*` nor a list of entity tags (e.g. a version without quotes)."""


def etag(version: int) -> str:
    return f'"{version}"'


def version_condition(if_match: str) -> VersionCondition:
    """The condition `If-Match` sets. Tags this service never makes simply never match."""
    if if_match.strip(" \t") == "*":
        return VersionCondition(any_version=True)
    versions: set[int] = set()
    position, end, elements = 0, len(if_match), 0
    while position < end:
        if (empty := _EMPTY_ELEMENT.match(if_match, position)) is not None:
            position = empty.end()
            continue
        element = _ELEMENT.match(if_match, position)
        if element is None:
            raise InvalidIfMatch(
                'must be * or a list of entity tags such as "3" (the version in quotes)'
            )
        weak, tag = element.group(1), element.group(2)
        if weak is None and _VERSION_TAG.fullmatch(tag):
            versions.add(int(tag))
        elements += 1
        position = element.end()
    if elements == 0:
        raise InvalidIfMatch("must not be empty")
    return VersionCondition(frozenset(versions))
