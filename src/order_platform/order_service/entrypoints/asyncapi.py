"""`GET /asyncapi.json`: the AsyncAPI 3.0 document of the events this service publishes
(`contracts.asyncapi`, the same as docs/asyncapi.json). Like `/openapi.json`, it needs no token
and is not listed in the OpenAPI document."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from order_platform.contracts.asyncapi import asyncapi_document

asyncapi_router = APIRouter(tags=["docs"], include_in_schema=False)


@cache
def _document() -> dict[str, Any]:
    # Built on first request, not at import; it never changes while the process runs.
    return asyncapi_document()


@asyncapi_router.get("/asyncapi.json", response_model=None)
async def asyncapi() -> JSONResponse:
    """The published language: every event, its Kafka key, headers and JSON Schema."""
    return JSONResponse(_document())
