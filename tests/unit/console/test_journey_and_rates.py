"""The console's domain: an order's hops from what the services say, rates from scrapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from order_platform.console.domain import CounterHistory, HopState, OrderFacts, journey
from order_platform.console.domain.journey import (
    ConsumerSide,
    EventFacts,
    end_to_end_ms,
    end_to_end_skew_ms,
    event_journey,
)
from order_platform.console.domain.rates import series_key

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def test_every_hop_reached_has_its_time_and_the_latency_from_the_hop_it_follows() -> None:
    facts = OrderFacts(
        uuid4(), accepted_at=at(0), published_at=at(8), projected_at=at(30), notified_at=at(45)
    )

    hops = journey(facts)

    assert [(h.name, h.state, h.at, h.latency_ms) for h in hops] == [
        ("accepted", HopState.REACHED, at(0), None),
        ("published", HopState.REACHED, at(8), 8.0),
        ("projected", HopState.REACHED, at(30), 22.0),  # from published
        ("notified", HopState.REACHED, at(45), 37.0),  # from published too: a parallel branch
    ]
    assert end_to_end_ms(facts) == 45.0


def test_a_hop_not_reached_is_pending_and_there_is_no_end_to_end_latency_yet() -> None:
    facts = OrderFacts(uuid4(), accepted_at=at(0), published_at=at(5), projected_at=at(9))

    hops = journey(facts)

    assert [h.state for h in hops] == [HopState.REACHED] * 3 + [HopState.PENDING]
    assert hops[3].at is None
    assert hops[3].latency_ms is None
    assert end_to_end_ms(facts) is None


def test_a_dead_lettered_hop_is_failed_with_its_error_unless_it_was_reached_after_all() -> None:
    failed = OrderFacts(
        uuid4(), accepted_at=at(0), published_at=at(5), notification_error="webhook said 400"
    )
    redriven = OrderFacts(
        uuid4(),
        accepted_at=at(0),
        published_at=at(5),
        notified_at=at(900),
        notification_error="webhook said 400",
    )

    assert journey(failed)[3].state is HopState.FAILED
    assert journey(failed)[3].error == "webhook said 400"
    assert journey(redriven)[3].state is HopState.REACHED


def test_a_published_order_the_write_side_never_confirmed_shows_no_latency_for_publishing() -> None:
    hops = journey(OrderFacts(uuid4(), published_at=at(5)))
    assert hops[0].state is HopState.PENDING
    assert hops[1].state is HopState.REACHED
    assert hops[1].latency_ms is None


def counters(**values: float) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {series_key(name, {"outcome": "applied"}): value for name, value in values.items()}


def test_the_rate_is_the_increase_over_the_window_per_second() -> None:
    history = CounterHistory(window_seconds=60)
    assert history.rate("events_total") is None  # one scrape says nothing about a rate
    history.add(100.0, counters(events_total=10))
    assert history.rate("events_total") is None
    history.add(102.0, counters(events_total=14))
    history.add(104.0, counters(events_total=30))

    assert history.rate("events_total") == pytest.approx(5.0)  # (30 - 10) / 4 s
    assert history.rate("events_total", outcome="applied") == pytest.approx(5.0)
    assert history.rate("events_total", outcome="retried") == 0.0
    assert history.rate("other_total") == 0.0


def test_scrapes_older_than_the_window_are_forgotten() -> None:
    history = CounterHistory(window_seconds=10)
    history.add(0.0, counters(events_total=0))
    history.add(50.0, counters(events_total=1000))
    history.add(55.0, counters(events_total=1010))

    assert history.rate("events_total") == pytest.approx(2.0)  # only the last 10 s count


def test_a_counter_that_went_down_restarted_and_counts_from_zero() -> None:
    history = CounterHistory()
    history.add(0.0, counters(events_total=500))
    history.add(10.0, counters(events_total=20))  # the process restarted in between

    assert history.rate("events_total") == pytest.approx(2.0)


def test_a_where_clause_selects_series_by_their_labels() -> None:
    history = CounterHistory()
    for when, ok, failed in ((0.0, 0, 0), (2.0, 10, 4)):
        history.add(
            when,
            {
                series_key("http_requests_total", {"status": "201"}): ok,
                series_key("http_requests_total", {"status": "503"}): failed,
            },
        )

    server_errors = history.rate(
        "http_requests_total", where=lambda labels: labels["status"][0] == "5"
    )
    assert server_errors == pytest.approx(2.0)


def test_no_negative_times_on_the_console_when_clocks_disagree() -> None:
    """Each hop is stamped by another clock (createdAt by the order service, the record by the
    relay or broker, projected and notified by their services): a record stamped 2 s before
    its createdAt has no measurable latency, not `+-2000 ms`; the hop says which clock stamped
    it and by how much the two clocks disagree at least."""
    facts = OrderFacts(
        uuid4(),
        accepted_at=at(2000),
        published_at=at(0),
        projected_at=at(-21),
        notified_at=at(30),
    )

    hops = journey(facts)

    assert [h.latency_ms for h in hops] == [None, None, None, 30.0]
    assert [h.skew_ms for h in hops] == [None, 2000.0, 21.0, None]
    assert all(h.clock for h in hops)
    assert len({h.clock for h in hops}) == 4
    assert end_to_end_ms(facts) is None
    assert end_to_end_skew_ms(facts) == 1970.0
    late = OrderFacts(
        uuid4(), accepted_at=at(0), published_at=at(5), projected_at=at(1), notified_at=at(9)
    )
    assert end_to_end_ms(late) == 9.0
    assert end_to_end_skew_ms(late) is None


def test_an_events_hops_say_parked_with_the_version_it_waits_for() -> None:
    """A later event of an order: applied without a recorded time (the read model is past its
    version), parked by the notifier until version 2 is notified."""
    event = EventFacts(
        3,
        "OrderShipped",
        uuid4(),
        stored_at=T0,
        published_at=T0 + timedelta(milliseconds=4),
        projected=ConsumerSide(applied=True),
        notified=ConsumerSide(waiting_for=2),
    )

    hops = event_journey(event)

    assert [(h.name, h.state, h.waiting_for) for h in hops] == [
        ("accepted", HopState.REACHED, None),
        ("published", HopState.REACHED, None),
        ("projected", HopState.REACHED, None),
        ("notified", HopState.PARKED, 2),
    ]
    assert hops[1].latency_ms == 4.0
    assert hops[2].at is None
