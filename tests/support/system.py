"""The whole platform as processes for end-to-end tests, and a client that knows what it was told.

Each test gets its own databases, topic, consumer groups and Redis key prefixes (from its
`unique_name`), so tests share the session's embedded servers without seeing each other.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from order_platform.devtools.embedded import PlatformService
from tests.support.kafka_lag import uncommitted
from tests.support.waiting import eventually

NOTIFICATION = re.compile(
    r"📩 Notification sent to (?P<name>.+?) \| Order: (?P<order>[0-9a-f-]{36}) \| Total: \$(?P<total>\d+\.\d\d)"
)


@dataclass
class System:
    """One order service, `replicas` read services and workers, all on one topic."""

    order: PlatformService
    reads: list[PlatformService]
    workers: list[PlatformService]
    kafka_bootstrap: str
    topic: str
    groups: tuple[str, str]  # the read service's, the worker's
    write_db: str
    read_db: str

    @property
    def services(self) -> list[PlatformService]:
        return [self.order, *self.reads, *self.workers]

    def notified(self) -> Counter[str]:
        """Order ids of every notification line in the workers' logs (all their runs)."""
        return Counter(
            match["order"]
            for worker in self.workers
            for match in NOTIFICATION.finditer(worker.log())
        )

    async def wait_until_idle(self, *, timeout: float = 30.0) -> None:
        """Both consumer groups have committed the whole topic: every effect is durable."""

        async def caught_up() -> dict[str, int] | None:
            lag = await uncommitted(self.kafka_bootstrap, self.topic, self.groups)
            return lag if not any(lag.values()) else None

        await eventually(caught_up, timeout=timeout, interval=0.2, what="consumers caught up")

    def logs(self) -> str:
        """Every service's log tail, for assertion messages."""
        return "\n".join(
            f"--- {s.service}:{s.port}\n" + "\n".join(s.log().splitlines()[-20:])
            for s in self.services
        )


@contextmanager
def running_system(
    *,
    name: str,
    kafka_bootstrap: str,
    mongodb_uri: str,
    redis_url: str,
    log_dir: Path,
    replicas: int = 1,
    http_env: Mapping[str, str] | None = None,
) -> Iterator[System]:
    """Start every service with its own database, group and key prefix; stop them all after.
    `http_env` goes to the two HTTP services only (e.g. the AUTH_* settings)."""
    http = dict(http_env or {})
    common = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
        "MONGODB_URI": mongodb_uri,
        "REDIS_URL": redis_url,
        "ORDER_EVENTS_TOPIC": name,
        "LOG_FORMAT": "json",
    }
    reads = [
        PlatformService(
            "read-service",
            env=common
            | {
                "MONGODB_DATABASE": f"{name}-read",
                "CONSUMER_GROUP": f"{name}-reads",
                "CACHE_KEY_PREFIX": f"{name}:",
            }
            | http,
            log_dir=log_dir,
        )
        for _ in range(replicas)
    ]
    order = PlatformService(
        "order-service",
        env=common
        | {
            "MONGODB_DATABASE": f"{name}-write",
            "ORDER_LOCATION_BASE_URL": reads[0].url,
            "OUTBOX_LEASE_SECONDS": "2",
        }
        | http,
        log_dir=log_dir,
    )
    workers = [
        PlatformService(
            "notification-service",
            env=common
            | {
                "CONSUMER_GROUP": f"{name}-notifications",
                "NOTIFICATION_DEDUP_KEY_PREFIX": f"{name}-notifications",
                "NOTIFICATION_BACKOFF_BASE_SECONDS": "0.01",
                "NOTIFICATION_BACKOFF_MAX_SECONDS": "0.2",
            },
            log_dir=log_dir,
        )
        for _ in range(replicas)
    ]
    system = System(
        order=order,
        reads=reads,
        workers=workers,
        kafka_bootstrap=kafka_bootstrap,
        topic=name,
        groups=(f"{name}-reads", f"{name}-notifications"),
        write_db=f"{name}-write",
        read_db=f"{name}-read",
    )
    with ExitStack() as stack:
        for service in system.services:
            stack.callback(service.stop)
        # In parallel: each start is mostly an interpreter importing and a consumer joining.
        with ThreadPoolExecutor(max_workers=len(system.services)) as pool:
            list(pool.map(lambda service: service.start(), system.services))
        yield system


class Outcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"  # some attempt got 201
    REFUSED = "refused"  # every attempt was refused before anything could be stored
    UNKNOWN = "unknown"  # an attempt may have reached the service; its fate is not known


@dataclass
class LogicalOrder:
    """One order as the client meant it: one Idempotency-Key over all its attempts."""

    customer_name: str
    total_amount: str
    key: str = field(default_factory=lambda: str(uuid4()))
    outcome: Outcome = Outcome.REFUSED
    order: dict[str, Any] | None = None
    attempts: list[str] = field(default_factory=list)
    started: bool = False  # its first attempt is on its way


async def post_with_retries(
    client: httpx.AsyncClient, order: LogicalOrder, *, attempts: int, pause: float
) -> LogicalOrder:
    """POST until 201, at most `attempts` times; classify what the client may conclude.

    A refused connection or a 503 ("nothing was stored") is a refusal. A request that was sent
    but got no answer (the service died), or a 409 because such a request holds the key, may
    have stored the order: the outcome stays unknown unless a later attempt gets its 201.
    """
    body = {"customerName": order.customer_name, "totalAmount": order.total_amount}
    order.started = True
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(pause)
        try:
            response = await client.post(
                "/orders", json=body, headers={"Idempotency-Key": order.key}
            )
        except httpx.ConnectError:
            order.attempts.append("connect-error")
            continue
        except httpx.TransportError as error:
            order.attempts.append(type(error).__name__)
            order.outcome = Outcome.UNKNOWN
            continue
        order.attempts.append(str(response.status_code))
        if response.status_code == 201:
            order.outcome = Outcome.ACKNOWLEDGED
            order.order = response.json()
            return order
        if response.status_code == 409:
            order.outcome = Outcome.UNKNOWN
        elif response.status_code != 503:
            raise AssertionError(f"unexpected answer {response.status_code}: {response.text}")
    return order


def logical_orders(prefix: str, count: int) -> list[LogicalOrder]:
    """Distinct names, so that an order can be told apart in the logs without its id."""
    return [
        LogicalOrder(customer_name=f"{prefix} {number}", total_amount=f"{number % 97 + 1}.25")
        for number in range(count)
    ]


async def steady_traffic(
    url: str, orders: list[LogicalOrder], *, rate: float, attempts: int = 4, pause: float = 0.4
) -> None:
    """POST `orders` at `rate` per second, each retried on its own schedule; fills in outcomes."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        tasks = []
        for number, order in enumerate(orders):
            delay = started + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(
                    post_with_retries(client, order, attempts=attempts, pause=pause)
                )
            )
        await asyncio.gather(*tasks)


def acknowledged(orders: list[LogicalOrder]) -> int:
    return sum(order.outcome is Outcome.ACKNOWLEDGED for order in orders)


def walk_orders(url: str, *, limit: int = 200, max_pages: int = 100) -> list[dict[str, Any]]:
    """Every order the read service lists, following `Link: rel="next"` page by page."""
    orders: list[dict[str, Any]] = []
    next_url: str | None = f"/orders?limit={limit}"
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(max_pages):
            if next_url is None:
                return orders
            response = client.get(next_url)
            assert response.status_code == 200, response.text
            orders += response.json()
            link = response.links.get("next")
            next_url = link["url"] if link else None
    raise AssertionError(f"more than {max_pages} pages of orders")
