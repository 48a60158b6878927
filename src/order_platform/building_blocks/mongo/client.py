"""MongoDB client construction and the one place that decides what "unavailable" means."""

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from pymongo import AsyncMongoClient
from pymongo.errors import (
    ConnectionFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from order_platform.building_blocks.runtime.backoff import Backoff


def new_client(uri: str, *, timeout_seconds: float) -> AsyncMongoClient[dict[str, Any]]:
    """A client that fails fast: a request waits seconds, never the 30 s default."""
    timeout_ms = int(timeout_seconds * 1000)
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        timeoutMS=timeout_ms,
        appname="order-platform",
    )


log = structlog.get_logger(__name__)

PREPARE_BACKOFF = Backoff(0.5, 10.0, jitter="none")

UNAVAILABLE_ERRORS = (ConnectionFailure, ServerSelectionTimeoutError, WaitQueueTimeoutError)


@contextmanager
def translate_unavailable[E: Exception](error_type: type[E]) -> Iterator[None]:
    """Re-raise "the server is not there" errors as the caller's port-level `error_type`."""
    try:
        yield
    except UNAVAILABLE_ERRORS as error:
        raise error_type(str(error)) from error
    except PyMongoError as error:
        if error.timeout:  # the server is there but did not answer within timeoutMS
            raise error_type(str(error)) from error
        raise


async def prepare_when_reachable(*steps: Callable[[], Awaitable[object]]) -> None:
    """Run each step (index creation) until all succeeded, waiting for MongoDB as long as it
    takes: a service starts, and answers 503, while its database is away."""
    failures = 0
    while True:
        try:
            for step in steps:
                await step()
        except PyMongoError as error:
            failures += 1
            delay = PREPARE_BACKOFF.delay(failures)
            log.warning("indexes_not_created_yet", error=str(error), retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)
        else:
            return
