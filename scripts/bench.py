"""Benchmark of the whole platform, alone or beside the baseline design; load goes to 127.0.0.1.

    make bench ARGS="--duration 20 --concurrency 16 --json bench.json"
    make bench ARGS="--baseline ../shared/baseline/run.sh --repeat 2 --plot docs/bench.png"

Starts fresh embedded servers and a system's three services as processes, then measures,
with every request loop bounded in count and time:
  1. POST /orders at full load (closed loop): rate and latency, freshness sampled (201 ->
     first 200 on GET /orders/{id}), and how long the read side and the notifications need
     to catch up after the load stops;
  2. freshness at a fixed rate (default 300 POSTs/s), below saturation;
  3. GET /orders/{id} at full load;
  4. GET /orders first page, uncached (first read after a projection) and cached;
  5. with `--list-orders N` (the platform only): the read model filled to N orders through the
     topic, then the first page again, uncached, and while orders are written at 100/s;
  6. the platform only, unless `--no-lifecycle`: orders placed before (the earlier phases',
     topped up to `--lifecycle-orders`) confirmed, then shipped, by closed-loop clients for
     at most 15 s: transitions per second, the commands' latency, freshness (200 -> the new
     version readable), catch-up, and CPU per transition beside CPU per order of phase 1;
with the CPU the services and the servers spent, and the services' memory after the load.
With `--baseline`, the baseline design (`../shared/baseline/run.sh`) runs first on servers
of its own, then the platform, under the same load, `--repeat` times, and the table shows
both with their ratio for every run (these machines are noisy: compare within a run).
Both systems run on the same MongoDB layout, each layout of `--layouts` in every run (default
both): `one`, the write side, read side and read model on one server; `split`, the read model
on a server of its own. One table per layout; the JSON names each figure's layout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiohttp
import psutil
from bench_systems import LAYOUTS, TOPIC, Baseline, Platform, System

FRESHNESS_POLL_SECONDS = 0.002
FRESHNESS_GIVE_UP_SECONDS = 30.0
CATCH_UP_GIVE_UP_SECONDS = NOTIFIED_GIVE_UP_SECONDS = 120.0
LIFECYCLE_SECONDS = 15.0  # at most (and at most --duration): the phase adds to every run


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def percentiles(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        return {"p50_ms": ms(samples[0]) if samples else float("nan"), "p99_ms": float("nan")}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": ms(cuts[49]), "p99_ms": ms(cuts[98])}


def cpu_seconds(processes: dict[str, psutil.Process]) -> dict[str, float]:
    seconds = {}
    for name, process in processes.items():
        total = process.cpu_times()
        seconds[name] = total.user + total.system
        for child in process.children(recursive=True):
            times = child.cpu_times()
            seconds[name] += times.user + times.system
    return seconds


def rss_mb(processes: dict[str, psutil.Process]) -> float:
    return round(sum(p.memory_info().rss for p in processes.values()) / 2**20, 1)


class Load:
    def __init__(self, session: aiohttp.ClientSession, system: System) -> None:
        self.session = session
        self.order_url = system.order_url
        self.read_url = system.read_url
        self.created: list[str] = []
        self.give_ups = 0

    async def post(self, number: int) -> tuple[str, float]:
        started = time.perf_counter()
        body = {"customerName": f"Bench {number}", "totalAmount": "199.90"}
        async with self.session.post(f"{self.order_url}/orders", json=body) as response:
            payload = await response.json()
            if response.status != 201:
                raise RuntimeError(f"POST answered {response.status}: {payload}")
        finished = time.perf_counter()
        self.created.append(payload["id"])
        return payload["id"], finished - started

    async def freshness(self, order_id: str, acknowledged: float) -> float | None:
        """Seconds from the 201 to the first 200 on GET /orders/{id}; None if it never came."""
        return await self.readable(order_id, acknowledged, FRESHNESS_GIVE_UP_SECONDS)

    async def readable(
        self, order_id: str, since: float, give_up_s: float, version: int = 1
    ) -> float | None:
        """Seconds from `since` until the read side answers the order at `version` or later
        (the baseline's orders have no version: only the platform's are asked for more than 1)."""
        # The poll interval grows with the wait (5 % of it, 2 to 50 ms): fine resolution where
        # it matters, and a read side that is far behind is not buried under the probes' GETs.
        deadline = since + give_up_s
        while (now := time.perf_counter()) < deadline:
            async with self.session.get(f"{self.read_url}/orders/{order_id}") as response:
                body = await response.read()
                if response.status == 200 and (
                    version == 1 or json.loads(body)["version"] >= version
                ):
                    return time.perf_counter() - since
            await asyncio.sleep(min(max(FRESHNESS_POLL_SECONDS, (now - since) / 20), 0.05))
        self.give_ups += 1
        return None


async def closed_loop(
    duration: float, concurrency: int, max_requests: int, call: Callable[[int], Awaitable[float]]
) -> tuple[list[float], float]:
    """`concurrency` clients, each sending its next request when the last one is answered."""
    latencies: list[float] = []
    deadline = time.monotonic() + duration
    counter = iter(range(max_requests))

    async def client() -> None:
        while time.monotonic() < deadline:
            number = next(counter, None)
            if number is None:
                return
            latencies.append(await call(number))

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, time.monotonic() - started


async def wait_notified(
    system: System, expected: int, count: Callable[[], int] | None = None
) -> float:
    """Seconds until `expected` notifications were sent (NaN if they never were); `count`, when
    given, counts another kind of notification than the system's order-created ones."""
    count = count or system.notifications
    started = time.perf_counter()
    while count() < expected:
        if time.perf_counter() - started > NOTIFIED_GIVE_UP_SECONDS:
            return float("nan")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def measure(args: argparse.Namespace, system: System) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    services, servers = system.service_processes(), system.server_processes()
    connector = aiohttp.TCPConnector(limit=args.concurrency * 3)
    async with aiohttp.ClientSession(connector=connector) as session:
        load = Load(session, system)
        await load.post(-1)  # warm up connections and both services' first requests

        # 1. POSTs at full load, freshness sampled on every 50th order (each probe polls, and
        #    polling every order would measure the probes' own load).
        cpu_before = cpu_seconds(services | servers)
        fresh_samples: list[float] = []
        probes: list[asyncio.Task[None]] = []
        timeline: dict[str, list[tuple[float, float]]] = {"post": [], "freshness": []}
        began = time.perf_counter()

        timeline["gave_up"] = []

        async def sample(order_id: str, acknowledged: float) -> None:
            if (fresh := await load.freshness(order_id, acknowledged)) is not None:
                fresh_samples.append(fresh)
                timeline["freshness"].append((acknowledged - began, ms(fresh)))
            else:
                timeline["gave_up"].append((acknowledged - began, ms(FRESHNESS_GIVE_UP_SECONDS)))

        async def post(number: int) -> float:
            order_id, latency = await load.post(number)
            now = time.perf_counter()
            timeline["post"].append((now - began, ms(latency)))
            if number % 50 == 0:
                probes.append(asyncio.create_task(sample(order_id, now)))
            return latency

        latencies, elapsed = await closed_loop(
            args.duration, args.concurrency, args.max_requests, post
        )
        load_stopped = time.perf_counter()
        last = load.created[-args.concurrency :]
        read_done = asyncio.gather(
            *(load.readable(order_id, load_stopped, CATCH_UP_GIVE_UP_SECONDS) for order_id in last)
        )
        notified = asyncio.create_task(wait_notified(system, len(load.created)))
        caught_up = await read_done
        read_catch_up = (
            time.perf_counter() - load_stopped if None not in caught_up else float("nan")
        )
        load.give_ups -= caught_up.count(None)  # counted as a missing catch-up instead
        notify_catch_up = await notified  # counted from the load's end, like the read side
        await asyncio.gather(*probes)
        cpu_after = cpu_seconds(services | servers)
        orders = len(latencies)
        spent = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
        all_done = max(read_catch_up, notify_catch_up)  # NaN when either never caught up
        if read_catch_up != read_catch_up or notify_catch_up != notify_catch_up:
            all_done = float("nan")
        figures["post"] = {
            "orders": orders,
            "per_second": round(orders / elapsed, 1),
            **percentiles(latencies),
        }
        figures["freshness_full_load"] = {
            "samples": len(fresh_samples),
            "give_ups": load.give_ups,
            **percentiles(fresh_samples),
        }
        figures["read_side_catch_up_after_load_s"] = round(read_catch_up, 3)
        figures["notified_after_load_s"] = round(notify_catch_up, 3)
        figures["fully_processed_per_second"] = round(orders / (elapsed + all_done), 1)
        figures["cpu_ms_per_order"] = {
            "services": round(sum(spent[n] for n in services) * 1000 / orders, 3),
            "servers": round(sum(spent[n] for n in servers) * 1000 / orders, 3),
            **{name: round(seconds * 1000 / orders, 3) for name, seconds in spent.items()},
        }
        figures["services_rss_mb_after_load"] = rss_mb(services)

        # 2. Freshness at a fixed rate: an open loop, one POST every 1/rate seconds, every
        #    fifth one probed.
        fixed: list[float] = []
        load.give_ups = 0
        interval = 1 / args.fixed_rate
        count = int(args.fixed_rate * min(args.duration, 10))
        fixed_latencies: list[float] = []

        async def one_at_rate(number: int) -> None:
            order_id, latency = await load.post(number)
            fixed_latencies.append(latency)
            if number % 5 == 0:
                fresh = await load.freshness(order_id, time.perf_counter())
                if fresh is not None:
                    fixed.append(fresh)

        started = time.perf_counter()
        tasks = []
        for number in range(count):
            await asyncio.sleep(max(0.0, started + number * interval - time.perf_counter()))
            tasks.append(asyncio.create_task(one_at_rate(1_000_000 + number)))
        await asyncio.gather(*tasks)
        figures["fixed_rate"] = {
            "rate_per_s": args.fixed_rate,
            "achieved_per_s": round(count / (time.perf_counter() - started), 1),
            "post": percentiles(fixed_latencies),
            "freshness": {"samples": len(fixed), "give_ups": load.give_ups, **percentiles(fixed)},
        }

        # 3. GET /orders/{id} at full load over the orders of phase 1, all readable by now
        #    unless the read side never caught up (then the misses are counted, not timed).
        known = load.created[: orders + 1]
        misses = 0

        async def get_one(_: int) -> float:
            nonlocal misses
            started = time.perf_counter()
            order_id = random.choice(known)
            async with session.get(f"{load.read_url}/orders/{order_id}") as response:
                await response.read()
                if response.status == 404:
                    misses += 1
                elif response.status != 200:
                    raise RuntimeError(f"GET answered {response.status}")
            return time.perf_counter() - started

        cpu_before = cpu_seconds(services)
        gets, elapsed = await closed_loop(
            args.duration, args.concurrency, args.max_requests, get_one
        )
        cpu_after = cpu_seconds(services)
        figures["get_by_id"] = {
            "requests": len(gets),
            "not_found": misses,
            "per_second": round(len(gets) / elapsed, 1),
            "services_cpu_ms_per_get": round(
                sum(cpu_after[n] - cpu_before[n] for n in services) * 1000 / len(gets), 3
            ),
            **percentiles(gets),
        }

        # 4. GET /orders first page: the first read after a projection is uncached.
        uncached: list[float] = []
        cached: list[float] = []
        for number in range(30):
            order_id, _ = await load.post(2_000_000 + number)
            await load.freshness(order_id, time.perf_counter())
            for into in (uncached, cached, cached):
                started = time.perf_counter()
                async with session.get(f"{load.read_url}/orders?limit=50") as response:
                    await response.read()
                into.append(time.perf_counter() - started)
        figures["list_first_page"] = {
            "orders_in_read_model": len(load.created),
            "uncached": percentiles(uncached),
            "cached": percentiles(cached),
        }
        if args.list_orders and isinstance(system, Platform):
            figures["list_at_scale"] = await list_at_scale(args.list_orders, system, load)
        if args.lifecycle and isinstance(system, Platform):
            figures["lifecycle"] = await lifecycle(
                args, system, load, creation_cpu=figures["cpu_ms_per_order"]
            )
    figures["timeline"] = timeline
    return figures


