"""Guarantee 5 with clocks that disagree: two Order Service replicas 30 s apart.

One replica runs under libfaketime (Debian's `faketime`, installed by `make test`), its clock
30 s ahead of the other's. Compared by their own clocks, the replica ahead would take the other
for departed and claim its entries, and both would publish them. On the database server's
clock they agree: nobody's entries are claimed while they beat, each event is published once.
"""

from __future__ import annotations

import glob
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from order_platform.devtools.embedded import KafkaServer, PlatformService
from tests.e2e.order_service.conftest import pending, post_orders, published_order_ids
from tests.support.fault_proxy import FaultProxy
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

SKEW = "+30s"


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        pytest.fail("libfaketime is missing: `make test` installs Debian's faketime package")
    return found[0]


async def test_guarantee_5_replicas_whose_clocks_are_30_s_apart_publish_each_event_once(
    kafka_server: KafkaServer,
    env: dict[str, str],
    database: Database[dict[str, Any]],
    tmp_path: Path,
) -> None:
    ahead_env = {**env, "LD_PRELOAD": libfaketime(), "FAKETIME": SKEW}
    with FaultProxy(kafka_server.host, kafka_server.port) as broker_path:
        # The punctual replica cannot reach the broker for a while, so its entries stay
        # pending in MongoDB, where the replica ahead could take them for abandoned.
        broker_path.blackhole()
        cut_off = {**env, "KAFKA_BOOTSTRAP_SERVERS": broker_path.address}
        with (
            PlatformService("order-service", env=cut_off, log_dir=tmp_path) as punctual,
            PlatformService("order-service", env=ahead_env, log_dir=tmp_path) as ahead,
        ):
            skew = re.search(r'"skew_s": (-?[\d.]+)', ahead.log())
            assert skew is not None, ahead.log()
            assert abs(float(skew[1]) + 30) < 2  # its own clock is 30 s ahead of the server's

            held = await post_orders(punctual.url, 20)
            written = await post_orders(ahead.url, 20)
            assert pending(database) >= len(held)
            beats = heartbeats(database)
            # Both relays beat three more times: each time, a replica that misjudged the
            # other's heartbeat would sweep and claim the held entries.
            wait_until(
                lambda: all(
                    heartbeats(database).get(owner, until) >= until + timedelta(seconds=3 * 3)
                    for owner, until in beats.items()
                ),
                timeout=30,
                what="three more heartbeats of both relays",
            )
            broker_path.heal()
            wait_until(lambda: pending(database) == 0, timeout=30, what="outbox drained")
            published = await published_order_ids(
                kafka_server.bootstrap_servers, env["ORDER_EVENTS_TOPIC"]
            )
            logs = punctual.log() + ahead.log()

    # While both beat, neither may take the other's entries (only a departed relay's).
    assert logs.count("outbox_entries_claimed") == 0, logs[-3000:]
    assert published == Counter(dict.fromkeys(held + written, 1)), logs[-3000:]


def heartbeats(database: Database[dict[str, Any]]) -> dict[str, datetime]:
    return {doc["_id"]: doc["aliveUntil"] for doc in database.outbox_relays.find()}
