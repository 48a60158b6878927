"""The order's life over HTTP on fakes, auth off: `POST /orders/{id}/confirm|ship|cancel` and
`GET /orders/{id}` on the Order Service. Their answers (the order, `ETag`), their bodies,
If-Match, the problems (404, 409, 412, 422) and the Idempotency-Key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from structlog.testing import capture_logs

from order_platform.order_service.bootstrap import OrderServicePorts, wire
from order_platform.order_service.entrypoints.api import create_app
from tests.unit.http_api import problem, serving_api
from tests.unit.order_service.fakes import (
    FakeClock,
    FakeIdempotencyKeys,
    FakeStore,
    FakeUnitOfWork,
    SequentialIds,
)

LUCAS = {"customerName": "Lucas", "totalAmount": 199.90}
UNKNOWN = "00000000-0000-0000-0000-00000000dead"
COMMANDS = ["confirm", "ship", "cancel"]


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
async def client(store: FakeStore) -> AsyncIterator[httpx.AsyncClient]:
    ports = OrderServicePorts(
        new_unit_of_work=lambda: FakeUnitOfWork(store),
        idempotency_keys=FakeIdempotencyKeys(store),
        clock=FakeClock(),
        new_id=SequentialIds(),
    )
    async with serving_api(create_app, wire(ports)) as client:
        yield client


async def placed(client: httpx.AsyncClient) -> str:
    response = await client.post("/orders", json=LUCAS)
    assert response.status_code == 201, response.text
    order_id: str = response.json()["id"]
    return order_id


async def test_each_command_answers_the_order_and_its_etag(client: httpx.AsyncClient) -> None:
    order_id = await placed(client)

    with capture_logs() as logs:
        confirmed = await client.post(f"/orders/{order_id}/confirm")
    shipped = await client.post(f"/orders/{order_id}/ship", json={"trackingNumber": " 1Z999 "})

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.headers["etag"] == '"2"'
    assert "idempotent-replayed" not in confirmed.headers
    assert confirmed.json() == {
        "id": order_id,
        "customerName": "Lucas",
        "totalAmount": "199.90",
        "createdAt": "2026-11-25T08:00:00.000Z",
        "status": "confirmed",
        "version": 2,
        "updatedAt": "2026-11-25T08:00:00.000Z",
    }
    assert shipped.headers["etag"] == '"3"'
    assert (shipped.json()["status"], shipped.json()["trackingNumber"]) == ("shipped", "1Z999")
    changed = [log for log in logs if log["event"] == "order_changed"]
    assert changed == [
        {
            "event": "order_changed",
            "log_level": "info",
            "order_id": order_id,
            "status": "confirmed",
            "version": 2,
            "replayed": False,
        }
    ]


async def test_cancel_shows_its_reason(client: httpx.AsyncClient) -> None:
    order_id = await placed(client)

    cancelled = await client.post(f"/orders/{order_id}/cancel", json={"reason": "Ordered twice"})

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancellationReason"] == "Ordered twice"
    assert "trackingNumber" not in cancelled.json()


async def test_get_answers_the_write_models_state_with_its_etag(
    client: httpx.AsyncClient,
) -> None:
    order_id = await placed(client)
    placed_answer = await client.get(f"/orders/{order_id}")
    cancelled = await client.post(f"/orders/{order_id}/cancel")

    current = await client.get(f"/orders/{order_id}")

    assert placed_answer.headers["etag"] == '"1"'
    assert (placed_answer.json()["status"], placed_answer.json()["version"]) == ("placed", 1)
    assert current.status_code == 200
    assert current.headers["etag"] == '"2"'
    assert current.json() == cancelled.json()


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", None),
        (b"", "application/json"),
        (b"{}", "application/json"),
        (b'{"reason": null}', "application/json"),
        (b'{"reason": "Too late"}', "application/json; charset=utf-8"),
    ],
    ids=["nothing", "nothing as json", "{}", "null", "the field"],
)
async def test_a_command_takes_no_body_an_empty_object_or_its_field(
    client: httpx.AsyncClient, content: bytes, content_type: str | None
) -> None:
    order_id = await placed(client)
    headers = {"Content-Type": content_type} if content_type else {}

    response = await client.post(f"/orders/{order_id}/cancel", content=content, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert ("cancellationReason" in response.json()) == (b"Too late" in content)


INVALID_BODIES: list[tuple[str, object, list[str]]] = [
    ("confirm", {"reason": "x"}, ["reason"]),
    ("ship", {"reason": "x"}, ["reason"]),
    ("cancel", {"trackingNumber": "1Z"}, ["trackingNumber"]),
    ("cancel", {"reason": "x", "note": 1}, ["note"]),
    ("ship", {"tracking_number": "1Z"}, ["tracking_number"]),  # the API's names only
    ("cancel", {"reason": 5}, ["reason"]),
    ("cancel", {"reason": "   "}, ["reason"]),  # a rule of the domain
    ("cancel", {"reason": "x" * 501}, ["reason"]),
    ("ship", {"trackingNumber": "1Z\n999"}, ["trackingNumber"]),
    ("confirm", [], ["body"]),
]


@pytest.mark.parametrize(("command", "body", "fields"), INVALID_BODIES)
async def test_an_unknown_field_or_invalid_text_is_422_naming_the_api_fields(
    client: httpx.AsyncClient, store: FakeStore, command: str, body: object, fields: list[str]
) -> None:
    order_id = await placed(client)
    if command == "ship":
        await client.post(f"/orders/{order_id}/confirm")
    version = store.orders[next(iter(store.orders))].version

    response = await client.post(f"/orders/{order_id}/{command}", json=body)

    problem_body = problem(response, 422)
    assert problem_body["type"] == "urn:order-platform:problem:invalid-request"
    assert [error["field"] for error in problem_body["errors"]] == fields
    assert store.orders[next(iter(store.orders))].version == version


async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient) -> None:
    order_id = await placed(client)

    response = await client.post(
        f"/orders/{order_id}/cancel", content=b"reason=x", headers={"Content-Type": "text/plain"}
    )

    assert problem(response, 415)["detail"] == "Send the command as application/json."


@pytest.mark.parametrize("command", COMMANDS)
async def test_an_unknown_order_is_404(client: httpx.AsyncClient, command: str) -> None:
    body = problem(await client.post(f"/orders/{UNKNOWN}/{command}"), 404)

    assert UNKNOWN in body["detail"]
    problem(await client.get(f"/orders/{UNKNOWN}"), 404)


async def test_an_order_id_that_is_no_uuid_is_422(client: httpx.AsyncClient) -> None:
    problem(await client.post("/orders/not-an-id/confirm"), 422)
    problem(await client.get("/orders/not-an-id"), 422)


async def test_a_command_the_status_does_not_allow_is_409_naming_status_and_allowed_commands(
    client: httpx.AsyncClient,
) -> None:
    order_id = await placed(client)

    early = await client.post(f"/orders/{order_id}/ship")
    await client.post(f"/orders/{order_id}/cancel")
    final = await client.post(f"/orders/{order_id}/confirm")

    body = problem(early, 409)
    assert body["type"] == "urn:order-platform:problem:transition-not-allowed"
    assert (body["orderStatus"], body["allowedCommands"]) == ("placed", ["confirm", "cancel"])
    assert body["detail"] == "An order that is placed cannot ship."
    assert "retry-after" not in early.headers
    final_body = problem(final, 409)
    assert (final_body["orderStatus"], final_body["allowedCommands"]) == ("cancelled", [])


@pytest.mark.parametrize("if_match", ['"1"', "*", '"5", "1"', ' "1" , ', 'W/"2", "1"'])
async def test_an_if_match_that_holds_lets_the_command_through(
    client: httpx.AsyncClient, if_match: str
) -> None:
    order_id = await placed(client)

    response = await client.post(f"/orders/{order_id}/confirm", headers={"If-Match": if_match})

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'


@pytest.mark.parametrize("if_match", ['W/"1"', '"2"', '"01"', '"abc"', 'W/"1", "2"'])
async def test_an_if_match_that_fails_is_412_with_the_current_version_and_etag(
    client: httpx.AsyncClient, store: FakeStore, if_match: str
) -> None:
    order_id = await placed(client)

    response = await client.post(f"/orders/{order_id}/confirm", headers={"If-Match": if_match})

    body = problem(response, 412)
    assert body["type"] == "urn:order-platform:problem:version-mismatch"
    assert body["currentVersion"] == 1
    assert response.headers["etag"] == '"1"'
    assert store.orders[next(iter(store.orders))].status == "placed"


@pytest.mark.parametrize("if_match", ["1", "", '"1" "2"', '*, "1"', "W/1", '"1 "'])
async def test_an_if_match_that_is_no_list_of_entity_tags_is_422(
    client: httpx.AsyncClient, if_match: str
) -> None:
    order_id = await placed(client)

    response = await client.post(f"/orders/{order_id}/confirm", headers={"If-Match": if_match})

    assert [e["field"] for e in problem(response, 422)["errors"]] == ["If-Match"]


async def test_if_match_any_on_an_unknown_order_is_404(client: httpx.AsyncClient) -> None:
    problem(await client.post(f"/orders/{UNKNOWN}/confirm", headers={"If-Match": "*"}), 404)


async def race(
    client: httpx.AsyncClient, store: FakeStore, order_id: str, headers: dict[str, str]
) -> list[httpx.Response]:
    """Confirm and cancel, both read the order before either commits."""
    store.commit_gate = asyncio.Event()
    requests = []
    for command in ("confirm", "cancel"):
        store.commit_waiting.clear()
        requests.append(
            asyncio.create_task(client.post(f"/orders/{order_id}/{command}", headers=headers))
        )
        await store.commit_waiting.wait()
    store.commit_gate.set()
    return list(await asyncio.gather(*requests))


async def test_of_two_racing_commands_one_wins_the_other_is_409(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    order_id = await placed(client)

    answers = await race(client, store, order_id, {})

    assert sorted(answer.status_code for answer in answers) == [200, 409]
    (loser,) = [answer for answer in answers if answer.status_code == 409]
    body = problem(loser, 409)
    assert body["type"] == "urn:order-platform:problem:order-changed-meanwhile"
    assert body["currentVersion"] == 2


async def test_a_racing_loser_with_if_match_is_412(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    order_id = await placed(client)

    answers = await race(client, store, order_id, {"If-Match": '"1"'})

    assert sorted(answer.status_code for answer in answers) == [200, 412]
    (loser,) = [answer for answer in answers if answer.status_code == 412]
    assert problem(loser, 412)["currentVersion"] == 2
    assert loser.headers["etag"] == '"2"'


async def test_a_repeated_key_replays_the_order_as_it_is_now(client: httpx.AsyncClient) -> None:
    order_id = await placed(client)
    key = {"Idempotency-Key": "cancel-1"}
    first = await client.post(f"/orders/{order_id}/cancel", json={"reason": "x"}, headers=key)

    again = await client.post(f"/orders/{order_id}/cancel", json={"reason": " x"}, headers=key)

    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"] == '"2"'
    assert again.json() == first.json()


async def test_the_same_key_with_another_body_is_422(client: httpx.AsyncClient) -> None:
    order_id = await placed(client)
    key = {"Idempotency-Key": "cancel-1"}
    await client.post(f"/orders/{order_id}/cancel", headers=key)

    response = await client.post(f"/orders/{order_id}/cancel", json={"reason": "x"}, headers=key)

    assert problem(response, 422)["type"] == "urn:order-platform:problem:idempotency-key-reused"


async def test_a_key_still_in_flight_is_409_with_retry_after(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    order_id = await placed(client)
    store.commit_gate = asyncio.Event()
    key = {"Idempotency-Key": "burst"}
    first = asyncio.create_task(client.post(f"/orders/{order_id}/confirm", headers=key))
    await store.commit_waiting.wait()

    response = await client.post(f"/orders/{order_id}/confirm", headers=key)
    store.commit_gate.set()

    assert problem(response, 409)["type"] == "urn:order-platform:problem:request-in-flight"
    assert response.headers["retry-after"] == "1"
    assert (await first).status_code == 200


async def test_an_invalid_idempotency_key_is_422(client: httpx.AsyncClient) -> None:
    order_id = await placed(client)

    response = await client.post(
        f"/orders/{order_id}/confirm", headers={"Idempotency-Key": "has space"}
    )

    assert [e["field"] for e in problem(response, 422)["errors"]] == ["Idempotency-Key"]


async def test_storage_down_is_503_and_a_lost_reply_503_outcome_unknown(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    order_id = await placed(client)
    key = {"Idempotency-Key": "k"}
    store.fail_commits = True
    down = await client.post(f"/orders/{order_id}/confirm", headers=key)
    store.fail_commits, store.lose_replies = False, True
    lost = await client.post(f"/orders/{order_id}/confirm", headers=key)
    store.lose_replies = False

    retried = await client.post(f"/orders/{order_id}/confirm", headers=key)

    assert problem(down, 503)["type"] == "about:blank"
    assert down.headers["retry-after"] == "2"
    assert problem(lost, 503)["type"] == "urn:order-platform:problem:outcome-unknown"
    assert retried.status_code == 200
    assert retried.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize(
    ("command", "field"), [("confirm", None), ("ship", "trackingNumber"), ("cancel", "reason")]
)
async def test_the_openapi_document_describes_each_command(
    client: httpx.AsyncClient, command: str, field: str | None
) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/orders/{order_id}/" + command]["post"]

    body = operation["requestBody"]
    assert body["required"] is False
    schema = body["content"]["application/json"]["schema"]
    assert set(schema.get("properties", {})) == ({field} if field else set())
    assert schema["additionalProperties"] is False
    changed = operation["responses"]["200"]
    assert changed["content"]["application/json"]["schema"]["$ref"].endswith("/OrderStateResponse")
    assert set(changed["headers"]) == {"ETag", "Idempotent-Replayed"}
    assert {"401", "403", "404", "409", "412", "415", "422", "429", "503"} <= set(
        operation["responses"]
    )
    assert "ETag" in operation["responses"]["412"]["headers"]
    assert "Retry-After" in operation["responses"]["409"]["headers"]
    for status in ("409", "412"):
        content = operation["responses"][status]["content"]
        assert "application/problem+json" in content
        # Where `problem_responses` documents every problem's schema.
        name = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        members = set(document["components"]["schemas"][name]["properties"])
        assert {"orderStatus", "allowedCommands", "currentVersion"} <= members
    assert {p["name"] for p in operation["parameters"]} == {
        "order_id",
        "If-Match",
        "Idempotency-Key",
    }


async def test_the_openapi_document_describes_get_and_the_orders_state(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/orders/{order_id}"]["get"]

    assert "ETag" in operation["responses"]["200"]["headers"]
    assert {"401", "403", "404", "503"} <= set(operation["responses"])
    state = document["components"]["schemas"]["OrderStateResponse"]
    assert {"status", "version", "updatedAt"} <= set(state["required"])
    assert state["properties"]["status"]["enum"] == ["placed", "confirmed", "shipped", "cancelled"]
