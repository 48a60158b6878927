"""The read model's rebuild against the embedded MongoDB: the Order Service's export served
in-process (ASGI), the read side through the read service's own adapter."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.operations.read_model_rebuild import (
    RebuildFailed,
    RebuildOptions,
    SourceUnreachable,
    rebuild,
)
from order_platform.operations.rebuild_command import (
    RebuildSettings,
    TerminalProgress,
    run_rebuild,
)
from order_platform.order_service.bootstrap import create_http_app
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from order_platform.read_service.bootstrap import open_rebuild_target
from order_platform.read_service.domain import OrderChange, OrderView
from order_platform.read_service.infrastructure.generations import MongoReadModelGenerations
from order_platform.read_service.infrastructure.rebuild_target import ReadModelRebuildTarget
from order_platform.read_service.infrastructure.settings import ReadServiceSettings
from tests.support.asgi import serving
from tests.support.identity_provider import (
    AUDIENCE,
    ISSUER,
    IdentityProvider,
    SigningKey,
    serving_jwks,
)

Database = AsyncDatabase[dict[str, Any]]


async def no_wait(seconds: float) -> None:
    """No projection runs beside these tests: nothing to wait for."""


@pytest.fixture
async def orders_service(
    mongodb_uri: str, kafka_bootstrap: str, unique_name: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = OrderServiceSettings(
        mongodb_uri=mongodb_uri,
        mongodb_database=f"{unique_name}-write",
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_enable_idempotence=False,
        order_events_topic=unique_name,
    )
    async with serving(create_http_app(settings), "orders") as client:
        yield client


@pytest.fixture
async def read_db(mongodb_uri: str, unique_name: str) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    yield client[f"{unique_name}-read"]
    await client.close()


@pytest.fixture
async def target(mongodb_uri: str, unique_name: str) -> AsyncIterator[ReadModelRebuildTarget]:
    target = open_rebuild_target(
        ReadServiceSettings(mongodb_uri=mongodb_uri, mongodb_database=f"{unique_name}-read")
    )
    yield target
    await target.close()


async def post(client: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    return [
        (await client.post("/orders", json={"customerName": f"C{n}", "totalAmount": n + 1})).json()
        for n in range(count)
    ]


def options(**overrides: Any) -> RebuildOptions:
    return RebuildOptions(order_service_url="http://orders", **overrides)


async def test_a_wrong_read_model_is_replaced_by_every_stored_order_once(
    orders_service: httpx.AsyncClient, read_db: Database, target: ReadModelRebuildTarget
) -> None:
    stored = await post(orders_service, 25)
    generations = MongoReadModelGenerations(read_db, pointer_ttl_seconds=0)
    # The old model: one order projected with a wrong name, one that was never stored.
    wrong = stored[0] | {"customerName": "Wrong"}
    phantom = OrderView(uuid4(), "Phantom", Decimal(1), datetime.now(UTC), uuid4())
    await generations.model("").apply(
        [
            OrderView(
                UUID(wrong["id"]),
                "Wrong",
                Decimal(wrong["totalAmount"]),
                datetime.fromisoformat(wrong["createdAt"]),
                uuid4(),
            ),
            phantom,
        ]
    )
    err = io.StringIO()

    report = await rebuild(
        target, options(batch_size=10), TerminalProgress(err), sleep=no_wait, http=orders_service
    )

    assert report.orders == 25
    assert report.previous == ""
    live = await generations.current()
    assert live.active == report.generation
    assert live.building is None
    model = generations.model(live.active)
    page = await model.page(200, None)
    assert sorted(str(v.id) for v in page.orders) == sorted(o["id"] for o in stored)
    by_id = {str(v.id): v for v in page.orders}
    assert by_id[stored[0]["id"]].customer_name == "C0"
    assert await model.get(phantom.id) is None
    assert "orders" not in await read_db.list_collection_names()  # the old one was dropped
    assert "25/25 orders" in err.getvalue()


async def test_a_rebuild_copies_each_orders_life_and_applies_what_was_parked_for_it(
    orders_service: httpx.AsyncClient, read_db: Database
) -> None:
    placed, confirmed, shipped = await post(orders_service, 3)
    for order, commands in ((confirmed, ["confirm"]), (shipped, ["confirm", "ship"])):
        for command in commands:
            response = await orders_service.post(f"/orders/{order['id']}/{command}", json={})
            assert response.status_code == 200, response.text
    generations = MongoReadModelGenerations(read_db, pointer_ttl_seconds=0)

    class ParkFirst(ReadModelRebuildTarget):
        """A cancel the projection parked in the generation being built before the copy."""

        async def begin(self, generation: str, *, stale_after: timedelta) -> str | None:
            begun = await super().begin(generation, stale_after=stale_after)
            cancel = OrderChange(uuid4(), UUID(confirmed["id"]), 3, "cancelled", datetime.now(UTC))
            await generations.model(generation).stage_changes([cancel])
            return begun

    async def nothing_to_close() -> None:
        pass

    parking = ParkFirst(generations, where="the test's MongoDB", close=nothing_to_close)
    report = await rebuild(
        parking, options(), TerminalProgress(io.StringIO()), sleep=no_wait, http=orders_service
    )

    model = generations.model(report.generation)
    lives = {
        order["id"]: ((view := await model.get(UUID(order["id"]))) and (view.status, view.version))
        for order in (placed, confirmed, shipped)
    }
    assert lives == {
        placed["id"]: ("placed", 1),
        confirmed["id"]: ("cancelled", 3),  # confirmed (copied), then the parked cancel
        shipped["id"]: ("shipped", 3),
    }
    assert await model.parked() == []


async def test_keep_old_keeps_the_previous_generation(
    orders_service: httpx.AsyncClient, read_db: Database, target: ReadModelRebuildTarget
) -> None:
    await post(orders_service, 3)
    first = await rebuild(
        target, options(), TerminalProgress(io.StringIO()), sleep=no_wait, http=orders_service
    )

    second = await rebuild(
        target,
        options(keep_old=True),
        TerminalProgress(io.StringIO()),
        sleep=no_wait,
        http=orders_service,
    )

    assert second.previous == first.generation
    names = set(await read_db.list_collection_names())
    assert {f"orders_{first.generation}", f"orders_{second.generation}"} <= names


async def test_a_dry_run_changes_nothing(
    orders_service: httpx.AsyncClient, read_db: Database, target: ReadModelRebuildTarget
) -> None:
    await post(orders_service, 3)

    report = await rebuild(
        target,
        options(dry_run=True),
        TerminalProgress(io.StringIO()),
        sleep=no_wait,
        http=orders_service,
    )

    assert report.dry_run
    assert report.estimated_total == 3
    assert report.orders == 0
    assert await read_db.list_collection_names() == []


async def test_an_export_cut_short_is_never_switched_to(
    read_db: Database, target: ReadModelRebuildTarget
) -> None:
    line = json.dumps(
        {
            "id": str(uuid4()),
            "customerName": "A",
            "totalAmount": "1.00",
            "createdAt": "2026-11-25T08:00:00.000Z",
            "eventId": None,
        }
    )

    def cut(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=f"{line}\n".encode())  # no end line

    async with httpx.AsyncClient(transport=httpx.MockTransport(cut), base_url="http://o") as http:
        with pytest.raises(RebuildFailed, match="without its end line"):
            await rebuild(
                target, options(), TerminalProgress(io.StringIO()), sleep=no_wait, http=http
            )

    generations = MongoReadModelGenerations(read_db, pointer_ttl_seconds=0)
    assert (await generations.current()).building is None
    assert (await generations.current()).active == ""
    assert not [n for n in await read_db.list_collection_names() if n.startswith("orders_")]


@pytest.mark.parametrize(
    "line",
    [
        b'"totalAmount": "1e999999999999999999"',
        b'"totalAmount": 1e9999999999999999999',
        b'"totalAmount": "1.00", "note": 1e-9999999999999999999',
    ],
    ids=["amount beyond range", "amount beyond what Decimal parses", "unknown field"],
)
async def test_guarantee_10_an_export_line_with_a_number_beyond_decimals_range_is_refused(
    read_db: Database, target: ReadModelRebuildTarget, line: bytes
) -> None:
    order = b'{"id": "%s", "customerName": "A", "createdAt": "2026-11-25T08:00:00.000Z", %s}'
    export = order % (str(uuid4()).encode(), line) + b'\n{"end": true, "count": 1}\n'

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=export)

    async with httpx.AsyncClient(transport=httpx.MockTransport(serve), base_url="http://o") as http:
        with pytest.raises(RebuildFailed, match=r"a line it cannot read: .*out of range"):
            await rebuild(
                target, options(), TerminalProgress(io.StringIO()), sleep=no_wait, http=http
            )

    assert (await MongoReadModelGenerations(read_db, pointer_ttl_seconds=0).current()).active == ""


async def test_an_unreachable_order_service_is_one_sentence(
    target: ReadModelRebuildTarget, unused_tcp_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}"

    with pytest.raises(SourceUnreachable, match=f"cannot be reached at {url}") as failure:
        await rebuild(
            target,
            RebuildOptions(order_service_url=url),
            TerminalProgress(io.StringIO()),
            sleep=no_wait,
        )

    assert failure.value.exit_code == 69
    assert (await target.live()) == ("", None)


def test_progress_is_plain_lines_off_a_terminal() -> None:
    err = io.StringIO()
    progress = TerminalProgress(err, every=0)
    progress.started(2000)
    progress.advanced(1000)
    progress.advanced(2000)

    lines = err.getvalue().splitlines()
    assert lines[0] == "copying about 2,000 stored orders from the Order Service"
    assert lines[1].startswith("rebuilt 1,000/2,000 orders")
    assert "left" in lines[1]
    assert "\r" not in err.getvalue()


async def test_a_second_rebuild_is_refused_while_one_is_building(
    orders_service: httpx.AsyncClient, read_db: Database, target: ReadModelRebuildTarget
) -> None:
    await MongoReadModelGenerations(read_db).begin("g-other", stale_after=timedelta(minutes=1))

    with pytest.raises(RebuildFailed, match="another rebuild is building generation 'g-other'"):
        await rebuild(
            target, options(), TerminalProgress(io.StringIO()), sleep=no_wait, http=orders_service
        )

    assert await target.live() == ("", "g-other")


def test_the_command_says_in_one_sentence_that_the_order_service_is_unreachable(
    mongodb_uri: str, unique_name: str, unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}"
    monkeypatch.setenv("ORDER_SERVICE_URL", url)
    out, err = io.StringIO(), io.StringIO()
    target = open_rebuild_target(
        ReadServiceSettings(mongodb_uri=mongodb_uri, mongodb_database=f"{unique_name}-read")
    )
    args = argparse.Namespace(dry_run=False, keep_old=False)

    status = run_rebuild(args, RebuildSettings(), lambda: target, out=out, err=err)

    assert status == 69
    assert err.getvalue().strip().splitlines() == [
        f"read-model rebuild failed: The Order Service cannot be reached at {url} "
        "(ORDER_SERVICE_URL): ConnectError All connection attempts failed."
    ]
    assert out.getvalue() == ""


def test_the_command_says_in_one_sentence_that_the_read_model_is_unreachable(
    unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDER_SERVICE_URL", "http://127.0.0.1:1")
    out, err = io.StringIO(), io.StringIO()
    target = open_rebuild_target(
        ReadServiceSettings(
            mongodb_uri=f"mongodb://user:secret@127.0.0.1:{unused_tcp_port}",
            mongodb_timeout_seconds=0.5,
        )
    )
    args = argparse.Namespace(dry_run=True, keep_old=False)

    status = run_rebuild(args, RebuildSettings(), lambda: target, out=out, err=err)

    assert status == 69
    assert err.getvalue() == (
        "read-model rebuild failed: The read model's MongoDB cannot be reached at "
        f"127.0.0.1:{unused_tcp_port} (MONGODB_URI).\n"
    )


async def test_with_auth_on_the_export_needs_an_admin_and_the_rebuild_keeps_each_customers_orders(
    mongodb_uri: str,
    kafka_bootstrap: str,
    unique_name: str,
    read_db: Database,
    target: ReadModelRebuildTarget,
) -> None:
    provider = IdentityProvider(SigningKey("rebuild"))
    with serving_jwks(provider) as jwks_url:
        settings = OrderServiceSettings(
            mongodb_uri=mongodb_uri,
            mongodb_database=f"{unique_name}-write",
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_enable_idempotence=False,
            order_events_topic=unique_name,
            auth_jwks_url=jwks_url,
            auth_issuer=ISSUER,
            auth_audience=AUDIENCE,
        )
        async with serving(create_http_app(settings), "orders") as client:
            for customer in ("alice", "bob", "alice"):
                created = await client.post(
                    "/orders",
                    json={"customerName": customer.title(), "totalAmount": "5.00"},
                    headers={"Authorization": f"Bearer {provider.token(customer)}"},
                )
                assert created.status_code == 201
            assert (await client.get("/internal/orders/export")).status_code == 401
            customer_token = {"Authorization": f"Bearer {provider.token('alice')}"}
            forbidden = await client.get("/internal/orders/export", headers=customer_token)
            assert forbidden.status_code == 403

            client.headers["Authorization"] = f"Bearer {provider.token('ops', 'orders:admin')}"
            report = await rebuild(
                target, options(), TerminalProgress(io.StringIO()), sleep=no_wait, http=client
            )

    assert report.orders == 3
    model = MongoReadModelGenerations(read_db, pointer_ttl_seconds=0).model(report.generation)
    alices = (await model.page(10, None, "alice")).orders
    assert [v.customer_name for v in alices] == ["Alice", "Alice"]
    assert [v.customer_id for v in (await model.page(10, None, "bob")).orders] == ["bob"]