async def list_at_scale(orders: int, system: Platform, load: Load) -> dict[str, Any]:
    """The first page at `orders` orders: the read model is filled through the topic (as a
    backlog of OrderCreated events, created over the past at 100/s), then read uncached right
    after a projection, and in a loop while orders are being written at 100 POSTs/s."""
    from aiokafka import AIOKafkaProducer

    from order_platform.contracts import OrderCreatedV1, event_headers

    missing = max(orders - len(load.created), 0)
    now = datetime.now(UTC)
    producer = AIOKafkaProducer(
        bootstrap_servers=system.servers.kafka_bootstrap_servers, acks="all", linger_ms=20
    )
    await producer.start()
    try:
        last: deque[str] = deque(maxlen=16)  # the newest, spread over the partitions
        for start in range(0, missing, 5_000):
            deliveries = []
            for number in range(start, min(start + 5_000, missing)):
                at = now - timedelta(milliseconds=10 * (missing - number))
                event = OrderCreatedV1(
                    event_id=uuid4(),
                    occurred_at=at,
                    order_id=uuid4(),
                    customer_name=f"Backlog {number}",
                    total_amount=Decimal("199.90"),
                    created_at=at,
                )
                deliveries.append(
                    await producer.send(
                        TOPIC,
                        event.to_json(),
                        key=str(event.order_id).encode(),
                        headers=event_headers(),
                    )
                )
                last.append(str(event.order_id))
            await asyncio.gather(*deliveries)
    finally:
        await producer.stop()
    filled = time.perf_counter()
    projected = await asyncio.gather(
        *(load.readable(order_id, filled, CATCH_UP_GIVE_UP_SECONDS * 3) for order_id in last)
    )
    if None in projected:
        return {"orders": orders, "error": "the backlog was not projected in time"}
    projection_s = time.perf_counter() - filled

    async def first_page() -> float:
        started = time.perf_counter()
        async with load.session.get(f"{load.read_url}/orders?limit=50") as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET /orders answered {response.status}")
        return time.perf_counter() - started

    uncached: list[float] = []
    for number in range(30):
        order_id, _ = await load.post(3_000_000 + number)
        await load.freshness(order_id, time.perf_counter())
        uncached.append(await first_page())

    writing: list[float] = []
    stop = asyncio.Event()

    async def write_at_100_per_s() -> None:
        started = time.perf_counter()
        for number in range(1_000):  # 10 s
            await asyncio.sleep(max(0.0, started + number / 100 - time.perf_counter()))
            await load.post(4_000_000 + number)
        stop.set()

    writer = asyncio.create_task(write_at_100_per_s())
    while not stop.is_set() and len(writing) < 5_000:
        writing.append(await first_page())
        await asyncio.sleep(0.01)
    await writer
    return {
        "orders": orders,
        "backlog_projected_in_s": round(projection_s, 1),
        "uncached": percentiles(uncached),
        "while_writing_100_per_s": {"reads": len(writing), **percentiles(writing)},
    }


