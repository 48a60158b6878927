"""RFC 9457 problem details: the one error format of every HTTP service."""

from __future__ import annotations

from collections.abc import Mapping
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


class FieldError(BaseModel):
    field: str = Field(description="JSON path of the offending field, e.g. `totalAmount`.")
    message: str


class Problem(BaseModel):
    """Shape of every error answer (`application/problem+json`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


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


def validation_problem(
    errors: list[FieldError], detail: str = "The request is not valid."
) -> JSONResponse:
    return problem_response(
        422, detail, type_="urn:order-platform:problem:invalid-request", errors=errors
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Turn every framework error (404, 405, 422, 500) into problem+json."""

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        detail = (
            error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
        )
        return problem_response(error.status_code, detail, headers=error.headers)

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return validation_problem(
            [
                FieldError(
                    field=".".join(str(part) for part in item["loc"][1:]) or str(item["loc"][0]),
                    message=item["msg"],
                )
                for item in error.errors()
            ]
        )

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(500, "An unexpected error occurred; it has been logged.")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)


def problem_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for error statuses; `descriptions` by `s409="…"`."""
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": descriptions.get(f"s{status}", HTTPStatus(status).phrase),
        }
        for status in statuses
    }
