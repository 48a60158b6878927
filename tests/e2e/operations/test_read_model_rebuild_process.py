"""`order-platform read-model rebuild` as a process, beside the services as processes."""

from __future__ import annotations

import asyncio
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from order_platform.devtools.embedded import PlatformService
from tests.support.system import (
    System,
    acknowledged,
    logical_orders,
    steady_traffic,
    walk_orders,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


async def run_rebuild(read: PlatformService, order_url: str, *args: str) -> tuple[int, str, str]:
    """The command as an operator runs it: the read service's environment plus ORDER_SERVICE_URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "order_platform.cli",
        "read-model",
        "rebuild",
        *args,
        env=read.environment() | {"ORDER_SERVICE_URL": order_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def stored_ids(mongo: MongoClient[dict[str, Any]], system: System) -> set[str]:
    return {document["_id"] for document in mongo[system.write_db].orders.find({}, {"_id": 1})}


@dataclass
class Reads:
    """What readers saw while the rebuild ran."""

    statuses: Counter[int] = field(default_factory=Counter)
    wrong_404: list[str] = field(default_factory=list)
    empty_lists: int = 0


async def keep_reading(url: str, readable: list[str], reads: Reads, stop: asyncio.Event) -> None:
    """Orders that were readable before, and the first page, over and over until `stop`."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while not stop.is_set():
            order_id = random.choice(readable)
            response = await client.get(f"/orders/{order_id}")
            reads.statuses[response.status_code] += 1
            if response.status_code == 404:
                reads.wrong_404.append(order_id)
            listing = await client.get("/orders?limit=50")
            reads.statuses[listing.status_code] += 1
            if listing.status_code == 200 and not listing.json():
                reads.empty_lists += 1


async def test_rebuild_under_load_lists_every_stored_order_once_and_reads_never_fail(
    system: System, mongo: MongoClient[dict[str, Any]], unique_name: str
) -> None:
    before = logical_orders(f"{unique_name} before", 300)
    await steady_traffic(system.order.url, before, rate=150)
    await system.wait_until_idle(timeout=60)
    readable = [order.order["id"] for order in before if order.order]
    read = system.reads[0]

    reads, stop = Reads(), asyncio.Event()
    reader = asyncio.create_task(keep_reading(read.url, readable, reads, stop))
    during = logical_orders(f"{unique_name} during", 400)
    traffic = asyncio.create_task(steady_traffic(system.order.url, during, rate=40))
    status, out, err = await run_rebuild(read, system.order.url)
    posted_during_rebuild = acknowledged(during)
    await traffic
    await system.wait_until_idle(timeout=60)
    stop.set()
    await reader

    assert status == 0, f"{out}\n{err}\n{system.logs()}"
    assert posted_during_rebuild > 0, "orders were posted while the rebuild ran"
    assert "Rebuilt" in out
    assert "orders" in err  # progress, as plain lines: stderr is not a terminal here
    assert sum(reads.statuses.values()) > 50, reads
    assert not [s for s in reads.statuses if s >= 500], reads.statuses
    assert reads.wrong_404 == []
    assert reads.empty_lists == 0
    stored = stored_ids(mongo, system)
    assert len(stored) == 700
    listed = Counter(order["id"] for order in walk_orders(read.url))
    assert set(listed) == stored
    assert max(listed.values()) == 1
    async with httpx.AsyncClient(base_url=read.url, timeout=10) as client:
        for order_id in random.sample(sorted(stored), 100):
            assert (await client.get(f"/orders/{order_id}")).status_code == 200
    pointer = mongo[system.read_db].read_model_active.find_one({"_id": "pointer"})
    assert pointer is not None
    assert pointer["active"] != ""
    assert pointer["building"] is None
    assert "orders" not in mongo[system.read_db].list_collection_names()  # the old one dropped


async def test_rebuild_after_the_topic_lost_its_events_still_reads_every_stored_order(
    system: System,
    mongo: MongoClient[dict[str, Any]],
    unique_name: str,
    tmp_path: Path,
) -> None:
    orders = logical_orders(unique_name, 200)
    await steady_traffic(system.order.url, orders, rate=150)
    await system.wait_until_idle(timeout=60)
    # A read service whose topic holds none of those events (retention deleted them, or the
    # topic was recreated): its read model starts, and stays, empty.
    fresh = f"{unique_name}-fresh"
    read = PlatformService(
        "read-service",
        env=system.reads[0].env
        | {
            "ORDER_EVENTS_TOPIC": fresh,
            "MONGODB_DATABASE": f"{fresh}-read",
            "CONSUMER_GROUP": f"{fresh}-reads",
            "CACHE_KEY_PREFIX": f"{fresh}:",
        },
        log_dir=tmp_path,
    )
    with read:
        async with httpx.AsyncClient(base_url=read.url, timeout=10) as client:
            assert (await client.get("/orders")).json() == []

        status, out, err = await run_rebuild(read, system.order.url)

        assert status == 0, f"{out}\n{err}\n{read.log_tail()}"
        stored = stored_ids(mongo, system)

        async def listed_everything() -> Counter[str] | None:
            listed = Counter(order["id"] for order in walk_orders(read.url))
            return listed if set(listed) == stored else None

        listed = await eventually(listed_everything, timeout=10, what="every stored order")
        assert max(listed.values()) == 1
        assert len(stored) == 200