async def lifecycle(
    args: argparse.Namespace, system: Platform, load: Load, creation_cpu: dict[str, float]
) -> dict[str, Any]:
    """Orders placed before, confirmed then shipped by closed-loop clients (each takes an
    order, confirms it, ships it once the confirmation is answered, takes the next): how many
    transitions are answered 200 per second and how fast, how soon each is readable with its
    new version (every 50th probed) and notified, and the CPU a transition costs beside the CPU
    an order's creation cost in phase 1 of the same run."""
    duration = min(args.duration, LIFECYCLE_SECONDS)
    # Setup, not measured: the earlier phases' orders (all readable by now), topped up to
    # --lifecycle-orders at full load, and the newest waited for on the read side.
    missing = max(args.lifecycle_orders - len(load.created), 0)
    topped_up = iter(range(missing))

    async def place() -> None:
        while (number := next(topped_up, None)) is not None:
            await load.post(5_000_000 + number)

    await asyncio.gather(*(place() for _ in range(args.concurrency)))
    placed = time.perf_counter()
    ready = await asyncio.gather(
        *(
            load.readable(order_id, placed, CATCH_UP_GIVE_UP_SECONDS)
            for order_id in load.created[-args.concurrency :]
        )
    )
    if None in ready:
        return {"error": "the orders placed for the phase were not readable in time"}
    pool = iter(list(load.created))

    services, servers = system.service_processes(), system.server_processes()
    latencies: dict[str, list[float]] = {"confirm": [], "ship": []}
    refused: dict[str, int] = {}
    fresh: list[float] = []
    gave_up = 0
    probes: list[asyncio.Task[None]] = []
    newest: deque[tuple[str, int]] = deque(maxlen=args.concurrency)  # last answered, spread
    notified_before = system.lifecycle_notifications()
    transitions = 0

    async def sample(order_id: str, version: int, answered: float) -> None:
        nonlocal gave_up
        seconds = await load.readable(order_id, answered, FRESHNESS_GIVE_UP_SECONDS, version)
        if seconds is None:
            gave_up += 1
        else:
            fresh.append(seconds)

    async def transition(order_id: str, command: str, body: dict[str, str] | None) -> bool:
        nonlocal transitions
        started = time.perf_counter()
        url = f"{system.order_url}/orders/{order_id}/{command}"
        async with load.session.post(url, json=body) as response:
            payload = await response.read()
        answered = time.perf_counter()
        if response.status != 200:
            key = f"{command} {response.status}"
            refused[key] = refused.get(key, 0) + 1
            return False
        latencies[command].append(answered - started)
        version = int(json.loads(payload)["version"])
        newest.append((order_id, version))
        transitions += 1
        if transitions % 50 == 0:
            probes.append(asyncio.create_task(sample(order_id, version, answered)))
        return True

    deadline = time.monotonic() + duration

    async def client() -> None:
        while time.monotonic() < deadline and (order_id := next(pool, None)) is not None:
            if await transition(order_id, "confirm", None) and time.monotonic() < deadline:
                await transition(order_id, "ship", {"trackingNumber": f"BENCH-{order_id[:8]}"})

    cpu_before = cpu_seconds(services | servers)
    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(args.concurrency)))
    elapsed = time.monotonic() - started
    stopped = time.perf_counter()
    pool_exhausted = next(pool, None) is None
    notified = asyncio.create_task(
        wait_notified(system, notified_before + transitions, system.lifecycle_notifications)
    )
    caught_up = await asyncio.gather(
        *(
            load.readable(order_id, stopped, CATCH_UP_GIVE_UP_SECONDS, version)
            for order_id, version in newest
        )
    )
    read_catch_up = time.perf_counter() - stopped if None not in caught_up else float("nan")
    notify_catch_up = await notified
    await asyncio.gather(*probes)
    cpu_after = cpu_seconds(services | servers)
    spent = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
    all_done = max(read_catch_up, notify_catch_up)
    if read_catch_up != read_catch_up or notify_catch_up != notify_catch_up:
        all_done = float("nan")
    per_transition = {
        "services": round(sum(spent[n] for n in services) * 1000 / max(transitions, 1), 3),
        "servers": round(sum(spent[n] for n in servers) * 1000 / max(transitions, 1), 3),
    }
    return {
        "seconds": round(elapsed, 2),
        "orders_available": len(load.created),
        "orders_placed_in_setup": missing,
        "pool_exhausted": pool_exhausted,
        "transitions": transitions,
        "confirmed": len(latencies["confirm"]),
        "shipped": len(latencies["ship"]),
        "refused": refused,
        "per_second": round(transitions / elapsed, 1),
        "post": percentiles(latencies["confirm"] + latencies["ship"]),
        "confirm": percentiles(latencies["confirm"]),
        "ship": percentiles(latencies["ship"]),
        "freshness": {"samples": len(fresh), "give_ups": gave_up, **percentiles(fresh)},
        "read_side_catch_up_after_load_s": round(read_catch_up, 3),
        "notified_after_load_s": round(notify_catch_up, 3),
        "fully_processed_per_second": round(transitions / (elapsed + all_done), 1),
        "cpu_ms_per_transition": {
            **per_transition,
            # Beside phase 1's CPU per order of the same run: a transition is one
            # compare-and-set write and one event, a creation one insert and one event.
            "services_vs_creation": round(per_transition["services"] / creation_cpu["services"], 2),
            "servers_vs_creation": round(per_transition["servers"] / creation_cpu["servers"], 2),
            **{
                name: round(seconds * 1000 / max(transitions, 1), 3)
                for name, seconds in spent.items()
            },
        },
    }


