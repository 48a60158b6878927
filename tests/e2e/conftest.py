"""Whole-system fixtures for end-to-end tests: a set of service processes on the session's servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.support.system import System, running_system


@pytest.fixture
def system(
    kafka_bootstrap: str, mongodb_uri: str, redis_url: str, unique_name: str, tmp_path: Path
) -> Iterator[System]:
    with running_system(
        name=unique_name,
        kafka_bootstrap=kafka_bootstrap,
        mongodb_uri=mongodb_uri,
        redis_url=redis_url,
        log_dir=tmp_path,
    ) as running:
        yield running


@pytest.fixture
def mongo(mongodb_uri: str) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    yield client
    client.close()
