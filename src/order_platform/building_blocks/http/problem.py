"""RFC 9457 problem details: the one error format of every HTTP service.

Framework errors (404, 405, 422, 500) are rendered by `install_problem_handlers`. An
application exception is answered by its category (`contracts.errors`) through `ANSWERS`, the
one table of status, problem type and Retry-After; each service's table (`install_details`)
only says what to tell the caller about each of its exceptions. Every 422, whichever its
source, is built by `invalid_request`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from order_platform.contracts.errors import CategorisedError, Category, problem_type

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
INVALID_REQUEST = problem_type("invalid-request")


class FieldError(BaseModel):
    field: str = Field(description="JSON path of the offending field, e.g. `totalAmount`.")
    message: str


class ProblemDetails(BaseModel):
    """Shape of every error answer (`application/problem+json`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """One kind of error answer: what an exception becomes over HTTP."""

    status: int
    detail: str
    type: str = "about:blank"
    title: str | None = None
    retry_after: int | None = None  # seconds, sent as `Retry-After`
    errors: Sequence[FieldError] = ()
    members: Mapping[str, Any] = MappingProxyType({})  # RFC 9457 extension members
    headers: Mapping[str, str] = MappingProxyType({})

    def response(self) -> JSONResponse:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return problem_response(
            self.status,
            self.detail,
            type_=self.type,
            title=self.title,
            errors=list(self.errors),
            members=self.members,
            headers=headers or None,
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """How every error of one category is answered over HTTP."""

    status: int
    detail: str  # for an error no service table describes
    type: str = "about:blank"
    retry_after: int | None = None


ANSWERS: Mapping[Category, Answer] = MappingProxyType(
    {
        Category.INVALID: Answer(422, "The request is not valid.", type=INVALID_REQUEST),
        Category.NOT_FOUND: Answer(404, "Not found."),
        Category.CONFLICT: Answer(409, "The request conflicts with the current state."),
        Category.UNAVAILABLE: Answer(
            503, "A dependency is unavailable; nothing was done. Retry later.", retry_after=2
        ),
        Category.OUTCOME_UNKNOWN: Answer(
            503,
            "A dependency answered too late: the request may or may not have taken effect.",
            type=problem_type("outcome-unknown"),
            retry_after=2,
        ),
        Category.PRECONDITION_FAILED: Answer(
            412, "The resource changed since the version the request names."
        ),
    }
)


@dataclass(frozen=True, slots=True)
class Detail:
    """What a service tells the caller about one of its errors; the category says the rest."""

    text: str | None = None  # None: the category's
    errors: Sequence[FieldError] = ()
    retry_after: int | None = None  # instead of the category's: this error clears sooner
    # What a client acts on besides the text, e.g. `{"currentVersion": 4}`, and its headers.
    members: Mapping[str, Any] = MappingProxyType({})
    headers: Mapping[str, str] = MappingProxyType({})


# A service's exception types and their details: fixed, or made from the exception.
DetailTable = Mapping[type[CategorisedError], str | Detail | Callable[[Any], Detail]]


def problem_for(error: CategorisedError, detail: str | Detail | None = None) -> Problem:
    """The answer to `error`: its category's, with the service's detail if it has one."""
    answer = ANSWERS[error.category]
    said = Detail(detail) if detail is None or isinstance(detail, str) else detail
    return Problem(
        answer.status,
        said.text or answer.detail,
        type=answer.type if error.problem is None else problem_type(error.problem),
        retry_after=answer.retry_after if said.retry_after is None else said.retry_after,
        errors=said.errors,
        members=said.members,
        headers=said.headers,
    )


def invalid_request(*errors: FieldError, detail: str | None = None) -> Problem:
    """The 422 of every service, whether the framework, the body or the domain refused."""
    answer = ANSWERS[Category.INVALID]
    return Problem(answer.status, detail or answer.detail, type=answer.type, errors=errors)


class InvalidRequest(RequestValidationError):
    """A validation error with its own `detail`, e.g. a body that is no JSON at all."""

    def __init__(self, detail: str, errors: Sequence[Any] = ()) -> None:
        super().__init__(errors)
        self.detail = detail


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    errors: list[FieldError] | None = None,
    members: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [error.model_dump() for error in errors]
    # Extension members never override the standard ones.
    body |= {name: value for name, value in (members or {}).items() if name not in body}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def install_problem_handlers(app: FastAPI) -> None:
    """Turn every framework error (404, 405, 422, 500) into problem+json."""

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        detail = (
            error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
        )
        return problem_response(error.status_code, detail, headers=error.headers)

    async def invalid(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        fields = [
            # `loc` starts with where the value came from: ("body", "totalAmount").
            FieldError(
                field=".".join(str(part) for part in item["loc"][1:]) or str(item["loc"][0]),
                message=item["msg"],
            )
            for item in error.errors()
        ]
        if isinstance(error, InvalidRequest):
            return invalid_request(*fields, detail=error.detail).response()
        return invalid_request(*fields).response()

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(500, "An unexpected error occurred; it has been logged.")

    async def categorised(request: Request, error: Exception) -> JSONResponse:
        # No service table describes it: its category's answer, without its message (which
        # may name internals such as a server's address).
        assert isinstance(error, CategorisedError)
        return problem_for(error).response()

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(CategorisedError, categorised)
    app.add_exception_handler(Exception, unexpected)


def install_details(app: FastAPI, details: DetailTable) -> None:
    """Answer each exception of `details`, wherever a route or dependency raises it."""
    for exception_type, detail in details.items():
        app.add_exception_handler(exception_type, _handler(detail))


def _handler(detail: str | Detail | Callable[[Any], Detail]) -> Callable[[Request, Exception], Any]:
    async def answer(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, CategorisedError)
        said = detail(error) if callable(detail) else detail
        return problem_for(error, said).response()

    return answer


def problem_responses(
    *statuses: int, retry_after: Collection[int] = (), **descriptions: str
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for error statuses; `descriptions` by `s409="…"`; the
    statuses in `retry_after` say that they carry a `Retry-After` header."""
    return {
        status: {
            "model": ProblemDetails,
            "content": {PROBLEM_JSON: {}},
            "description": descriptions.get(f"s{status}", HTTPStatus(status).phrase),
            **({"headers": RETRY_AFTER_HEADER} if status in retry_after else {}),
        }
        for status in statuses
    }


RETRY_AFTER_HEADER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
}