class SpanSink:
    """Accepts OTLP/HTTP exports and throws them away: the collector's cost is not ours."""

    def __init__(self) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"


# (label, path into the figures, how to compare: "higher" or "lower" is better)
TABLE: list[tuple[str, tuple[str, ...], str]] = [
    ("POST/s", ("post", "per_second"), "higher"),
    ("POST p50 ms", ("post", "p50_ms"), "lower"),
    ("POST p99 ms", ("post", "p99_ms"), "lower"),
    ("read side caught up after the load, s", ("read_side_catch_up_after_load_s",), "lower"),
    ("notified after the load, s", ("notified_after_load_s",), "lower"),
    ("freshness p50 ms, full load", ("freshness_full_load", "p50_ms"), "lower"),
    ("freshness p99 ms, full load", ("freshness_full_load", "p99_ms"), "lower"),
    ("freshness give-ups, full load", ("freshness_full_load", "give_ups"), "lower"),
    ("orders fully processed per second", ("fully_processed_per_second",), "higher"),
    ("POST p50 ms at the fixed rate", ("fixed_rate", "post", "p50_ms"), "lower"),
    ("POST p99 ms at the fixed rate", ("fixed_rate", "post", "p99_ms"), "lower"),
    ("freshness p50 ms at the fixed rate", ("fixed_rate", "freshness", "p50_ms"), "lower"),
    ("freshness p99 ms at the fixed rate", ("fixed_rate", "freshness", "p99_ms"), "lower"),
    ("GET /orders/{id} per second", ("get_by_id", "per_second"), "higher"),
    ("services' CPU ms per GET by id", ("get_by_id", "services_cpu_ms_per_get"), "lower"),
    ("GET /orders first page uncached p50 ms", ("list_first_page", "uncached", "p50_ms"), "lower"),
    ("orders in the read model then", ("list_first_page", "orders_in_read_model"), ""),
    ("services' CPU ms per order", ("cpu_ms_per_order", "services"), "lower"),
    ("servers' CPU ms per order", ("cpu_ms_per_order", "servers"), "lower"),
    ("services' RSS after the load, MB", ("services_rss_mb_after_load",), "lower"),
]


