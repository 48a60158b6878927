"""MongoDB client construction and the one place that decides what "unavailable" means."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import (
    ConnectionFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)


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
