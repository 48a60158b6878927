"""The console's HTTP side: the page (server-rendered HTML, one small script, no build step)
and the JSON it polls: `GET /api/overview`, `GET /api/orders/{id}`, `POST
/api/dead-letters/{group}/redrive`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from order_platform.building_blocks.http.current_api import current_api
from order_platform.building_blocks.http.json_body import JsonBody
from order_platform.building_blocks.http.problem import (
    Detail,
    DetailTable,
    Problem,
    install_details,
    invalid_request,
)
from order_platform.building_blocks.http.service_app import Started, service_app
from order_platform.console.application.attention import Attention
from order_platform.console.application.dead_letters import DeadLetterMonitor
from order_platform.console.application.orders import OrderTracker
from order_platform.console.application.pipeline import PipelineMonitor
from order_platform.console.application.ports import OrderStream, RedriveBusy
from order_platform.console.entrypoints.own_origin import AllowedHost, OwnOriginOnly
from order_platform.contracts.errors import Unavailable


@dataclass(frozen=True, slots=True)
class ConsoleApi:
    pipeline: PipelineMonitor
    orders: OrderTracker
    dead_letters: DeadLetterMonitor
    stream: OrderStream
    refresh_ms: int
    # Told of every request of the page, so that the background loops know it is watched.
    attention: Attention = field(default_factory=Attention)


Api = Annotated[ConsoleApi, Depends(current_api)]
router = APIRouter(tags=["console"])
STATIC = {"console.js": "text/javascript", "console.css": "text/css"}
# Everything comes from this server; no inline script, no framing by other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page(api: Api) -> HTMLResponse:
    api.attention.seen()
    html = _static("console.html").replace("{{refresh_ms}}", str(api.refresh_ms))
    return HTMLResponse(html, headers=SECURITY_HEADERS)


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return Response(status_code=204)


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    if name not in STATIC:
        return Problem(404, f"No static file {name}.").response()
    return Response(_static(name), media_type=STATIC[name], headers=SECURITY_HEADERS)


@router.get("/api/overview")
async def overview(api: Api) -> dict[str, Any]:
    """Everything the page shows but the searched order, from what the console already holds
    (polling it costs the services nothing)."""
    api.attention.seen()
    return {
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "pipeline": api.pipeline.snapshot(),
        "topic": {"name": api.pipeline.targets.topic, "unavailable": api.stream.status},
        "recent": api.orders.recent(),
        "hopSources": api.orders.unavailable,
        "deadLetters": api.dead_letters.snapshot(),
    }


@router.get("/api/orders/{query}", response_model=None)
async def where_is(query: str, api: Api) -> JSONResponse:
    """The hops of the order with this id or correlation id."""
    found = await api.orders.find(query[:200])
    if found is None:
        return Problem(
            404,
            "No order with this id or correlation id: not among the latest orders on the topic, "
            "not in the read model, not dead-lettered.",
        ).response()
    return JSONResponse(found)


class RedriveRequest(BaseModel):
    """Either `all` or the `offsets` (PARTITION:OFFSET) of the group's DLQ."""

    all: bool = False
    offsets: list[Annotated[str, Field(pattern=r"^\d{1,9}:\d{1,18}$")]] = Field(
        default_factory=list, max_length=1000
    )


redrive_body = JsonBody(RedriveRequest, what="the redrive request")


@router.post(
    "/api/dead-letters/{group}/redrive", response_model=None, openapi_extra=redrive_body.openapi
)
async def redrive(
    group: str, body: Annotated[RedriveRequest, Depends(redrive_body)], api: Api
) -> JSONResponse:
    """`order-platform dlq replay --group GROUP (--all | --offset P:O …)`, as the page asks.

    JSON only (the body parsed like every body the platform reads): a cross-site form cannot
    send it without the browser asking first (CORS preflight, which this server never allows)."""
    if not body.all and not body.offsets:
        return invalid_request(detail="Say which dead letters: `all` or `offsets`.").response()
    if group not in api.dead_letters.groups:
        return Problem(404, f"No consumer group {group!r} here.").response()
    chosen = None if body.all else [_coordinates(text) for text in body.offsets]
    outcome = await api.dead_letters.redrive(group, chosen)  # DETAILS answers its errors
    return JSONResponse(
        {
            "sent": outcome.sent,
            "skipped": [{"coordinates": c, "why": why} for c, why in outcome.skipped],
        }
    )


# Status and Retry-After come with each category; the message is the one sentence of the
# operations code, as `order-platform dlq` prints it.
DETAILS: DetailTable = {
    Unavailable: lambda error: Detail(str(error)),
    RedriveBusy: lambda error: Detail(str(error)),
}


def _coordinates(text: str) -> tuple[int, int]:
    partition, _, offset = text.partition(":")
    return int(partition), int(offset)


# Without a bind address to name (the settings' `bound_to`), the loopback names on any port.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def create_app(
    start: Callable[[], Awaitable[Started[ConsoleApi]]],
    allowed_hosts: Sequence[str] = LOOPBACK_NAMES,
) -> FastAPI:
    allowed = [AllowedHost.parse(host) for host in allowed_hosts or LOOPBACK_NAMES]
    app = service_app(
        title="Operator console",
        summary="The pipeline at a glance, where an order is, dead letters and their redrive.",
        start=start,
    )
    install_details(app, DETAILS)
    app.include_router(router)
    # Outermost: a foreign name or origin is refused before anything else reads the request.
    app.add_middleware(OwnOriginOnly, allowed_hosts=allowed)
    return app