# The lifecycle phase's rows, the platform's alone (the baseline has no lifecycle).
LIFECYCLE_TABLE: list[tuple[str, tuple[str, ...]]] = [
    ("transitions per second (confirm, then ship; answered 200)", ("per_second",)),
    ("POST p50 ms (confirm and ship)", ("post", "p50_ms")),
    ("POST p99 ms (confirm and ship)", ("post", "p99_ms")),
    ("read side caught up after the load, s", ("read_side_catch_up_after_load_s",)),
    ("notified after the load, s", ("notified_after_load_s",)),
    ("freshness p50 ms (200 -> new version readable)", ("freshness", "p50_ms")),
    ("freshness p99 ms (200 -> new version readable)", ("freshness", "p99_ms")),
    ("freshness give-ups", ("freshness", "give_ups")),
    (
        "transitions fully processed per second (readable and notified)",
        ("fully_processed_per_second",),
    ),
    ("services' CPU ms per transition", ("cpu_ms_per_transition", "services")),
    (
        "... ÷ services' CPU ms per order (creation, same run)",
        ("cpu_ms_per_transition", "services_vs_creation"),
    ),
    ("servers' CPU ms per transition", ("cpu_ms_per_transition", "servers")),
    (
        "... ÷ servers' CPU ms per order (creation, same run)",
        ("cpu_ms_per_transition", "servers_vs_creation"),
    ),
]


