"""The console's HTTP side on fakes: the page and its assets, the overview, where is my
order, and the redrive request (JSON only, valid coordinates, a known group)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from order_platform.building_blocks.http.service_app import Started
from order_platform.building_blocks.runtime.health import Readiness
from order_platform.console.application.attention import Attention
from order_platform.console.application.dead_letters import DeadLetterMonitor
from order_platform.console.application.orders import OrderTracker
from order_platform.console.application.pipeline import PipelineMonitor, Targets
from order_platform.console.application.ports import (
    DeadLetterSummary,
    Parked,
    ProjectedEvents,
    Projection,
    RedriveOutcome,
    Scrape,
    SeenEvent,
    SeenOrder,
    ServiceUnavailable,
)
from order_platform.console.entrypoints.web import ConsoleApi, create_app
from tests.support.asgi import serving

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
READS, NOTIFICATIONS = "reads", "notifications"


class FakeStream:
    def __init__(self, orders: Sequence[SeenOrder]) -> None:
        self.orders = list(orders)
        self.changes: list[SeenEvent] = []
        self.status: str | None = None

    def recent(self, limit: int) -> list[SeenOrder]:
        return self.orders[::-1][:limit]

    def find(self, query: str) -> SeenOrder | None:
        return next((o for o in self.orders if query in (str(o.order_id), o.correlation_id)), None)

    def events(self, order_id: UUID) -> list[SeenEvent]:
        creations = [
            SeenEvent(o.order_id, o.event_id, "OrderCreated", 1, o.created_at, o.published_at)
            for o in self.orders
            if o.order_id == order_id
        ]
        changes = [e for e in self.changes if e.order_id == order_id]
        return sorted([*creations, *changes], key=lambda e: e.version)


class FakeHops:
    def __init__(self) -> None:
        self.projected: dict[UUID, Projection] = {}
        self.notified: dict[UUID, datetime] = {}
        self.read_service_down = False
        self.asked = 0
        self.read_parked: dict[UUID, list[Parked]] = {}
        self.notifier_parked: dict[UUID, list[Parked]] = {}

    async def projections(self, order_ids: Sequence[UUID]) -> dict[UUID, Projection]:
        self.asked += 1
        if self.read_service_down:
            raise ServiceUnavailable("connection refused")
        return {i: self.projected[i] for i in order_ids if i in self.projected}

    async def notifications(self, event_ids: Sequence[UUID]) -> dict[UUID, datetime]:
        return {i: self.notified[i] for i in event_ids if i in self.notified}

    async def projected_events(self, order_id: UUID) -> ProjectedEvents:
        if self.read_service_down:
            raise ServiceUnavailable("connection refused")
        projection = self.projected.get(order_id)
        parked = {p.event_id: p for p in self.read_parked.get(order_id, [])}
        return ProjectedEvents(projection.version if projection else None, parked)

    async def parked_notifications(self, order_id: UUID) -> dict[UUID, Parked]:
        return {p.event_id: p for p in self.notifier_parked.get(order_id, [])}


class FakeDesk:
    def __init__(self) -> None:
        self.letters_by_group: dict[str, list[DeadLetterSummary]] = {READS: [], NOTIFICATIONS: []}
        self.redriven: list[tuple[str, Sequence[tuple[int, int]] | None]] = []

    async def letters(self, group: str) -> list[DeadLetterSummary]:
        return list(self.letters_by_group[group])

    async def redrive(self, group: str, chosen: Sequence[tuple[int, int]] | None) -> RedriveOutcome:
        self.redriven.append((group, chosen))
        return RedriveOutcome(sent=[f"{p}:{o}" for p, o in chosen or [(0, 0)]], skipped=[])


class NoProbe:
    async def scrape(self, url: str) -> Scrape:
        return Scrape(url, 0.0, error="connection refused")


def seen(correlation: str) -> SeenOrder:
    return SeenOrder(
        order_id=uuid4(),
        event_id=uuid4(),
        correlation_id=correlation,
        customer_name="Ada",
        total_amount="42.50",
        created_at=T0,
        published_at=T0 + timedelta(milliseconds=5),
        partition=0,
        offset=0,
    )


@pytest.fixture
def order() -> SeenOrder:
    return seen("corr-1")


@pytest.fixture
def hops() -> FakeHops:
    return FakeHops()


@pytest.fixture
def desk() -> FakeDesk:
    return FakeDesk()


@pytest.fixture
def attention() -> Attention:
    return Attention()


@pytest.fixture
def streams() -> list[FakeStream]:
    """The stream the client's console reads (one), for tests that add events to it."""
    return []


