"""Benchmark of the whole platform on the embedded servers; load goes to 127.0.0.1 only.

    make bench ARGS="--duration 20 --concurrency 16 --json bench.json"

Starts the embedded servers and the three services as processes, then measures, with every
request loop bounded in count and time:
  1. POST /orders at full load: rate and latency, with freshness sampled (201 -> first 200
     on GET /orders/{id}) and how long the read side needs to catch up after the load stops;
  2. freshness at a fixed rate (default 300 POSTs/s);
  3. GET /orders/{id} at full load;
  4. GET /orders first page, uncached (first read after a projection) and cached;
and the CPU milliseconds per order of the services and of the servers, and each service's
peak RSS. Prints the figures and writes them as JSON.
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from order_platform.devtools.embedded import EmbeddedServers, PlatformService

SERVICES = {"order-service": 1, "read-service": 2, "notification-service": 3}
FRESHNESS_POLL_SECONDS = 0.002
FRESHNESS_GIVE_UP_SECONDS = 30.0


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def percentiles(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        return {"p50_ms": ms(samples[0]) if samples else float("nan"), "p99_ms": float("nan")}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": ms(cuts[49]), "p99_ms": ms(cuts[98])}


class Platform:
    """The embedded servers and the three services, as in `order-platform dev`."""

    def __init__(self, log_dir: Path, *, otlp_endpoint: str | None = None) -> None:
        self.servers = EmbeddedServers(log_dir=log_dir)
        self.services: dict[str, PlatformService] = {}
        self.log_dir = log_dir
        self.otlp_endpoint = otlp_endpoint

    def __enter__(self) -> Platform:
        self.servers.start()
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.servers.kafka_bootstrap_servers,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            "MONGODB_URI": self.servers.mongodb_uri,
            "REDIS_URL": self.servers.redis_url,
            "LOG_LEVEL": "WARNING",
        }
        if self.otlp_endpoint:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.otlp_endpoint
        own_database = {"read-service": {"MONGODB_URI": self.servers.read_mongodb_uri}}
        for name in SERVICES:
            self.services[name] = PlatformService(
                name, env=env | own_database.get(name, {}), log_dir=self.log_dir
            ).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for service in reversed(self.services.values()):
            service.stop()
        self.servers.close()

    def url(self, name: str) -> str:
        return self.services[name].url

    def processes(self) -> dict[str, psutil.Process]:
        found = {name: psutil.Process(s.pid) for name, s in self.services.items() if s.pid}
        for server in self.servers.all:
            if server.pid:
                found[server.name] = psutil.Process(server.pid)
        return found


def cpu_seconds(process: psutil.Process) -> float:
    total = process.cpu_times()
    seconds = total.user + total.system
    for child in process.children(recursive=True):
        times = child.cpu_times()
        seconds += times.user + times.system
    return seconds


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


class Load:
    def __init__(self, session: aiohttp.ClientSession, order_url: str, read_url: str) -> None:
        self.session = session
        self.order_url = order_url
        self.read_url = read_url
        self.created: list[str] = []

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

    async def freshness(self, order_id: str, acknowledged: float) -> float:
        """Seconds from the 201 to the first 200 on GET /orders/{id}."""
        deadline = acknowledged + FRESHNESS_GIVE_UP_SECONDS
        while time.perf_counter() < deadline:
            async with self.session.get(f"{self.read_url}/orders/{order_id}") as response:
                await response.read()
                if response.status == 200:
                    return time.perf_counter() - acknowledged
            await asyncio.sleep(FRESHNESS_POLL_SECONDS)
        raise RuntimeError(f"order {order_id} not readable within {FRESHNESS_GIVE_UP_SECONDS} s")


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


async def measure(args: argparse.Namespace, platform_: Platform) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    processes = platform_.processes()
    connector = aiohttp.TCPConnector(limit=args.concurrency * 3)
    async with aiohttp.ClientSession(connector=connector) as session:
        load = Load(session, platform_.url("order-service"), platform_.url("read-service"))
        await load.post(-1)  # warm up connections and both services' first requests

        # 1. POSTs at full load, freshness sampled on every 50th order (each probe polls, and
        #    polling every order would measure the probes' own load).
        cpu_before = {name: cpu_seconds(p) for name, p in processes.items()}
        fresh_samples: list[float] = []
        probes: list[asyncio.Task[None]] = []

        async def sample(order_id: str, acknowledged: float) -> None:
            fresh_samples.append(await load.freshness(order_id, acknowledged))

        async def post(number: int) -> float:
            order_id, latency = await load.post(number)
            if number % 50 == 0:
                probes.append(asyncio.create_task(sample(order_id, time.perf_counter())))
            return latency

        latencies, elapsed = await closed_loop(
            args.duration, args.concurrency, args.max_requests, post
        )
        load_stopped = time.perf_counter()
        last = load.created[-args.concurrency :]
        await asyncio.gather(*(load.freshness(order_id, load_stopped) for order_id in last))
        catch_up = time.perf_counter() - load_stopped
        await asyncio.gather(*probes)
        cpu_after = {name: cpu_seconds(p) for name, p in processes.items()}
        orders = len(latencies)
        services_cpu = sum(cpu_after[n] - cpu_before[n] for n in SERVICES)
        servers_cpu = sum(cpu_after[n] - cpu_before[n] for n in cpu_after if n not in SERVICES)
        figures["post"] = {
            "orders": orders,
            "per_second": round(orders / elapsed, 1),
            **percentiles(latencies),
        }
        figures["freshness_full_load"] = {
            "samples": len(fresh_samples),
            **percentiles(fresh_samples),
        }
        figures["read_side_catch_up_after_load_s"] = round(catch_up, 3)
        figures["cpu_ms_per_order"] = {
            "services": round(services_cpu * 1000 / orders, 3),
            "servers": round(servers_cpu * 1000 / orders, 3),
            **{
                name: round((cpu_after[name] - cpu_before[name]) * 1000 / orders, 3)
                for name in cpu_after
            },
        }

        # 2. Freshness at a fixed rate: an open loop, one POST every 1/rate seconds, every
        #    fifth one probed.
        fixed: list[float] = []
        interval = 1 / args.fixed_rate
        count = int(args.fixed_rate * min(args.duration, 10))

        async def one_at_rate(number: int) -> None:
            order_id, _ = await load.post(number)
            if number % 5 == 0:
                fixed.append(await load.freshness(order_id, time.perf_counter()))

        started = time.perf_counter()
        tasks = []
        for number in range(count):
            await asyncio.sleep(max(0.0, started + number * interval - time.perf_counter()))
            tasks.append(asyncio.create_task(one_at_rate(1_000_000 + number)))
        await asyncio.gather(*tasks)
        figures["freshness_fixed_rate"] = {
            "rate_per_s": args.fixed_rate,
            "samples": len(fixed),
            **percentiles(fixed),
        }

        # 3. GET /orders/{id} at full load over the orders just created.
        known = load.created

        async def get_one(_: int) -> float:
            started = time.perf_counter()
            order_id = random.choice(known)
            async with session.get(f"{load.read_url}/orders/{order_id}") as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET answered {response.status}")
            return time.perf_counter() - started

        gets, elapsed = await closed_loop(
            args.duration, args.concurrency, args.max_requests, get_one
        )
        figures["get_by_id"] = {
            "requests": len(gets),
            "per_second": round(len(gets) / elapsed, 1),
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
            "orders_in_read_model": len(known) + 31,
            "uncached": percentiles(uncached),
            "cached": percentiles(cached),
        }
    figures["load_generator_cpu_s"] = round(cpu_seconds(psutil.Process()), 1)
    figures["peak_rss_mb"] = {
        name: peak_rss_mb(s.pid) for name, s in platform_.services.items() if s.pid
    }
    return figures


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fixed-rate", type=float, default=300.0, help="POSTs/s for phase 2")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per phase")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="export traces (OTLP/HTTP) to a sink in this process, to measure the overhead",
    )
    args = parser.parse_args()

    log_dir = Path(tempfile.mkdtemp(prefix="order-platform-bench-"))
    sink = SpanSink() if args.tracing else None
    with Platform(log_dir, otlp_endpoint=sink.url if sink else None) as platform_:
        figures = {
            "machine": f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
            f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "tracing": "exported over OTLP/HTTP to a local sink" if sink else "off",
            **asyncio.run(measure(args, platform_)),
        }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"logs: {log_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
