"""RFC 9457 problem details: the one error format of every HTTP service.

Framework errors (404, 405, 422, 500) are rendered by `install_problem_handlers`; each
service's application exceptions by its own table, `install_problem_table`. Every 422,
whichever its source, is built by `invalid_request`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
INVALID_REQUEST = "urn:order-platform:problem:invalid-request"


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

    def response(self) -> JSONResponse:
        headers = None if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        return problem_response(
            self.status,
            self.detail,
            type_=self.type,
            title=self.title,
            errors=list(self.errors),
            headers=headers,
        )


# An exception type, and its problem: fixed, or made from the exception (e.g. its field).
ProblemTable = Mapping[type[Exception], Problem | Callable[[Any], Problem]]


def invalid_request(*errors: FieldError, detail: str = "The request is not valid.") -> Problem:
    """The 422 of every service, whether the framework, the body or the domain refused."""
    return Problem(422, detail, type=INVALID_REQUEST, errors=errors)


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

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, unexpected)


def install_problem_table(app: FastAPI, table: ProblemTable) -> None:
    """Answer each exception of `table`, wherever a route or dependency raises it."""
    for exception_type, problem in table.items():
        app.add_exception_handler(exception_type, _handler(problem))


def _handler(
    problem: Problem | Callable[[Any], Problem],
) -> Callable[[Request, Exception], Any]:
    async def answer(request: Request, error: Exception) -> JSONResponse:
        return (problem if isinstance(problem, Problem) else problem(error)).response()

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