@pytest.fixture
async def client(
    order: SeenOrder,
    hops: FakeHops,
    desk: FakeDesk,
    attention: Attention,
    streams: list[FakeStream],
) -> AsyncIterator[httpx.AsyncClient]:
    stream = FakeStream([order])
    streams.append(stream)
    dead_letters = DeadLetterMonitor(desk, projection_group=READS, notification_group=NOTIFICATIONS)
    targets = Targets(["http://o"], ["http://r"], ["http://w"], "t", READS, NOTIFICATIONS)

    async def start() -> Started[ConsoleApi]:
        api = ConsoleApi(
            pipeline=PipelineMonitor(NoProbe(), targets),
            orders=OrderTracker(stream, hops, dead_letters),
            dead_letters=dead_letters,
            stream=stream,
            refresh_ms=1000,
            attention=attention,
        )
        return Started(api, Readiness({}), lambda: asyncio.sleep(0))

    async with serving(create_app(start), "localhost") as client:
        yield client


async def test_the_page_tells_the_background_loops_that_someone_watches(
    client: httpx.AsyncClient, attention: Attention
) -> None:
    assert not attention.watching()
    assert (await client.get("/api/overview")).status_code == 200
    assert attention.watching()


async def test_the_page_and_its_assets_come_from_the_console_only(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert 'data-refresh-ms="1000"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # no inline script: the CSP would refuse it
    script = await client.get("/static/console.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # text only: nothing a dead letter says is markup
    assert (await client.get("/static/../bootstrap.py")).status_code == 404
    assert (await client.get("/static/other.js")).status_code == 404


async def test_an_order_is_found_by_correlation_id_with_the_hops_the_services_know(
    client: httpx.AsyncClient, order: SeenOrder, hops: FakeHops
) -> None:
    hops.projected[order.order_id] = Projection(
        T0 + timedelta(milliseconds=20), order.created_at, order.event_id
    )

    found = (await client.get("/api/orders/corr-1")).json()

    assert found["orderId"] == str(order.order_id)
    assert [(h["name"], h["state"], h["latencyMs"]) for h in found["hops"]] == [
        ("accepted", "reached", None),
        ("published", "reached", 5.0),
        ("projected", "reached", 15.0),
        ("notified", "pending", None),
    ]
    assert found["endToEndMs"] is None
    assert (await client.get("/api/orders/unknown")).status_code == 404


async def test_a_read_service_that_is_down_leaves_projection_pending_and_says_so(
    client: httpx.AsyncClient, order: SeenOrder, hops: FakeHops
) -> None:
    hops.read_service_down = True
    hops.notified[order.event_id] = T0 + timedelta(milliseconds=30)

    found = (await client.get(f"/api/orders/{order.order_id}")).json()
    overview = (await client.get("/api/overview")).json()

    assert [h["state"] for h in found["hops"]] == ["reached", "reached", "pending", "reached"]
    assert found["unavailable"] == {"read-service": "connection refused"}
    assert overview["hopSources"] == {"read-service": "connection refused"}
    assert overview["pipeline"]["services"]["read-service"]["state"] == "unavailable"
    assert [row["orderId"] for row in overview["recent"]] == [str(order.order_id)]


async def test_a_complete_order_is_not_asked_about_again(
    client: httpx.AsyncClient, order: SeenOrder, hops: FakeHops
) -> None:
    hops.projected[order.order_id] = Projection(T0, order.created_at, order.event_id)
    hops.notified[order.event_id] = T0
    await client.get("/api/orders/corr-1")
    asked = hops.asked

    await client.get("/api/orders/corr-1")

    assert hops.asked == asked


async def test_a_dead_lettered_order_shows_failed_with_the_error(
    client: httpx.AsyncClient, order: SeenOrder, desk: FakeDesk
) -> None:
    desk.letters_by_group[NOTIFICATIONS].append(
        DeadLetterSummary(NOTIFICATIONS, 0, 7, T0, "webhook said 400", str(order.order_id), 0)
    )
    await client.post("/api/dead-letters/reads/redrive", json={"offsets": ["0:1"]})  # refreshes

    found = (await client.get(f"/api/orders/{order.order_id}")).json()

    notified = found["hops"][3]
    assert (notified["state"], notified["error"]) == ("failed", "webhook said 400")


def hop_states(event: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    return [(h["name"], h["state"], h["waitingFor"]) for h in event["hops"]]


async def test_where_is_my_order_shows_each_event_of_the_order_with_its_four_hops(
    client: httpx.AsyncClient, order: SeenOrder, hops: FakeHops, streams: list[FakeStream]
) -> None:
    confirmed = SeenEvent(order.order_id, uuid4(), "OrderConfirmed", 2, T0, T0)
    shipped = SeenEvent(order.order_id, uuid4(), "OrderShipped", 3, T0, T0)
    streams[0].changes = [confirmed, shipped]
    hops.projected[order.order_id] = Projection(T0, order.created_at, order.event_id, version=3)
    hops.notified |= {order.event_id: T0, confirmed.event_id: T0}

    found = (await client.get("/api/orders/corr-1")).json()

    assert [(e["eventType"], e["version"]) for e in found["events"]] == [
        ("OrderCreated", 1),
        ("OrderConfirmed", 2),
        ("OrderShipped", 3),
    ]
    assert found["events"][1]["eventId"] == str(confirmed.event_id)
    assert hop_states(found["events"][1]) == [
        ("accepted", "reached", None),
        ("published", "reached", None),
        ("projected", "reached", None),
        ("notified", "reached", None),
    ]
    assert [state for _, state, _ in hop_states(found["events"][2])] == [
        "reached",
        "reached",
        "reached",
        "pending",
    ]
    assert found["hops"] == found["events"][0]["hops"], "the creation's journey, as before"


async def test_a_parked_event_shows_as_parked_with_the_version_it_waits_for(
    client: httpx.AsyncClient,
    order: SeenOrder,
    hops: FakeHops,
    desk: FakeDesk,
    streams: list[FakeStream],
) -> None:
    """Version 2 was dead-lettered by the read side; version 3 waits for it on both sides."""
    confirmed = SeenEvent(order.order_id, uuid4(), "OrderConfirmed", 2, T0, T0)
    cancelled = SeenEvent(order.order_id, uuid4(), "OrderCancelled", 3, T0, T0)
    streams[0].changes = [confirmed, cancelled]
    hops.notified[confirmed.event_id] = T0
    hops.projected[order.order_id] = Projection(T0, order.created_at, order.event_id, version=1)
    hops.notified[order.event_id] = T0
    hops.read_parked[order.order_id] = [Parked(cancelled.event_id, 3, 2)]
    hops.notifier_parked[order.order_id] = [Parked(cancelled.event_id, 3, 2)]
    desk.letters_by_group[READS].append(
        DeadLetterSummary(READS, 0, 3, T0, "handler failed: boom", str(order.order_id), 0)
    )
    await client.post("/api/dead-letters/reads/redrive", json={"offsets": ["0:1"]})  # refreshes

    found = (await client.get(f"/api/orders/{order.order_id}")).json()

    creation, dead, parked = found["events"]
    assert [h["state"] for h in creation["hops"]] == ["reached"] * 4
    assert [(h["state"], h["error"]) for h in dead["hops"]][2:] == [
        ("failed", "handler failed: boom"),
        ("reached", None),
    ]
    assert (parked["eventType"], parked["version"]) == ("OrderCancelled", 3)
    assert hop_states(parked) == [
        ("accepted", "reached", None),
        ("published", "reached", None),
        ("projected", "parked", 2),
        ("notified", "parked", 2),
    ]


async def test_an_event_known_only_as_parked_is_shown_by_its_version(
    client: httpx.AsyncClient, order: SeenOrder, hops: FakeHops
) -> None:
    """Published before the console's window of the topic: the notifier still holds it."""
    held = uuid4()
    hops.projected[order.order_id] = Projection(T0, order.created_at, order.event_id, version=1)
    hops.notifier_parked[order.order_id] = [Parked(held, 4, 3)]

    found = (await client.get(f"/api/orders/{order.order_id}")).json()

    (_, only_parked) = found["events"]
    assert (only_parked["eventId"], only_parked["eventType"], only_parked["version"]) == (
        str(held),
        None,
        4,
    )
    assert hop_states(only_parked)[3] == ("notified", "parked", 3)
    assert hop_states(only_parked)[2] == ("projected", "pending", None)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"offsets": ["0:7"]}', "text/plain", 415),
        ("{}", "application/json", 422),
        ('{"offsets": ["0-7"]}', "application/json", 422),
        ("not json", "application/json", 422),
    ],
)
async def test_a_redrive_request_must_be_json_and_name_dead_letters(
    client: httpx.AsyncClient, desk: FakeDesk, body: str, content_type: str, status: int
) -> None:
    response = await client.post(
        "/api/dead-letters/reads/redrive", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == status, response.text
    assert desk.redriven == []


@pytest.mark.parametrize(
    "number", [b"1e9999999999999999999", b"1e-9999999999999999999", b"1e999999999999999999"]
)
async def test_guarantee_10_a_number_beyond_decimals_range_in_a_redrive_request_is_422(
    client: httpx.AsyncClient, desk: FakeDesk, number: bytes
) -> None:
    response = await client.post(
        "/api/dead-letters/reads/redrive",
        content=b'{"all": true, "note": ' + number + b"}",
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert "out of range" in response.json()["detail"]
    assert desk.redriven == []


async def test_a_redrive_goes_to_that_group_with_the_chosen_dead_letters(
    client: httpx.AsyncClient, desk: FakeDesk
) -> None:
    chosen = await client.post("/api/dead-letters/reads/redrive", json={"offsets": ["1:7", "0:2"]})
    every = await client.post("/api/dead-letters/notifications/redrive", json={"all": True})
    unknown = await client.post("/api/dead-letters/someone-else/redrive", json={"all": True})

    assert chosen.json() == {"sent": ["1:7", "0:2"], "skipped": []}
    assert every.status_code == 200
    assert unknown.status_code == 404
    assert desk.redriven == [(READS, [(1, 7), (0, 2)]), (NOTIFICATIONS, None)]


async def test_no_negative_times_on_the_console_in_where_is_my_order_and_recent_orders(
    client: httpx.AsyncClient, order: SeenOrder, hops: FakeHops
) -> None:
    """A record stamped 2 s before its createdAt (two clocks): no `+-2000 ms` anywhere."""
    hops.projected[order.order_id] = Projection(
        T0 - timedelta(seconds=2), order.created_at, order.event_id
    )
    hops.notified[order.event_id] = T0 - timedelta(seconds=1)

    found = (await client.get("/api/orders/corr-1")).json()
    recent = (await client.get("/api/overview")).json()["recent"][0]

    for shown in (found, recent):
        latencies = [hop["latencyMs"] for hop in shown["hops"]]
        assert all(latency is None or latency >= 0 for latency in latencies), latencies
        assert [hop["skewMs"] for hop in shown["hops"]] == [None, None, 2005.0, 1005.0]
        assert all(hop["clock"] for hop in shown["hops"])
        assert shown["endToEndMs"] is None
        assert shown["endToEndSkewMs"] == 1000.0