def pick(figures: dict[str, Any], path: tuple[str, ...]) -> float:
    value: Any = figures
    for key in path:
        value = value[key]
    return float(value)


def number(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def side_by_side(runs: list[dict[str, dict[str, Any]]]) -> str:
    """A Markdown table: each figure for both systems and their ratio, one value per run."""
    lines = [
        "| figure | baseline | platform | platform ÷ baseline |",
        "| --- | --- | --- | --- |",
    ]
    for label, path, _ in TABLE:
        base = [pick(run["baseline"], path) for run in runs]
        ours = [pick(run["platform"], path) for run in runs]
        ratios = [o / b if b else float("nan") for b, o in zip(base, ours, strict=True)]
        lines.append(
            f"| {label} | {', '.join(map(number, base))} | {', '.join(map(number, ours))} "
            f"| {', '.join(f'{r:.2f}×' if r == r else 'n/a' for r in ratios)} |"
        )
    return "\n".join(lines)


def lifecycle_table(runs: list[dict[str, dict[str, Any]]]) -> str:
    """A Markdown table of the lifecycle phase, one value per run."""
    phases = [run["platform"].get("lifecycle") for run in runs]
    if not any(phases) or any(phase is None or "error" in phase for phase in phases):
        return "\n".join(f"run {n}: {json.dumps(p)}" for n, p in enumerate(phases, 1))
    lines = ["| figure | platform |", "| --- | --- |"]
    for label, path in LIFECYCLE_TABLE:
        values = [pick(phase, path) for phase in phases if phase]
        lines.append(f"| {label} | {', '.join(map(number, values))} |")
    refused = [sum(phase["refused"].values()) for phase in phases if phase]
    lines.append(f"| refused (not 200) | {', '.join(map(str, refused))} |")
    return "\n".join(lines)


def plot(results: dict[str, list[dict[str, dict[str, Any]]]], path: Path, concurrency: int) -> None:
    """POST latency and freshness over the full-load phase of the first run, both systems,
    one column per layout."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, grid = plt.subplots(
        2,
        len(results),
        figsize=(2 + 7 * len(results), 6),
        sharex=True,
        sharey="row",
        squeeze=False,
    )
    for column, (layout, runs) in enumerate(results.items()):
        latency, freshness = grid[0][column], grid[1][column]
        for name, colour in (("baseline", "tab:orange"), ("platform", "tab:blue")):
            if name not in runs[0]:
                continue
            timeline = runs[0][name]["timeline"]
            if timeline["post"]:
                xs, ys = zip(*timeline["post"], strict=True)
                latency.scatter(xs, ys, s=2, alpha=0.35, color=colour, label=name)
            if timeline["freshness"]:
                xs, ys = zip(*sorted(timeline["freshness"]), strict=True)
                freshness.plot(xs, ys, marker=".", color=colour, label=name)
            if timeline.get("gave_up"):
                xs, ys = zip(*sorted(timeline["gave_up"]), strict=True)
                freshness.scatter(
                    xs, ys, marker="x", color=colour, label=f"{name}: not readable within 30 s"
                )
        latency.set_title(LAYOUTS[layout])
        latency.set_yscale("log")
        freshness.set_yscale("log")
        freshness.set_xlabel("seconds into the full-load phase")
        for axes in (latency, freshness):
            axes.grid(True, which="both", alpha=0.3)
            axes.legend(loc="upper left", markerscale=4)
    grid[0][0].set_ylabel("POST /orders latency (ms)")
    grid[1][0].set_ylabel("freshness: 201 → readable (ms)")
    figure.suptitle(
        f"{concurrency} closed-loop clients, both systems on the same layout, first run"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )


def layouts(value: str) -> list[str]:
    """`--layouts one,split`: the names in the order given, each once."""
    chosen = list(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    if not chosen or any(name not in LAYOUTS for name in chosen):
        raise argparse.ArgumentTypeError(
            f"{value!r}: a comma-separated list of {', '.join(LAYOUTS)}"
        )
    return chosen


def run_system(make: Callable[[], System], args: argparse.Namespace) -> dict[str, Any]:
    system = make()
    try:
        return asyncio.run(measure(args, system))
    finally:
        system.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fixed-rate", type=float, default=300.0, help="POSTs/s for phase 2")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per phase")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--baseline", type=Path, help="the baseline's run.sh: measure it beside the platform"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each system and layout")
    parser.add_argument(
        "--layouts",
        type=layouts,
        default=",".join(LAYOUTS),
        help="MongoDB layouts, each run for both systems: "
        + "; ".join(f"{name}: {text}" for name, text in LAYOUTS.items())
        + " (default: all)",
    )
    parser.add_argument(
        "--list-orders",
        type=int,
        default=0,
        help="fill the platform's read model to this many orders, then time the first page",
    )
    parser.add_argument(
        "--platform-source",
        type=Path,
        help="run the platform's services from this src/ directory (e.g. of a `git worktree` of "
        "an older commit), to compare designs beside the same baseline",
    )
    parser.add_argument(
        "--lifecycle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the other phases, the platform's orders confirmed then shipped, for "
        f"--duration but at most {LIFECYCLE_SECONDS:.0f} s (default: on)",
    )
    parser.add_argument(
        "--lifecycle-orders",
        type=int,
        default=5_000,
        help="orders the lifecycle phase may change: the earlier phases' orders, topped up to "
        "this many by a setup step before it (the phase ends early when they run out)",
    )
    parser.add_argument("--plot", type=Path, help="write latency and freshness over time (PNG)")
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="export traces (OTLP/HTTP) to a sink in this process, to measure the overhead",
    )
    args = parser.parse_args()
    if args.baseline is not None and not args.baseline.is_file():
        parser.error(f"--baseline: no such file: {args.baseline}")

    log_dir = Path(tempfile.mkdtemp(prefix="order-platform-bench-"))
    sink = SpanSink() if args.tracing else None
    otlp = sink.url if sink else None
    # Layout by layout within each run, so that the machine's drift touches all of them alike.
    results: dict[str, list[dict[str, dict[str, Any]]]] = {layout: [] for layout in args.layouts}
    entries: list[dict[str, Any]] = []
    for number in range(args.repeat):
        for layout in args.layouts:
            run_dir = log_dir / f"run{number}" / layout
            run: dict[str, dict[str, Any]] = {}
            started = time.monotonic()
            if args.baseline is not None:
                run["baseline"] = run_system(
                    partial(Baseline, args.baseline.resolve(), run_dir, layout=layout), args
                )
            run["platform"] = run_system(
                partial(
                    Platform,
                    run_dir,
                    layout=layout,
                    otlp_endpoint=otlp,
                    source=args.platform_source,
                ),
                args,
            )
            results[layout].append(run)
            entries.append(
                {
                    "run": number + 1,
                    "layout": layout,
                    **{
                        name: {k: v for k, v in figures.items() if k != "timeline"}
                        for name, figures in run.items()
                    },
                }
            )
            print(
                f"run {number + 1} of {args.repeat}, layout {layout}: done in"
                f" {time.monotonic() - started:.0f} s",
                file=sys.stderr,
            )

    report = {
        "machine": machine(),
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "tracing": "exported over OTLP/HTTP to a local sink" if sink else "off",
        "layouts": {layout: LAYOUTS[layout] for layout in args.layouts},
        "runs": entries,
    }
    print(json.dumps(report, indent=2))
    if args.baseline is not None:
        print(
            f"\n{report['machine']}, {args.concurrency} clients, {args.duration:.0f} s phases,"
            f" {args.repeat} run(s) of each layout, both systems on the same layout,"
            " values per run:"
        )
        for layout, runs in results.items():
            print(f"\n### {LAYOUTS[layout]} (`{layout}`)\n")
            print(side_by_side(runs))
    if args.lifecycle:
        for layout, runs in results.items():
            print(f"\n### lifecycle (platform only), {LAYOUTS[layout]} (`{layout}`)\n")
            print(lifecycle_table(runs))
    for entry in entries:
        if scale := entry["platform"].get("list_at_scale"):
            print(
                f"\nrun {entry['run']}, layout {entry['layout']}, platform, first page of"
                f" GET /orders at scale: {json.dumps(scale)}"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(results, args.plot, args.concurrency)
    print(f"logs: {log_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
