"""One error vocabulary: each category has one HTTP answer (status, problem type, Retry-After),
a service's table only adds its detail text, and the exceptions that mean "a dependency is
away" are all `Unavailable` (what the consumer loop waits on)."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI

from order_platform.building_blocks.auth.bearer_auth import AuthUnavailable
from order_platform.building_blocks.auth.jwks import KeysUnavailable
from order_platform.building_blocks.http.problem import (
    ANSWERS,
    INVALID_REQUEST,
    Detail,
    FieldError,
    install_details,
    install_problem_handlers,
    problem_for,
)
from order_platform.console.application.ports import RedriveBusy, ServiceUnavailable
from order_platform.contracts.errors import (
    CategorisedError,
    Category,
    Conflict,
    Invalid,
    NotFound,
    OutcomeUnknown,
    PreconditionFailed,
    Unavailable,
    problem_type,
)
from order_platform.notification_service.application.notify_customer import (
    NotificationInFlight,
)
from order_platform.notification_service.application.ports import LedgerUnavailable
from order_platform.operations.dead_letter_redrive import KafkaUnavailable
from order_platform.operations.redrive_lease import RedriveHeld
from order_platform.order_service.application.change_order import VersionMismatch
from order_platform.order_service.application.idempotency import (
    IdempotencyKeyReused,
    RequestInFlight,
)
from order_platform.order_service.application.order_access import OrderNotFound
from order_platform.order_service.application.ports import (
    OrderAlreadyExists,
    OrderChangedMeanwhile,
    StorageUnavailable,
    WriteOutcomeUnknown,
)
from order_platform.order_service.domain import InvalidOrderField, TransitionNotAllowed
from order_platform.order_service.outbox.kafka_publisher import PublishFailed
from order_platform.read_service.application.ports import ReadModelUnavailable
from order_platform.read_service.entrypoints.cursor import InvalidCursor
from order_platform.read_service.infrastructure.generations import PointerMoved
from tests.support.asgi import serving
from tests.unit.http_api import problem


def test_every_category_has_one_answer() -> None:
    answered = {
        category: (answer.status, answer.type, answer.retry_after)
        for category, answer in ANSWERS.items()
    }
    assert answered == {
        Category.INVALID: (422, INVALID_REQUEST, None),
        Category.NOT_FOUND: (404, "about:blank", None),
        Category.CONFLICT: (409, "about:blank", None),
        Category.UNAVAILABLE: (503, "about:blank", 2),
        Category.OUTCOME_UNKNOWN: (503, problem_type("outcome-unknown"), 2),
        Category.PRECONDITION_FAILED: (412, "about:blank", None),
    }


@pytest.mark.parametrize(
    ("base", "category"),
    [
        (Invalid, Category.INVALID),
        (NotFound, Category.NOT_FOUND),
        (Conflict, Category.CONFLICT),
        (Unavailable, Category.UNAVAILABLE),
        (OutcomeUnknown, Category.OUTCOME_UNKNOWN),
        (PreconditionFailed, Category.PRECONDITION_FAILED),
    ],
)
def test_each_base_carries_its_category(base: type[CategorisedError], category: Category) -> None:
    assert base.category is category
    assert problem_for(base("internal words")).status == ANSWERS[category].status


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (StorageUnavailable, Category.UNAVAILABLE),
        (ReadModelUnavailable, Category.UNAVAILABLE),
        (LedgerUnavailable, Category.UNAVAILABLE),
        (NotificationInFlight, Category.UNAVAILABLE),
        (PublishFailed, Category.UNAVAILABLE),
        (KeysUnavailable, Category.UNAVAILABLE),
        (AuthUnavailable, Category.UNAVAILABLE),
        (KafkaUnavailable, Category.UNAVAILABLE),
        (ServiceUnavailable, Category.UNAVAILABLE),
        (WriteOutcomeUnknown, Category.OUTCOME_UNKNOWN),
        (RequestInFlight, Category.CONFLICT),
        (OrderAlreadyExists, Category.CONFLICT),
        (OrderChangedMeanwhile, Category.CONFLICT),
        (TransitionNotAllowed, Category.CONFLICT),
        (OrderNotFound, Category.NOT_FOUND),
        (VersionMismatch, Category.PRECONDITION_FAILED),
        (RedriveBusy, Category.CONFLICT),
        (RedriveHeld, Category.CONFLICT),
        (PointerMoved, Category.CONFLICT),
        (InvalidOrderField, Category.INVALID),
        (IdempotencyKeyReused, Category.INVALID),
        (InvalidCursor, Category.INVALID),
    ],
)
def test_the_vocabulary(error: type[CategorisedError], category: Category) -> None:
    assert error.category is category


def test_a_named_problem_type_replaces_the_categorys() -> None:
    answer = problem_for(RequestInFlight("key k"), "Still processing.")

    assert (answer.status, answer.type, answer.detail) == (
        409,
        "urn:order-platform:problem:request-in-flight",
        "Still processing.",
    )


class StaleCopy(PreconditionFailed):
    problem = "stale-copy"


def test_a_detail_may_add_members_and_headers_but_never_override_the_standard_ones() -> None:
    said = Detail("Changed.", members={"currentVersion": 4, "status": 200}, headers={"ETag": '"4"'})

    response = problem_for(StaleCopy(), said).response()

    assert response.status_code == 412
    assert response.headers["etag"] == '"4"'
    assert json.loads(response.body) == {
        "type": "urn:order-platform:problem:stale-copy",
        "title": "Precondition Failed",
        "status": 412,
        "detail": "Changed.",
        "currentVersion": 4,
    }


def test_a_detail_may_say_its_error_clears_sooner_and_name_fields() -> None:
    fields = [FieldError(field="cursor", message="not ours")]

    assert problem_for(StorageUnavailable(), Detail("Store away.", retry_after=1)).retry_after == 1
    assert problem_for(InvalidCursor(), Detail(errors=fields)).errors == fields
    assert problem_for(InvalidCursor(), Detail(errors=fields)).detail == "The request is not valid."


class ShelfAway(Unavailable):
    pass


async def test_an_error_no_table_describes_gets_its_categorys_answer_not_its_message() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    install_details(app, {StorageUnavailable: "The order store is unavailable."})

    @app.get("/described")
    async def described() -> None:
        raise StorageUnavailable("mongodb://10.0.0.7 timed out")

    @app.get("/undescribed")
    async def undescribed() -> None:
        raise ShelfAway("redis://10.0.0.8 refused")

    async with serving(app) as client:
        said = await client.get("/described")
        unsaid = await client.get("/undescribed")

    assert problem(said, 503)["detail"] == "The order store is unavailable."
    assert said.headers["retry-after"] == "2"
    body = problem(unsaid, 503)
    assert unsaid.headers["retry-after"] == "2"
    assert "10.0.0.8" not in body["detail"]
