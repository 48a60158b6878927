"""Who holds a group's redrive lease, from its lease topic's records in offset order: the
rule every reader applies alike, so that they all agree."""

from __future__ import annotations

from order_platform.operations.redrive_lease import LeaseRecord, holder

TTL = 60_000


def claim(by: str, at: int, ttl: int = TTL) -> LeaseRecord:
    return LeaseRecord(by, f"{by}'s replay", "claim", at, ttl)


def release(by: str, at: int) -> LeaseRecord:
    return LeaseRecord(by, f"{by}'s replay", "release", at, TTL)


def test_the_first_claim_holds_the_lease_and_a_claim_made_meanwhile_is_void_for_good() -> None:
    records = [claim("a", 0), claim("b", 10)]
    assert holder(records) == claim("a", 0)
    # After a's release b's old claim still holds nothing: it was void when made.
    assert holder([*records, release("a", 20)]) is None
    assert holder([*records, release("a", 20), claim("b", 30)]) == claim("b", 30)


def test_a_lease_whose_holder_died_runs_out_at_its_ttl() -> None:
    assert holder([claim("a", 0), claim("b", TTL - 1)]) == claim("a", 0)
    assert holder([claim("a", 0), claim("b", TTL)]) == claim("b", TTL)


def test_the_holder_renews_its_lease_and_a_late_renewal_does_not_take_it_back() -> None:
    renewed = [claim("a", 0), claim("a", 50_000), claim("b", TTL + 10)]
    assert holder(renewed) == claim("a", 50_000)
    taken = [claim("a", 0), claim("b", TTL), claim("a", TTL + 5)]
    assert holder(taken) == claim("b", TTL)


def test_only_the_holder_releases_it() -> None:
    assert holder([claim("a", 0), release("b", 1)]) == claim("a", 0)


def test_anything_else_on_the_topic_claims_nothing() -> None:
    assert LeaseRecord.from_json(b"not json") is None
    assert LeaseRecord.from_json(b'{"holder": "x"}') is None
    assert LeaseRecord.from_json(claim("a", 1).to_json()) == claim("a", 1)
    odd = claim("a", 1).to_json().replace(b'"claim"', b'"steal"')
    assert LeaseRecord.from_json(odd) is None
