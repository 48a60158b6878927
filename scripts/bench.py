"""Benchmark of the Order Service on the embedded servers: bounded load to 127.0.0.1 only.

    .venv/bin/python scripts/bench.py [--duration 20] [--concurrency 16] [--json out.json]

Starts the embedded servers and one Order Service process, sends POST /orders from
`concurrency` clients for `duration` seconds (and at most `--max-requests`), then prints
requests per second, latency percentiles, CPU milliseconds per order and peak RSS, and how
long the relay took to publish everything after the load stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from pymongo import MongoClient

from order_platform.embedded import EmbeddedServers, PlatformService


async def post_load(url: str, duration: float, concurrency: int, max_requests: int) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:

        async def worker(number: int) -> None:
            sent = 0
            while time.monotonic() < deadline and len(latencies) < max_requests:
                started = time.perf_counter()
                response = await client.post(
                    "/orders",
                    json={"customerName": f"Bench {number}-{sent}", "totalAmount": "199.90"},
                )
                latencies.append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise RuntimeError(f"unexpected {response.status_code}: {response.text}")
                sent += 1

        await asyncio.gather(*(worker(number) for number in range(concurrency)))
    return latencies


def cpu_ms(process: psutil.Process) -> float:
    times = process.cpu_times()
    children = sum(c.cpu_times().user + c.cpu_times().system for c in process.children(True))
    return (times.user + times.system + children) * 1000


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=1000)[int(fraction * 1000) - 1] if len(values) > 1 else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    log_dir = Path(tempfile.mkdtemp(prefix="order-platform-bench-"))
    with EmbeddedServers(log_dir=log_dir) as servers:
        env = {
            "MONGODB_URI": servers.mongodb_uri,
            "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap_servers,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            "LOG_LEVEL": "WARNING",
        }
        with PlatformService("order-service", env=env, log_dir=log_dir) as service:
            assert service.pid is not None
            service_process = psutil.Process(service.pid)
            server_processes = [psutil.Process(s.pid) for s in servers.all if s.pid]
            cpu_before = cpu_ms(service_process)
            servers_before = sum(cpu_ms(p) for p in server_processes)
            started = time.monotonic()
            latencies = asyncio.run(
                post_load(service.url, args.duration, args.concurrency, args.max_requests)
            )
            elapsed = time.monotonic() - started
            load_end = time.monotonic()
            mongo: MongoClient[dict[str, Any]] = MongoClient(servers.mongodb_uri)
            orders = mongo["order-write-db"]["orders"]
            while orders.count_documents({"outbox": {"$exists": True}}) and (
                time.monotonic() - load_end < 60
            ):
                time.sleep(0.05)
            relay_catch_up = time.monotonic() - load_end
            count = len(latencies)
            memory_gib = psutil.virtual_memory().total / 2**30
            service_cpu = cpu_ms(service_process) - cpu_before
            figures = {
                "machine": f"{os.cpu_count()} cores, {memory_gib:.0f} GiB",
                "concurrency": args.concurrency,
                "duration_s": round(elapsed, 2),
                "posts": count,
                "posts_per_second": round(count / elapsed, 1),
                "post_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
                "post_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
                "relay_catch_up_s": round(relay_catch_up, 2),
                "cpu_ms_per_order_service": round(service_cpu / count, 3),
                "cpu_ms_per_order_servers": round(
                    (sum(cpu_ms(p) for p in server_processes) - servers_before) / count, 3
                ),
                "peak_rss_mb_order_service": round(peak_rss_mb(service.pid), 1),
            }
            mongo.close()
    for name, value in figures.items():
        print(f"{name:>32}: {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
