"""`If-Match` as RFC 9110 reads it: strong comparison, lists, `*`, and what is no header at all."""

from __future__ import annotations

import pytest

from order_platform.order_service.application.change_order import VersionCondition
from order_platform.order_service.entrypoints.etags import (
    InvalidIfMatch,
    etag,
    version_condition,
)


def test_a_version_is_a_strong_entity_tag() -> None:
    assert etag(3) == '"3"'


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        ('"3"', {3}),
        ('"1", "2"', {1, 2}),
        ('"1",,  "2" , ', {1, 2}),  # empty list elements are allowed
        ('W/"3"', set()),  # weak: never matches a strong comparison
        ('W/"3", "4"', {4}),
        ('"03"', set()),  # another tag than "3"
        ('"abc"', set()),
        ('"0"', set()),
        ('"' + "9" * 30 + '"', set()),  # no version that long
        ('"é"', set()),  # obs-text is a valid tag character
    ],
)
def test_the_versions_an_if_match_list_names(header: str, versions: set[int]) -> None:
    assert version_condition(header) == VersionCondition(frozenset(versions))


@pytest.mark.parametrize("header", ["*", " * "])
def test_any_matches_every_version(header: str) -> None:
    condition = version_condition(header)

    assert condition.any_version
    assert condition.holds_for(1)
    assert condition.holds_for(99)


@pytest.mark.parametrize(
    "header", ["3", "", " ", ",", '"1" "2"', '*, "1"', "W/3", '"a"b"', '"1 "', '"1']
)
def test_what_is_no_list_of_entity_tags_is_refused(header: str) -> None:
    with pytest.raises(InvalidIfMatch):
        version_condition(header)


def test_an_empty_condition_holds_for_no_version() -> None:
    assert not VersionCondition().holds_for(1)
