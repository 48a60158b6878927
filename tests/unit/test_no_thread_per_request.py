"""No HTTP route of any service runs code in a worker thread per request.

FastAPI runs a plain `def` endpoint or dependency in a thread pool: a thread hop for every
request (the profile of `GET /orders/{id}` showed a fifth of the read service's time in it,
from one such dependency). Everything on the request path is `async def`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from order_platform.console.entrypoints.web import create_app as console_app
from order_platform.notification_service.entrypoints.health_api import create_app as worker_app
from order_platform.order_service.entrypoints.api import create_app as order_app
from order_platform.read_service.entrypoints.api import create_app as read_app


def never_started() -> Any:
    raise AssertionError("the app is only inspected")


APPS: dict[str, Callable[[], FastAPI]] = {
    "order-service": lambda: order_app(never_started),
    "read-service": lambda: read_app(never_started),
    "notification-service": lambda: worker_app(never_started),
    "console": lambda: console_app(never_started),
}


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every `APIRoute`, also inside included routers (FastAPI wraps those)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from api_routes(included.routes)


def calls(dependant: Dependant) -> Iterator[tuple[str, Any]]:
    if dependant.call is not None:
        yield getattr(dependant.call, "__qualname__", repr(dependant.call)), dependant.call
    for sub in dependant.dependencies:
        yield from calls(sub)


def runs_on_the_loop(call: Any) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 - instances with an async __call__
    )


@pytest.mark.parametrize("service", APPS)
def test_every_endpoint_and_dependency_is_async(service: str) -> None:
    app = APPS[service]()
    routes = list(api_routes(app.routes))
    assert routes
    threaded = sorted(
        f"{route.path}: {name}"
        for route in routes
        for name, call in calls(route.dependant)
        if not runs_on_the_loop(call)
    )
    assert threaded == []
