"""Property-based fuzzing of the Order Service API from its own OpenAPI schema (schemathesis).

The schema comes straight from the ASGI app; the requests go to a real service process, so
that every generated case meets the real stack: uvicorn, MongoDB and the relay.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from order_platform.devtools.embedded import PlatformService
from order_platform.order_service.bootstrap import create_http_app
from order_platform.order_service.infrastructure.settings import OrderServiceSettings

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_dict(create_http_app(OrderServiceSettings()).openapi())

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def order_service(
    mongodb_uri: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PlatformService]:
    env = {
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": "fuzzing",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "ORDER_EVENTS_TOPIC": "fuzzing",
        "LOG_LEVEL": "WARNING",
    }
    log_dir: Path = tmp_path_factory.mktemp("fuzzing")
    with PlatformService("order-service", env=env, log_dir=log_dir) as service:
        yield service


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail_or_break_its_schema(
    case: schemathesis.Case, order_service: PlatformService
) -> None:
    case.call_and_validate(base_url=order_service.url, checks=CHECKS)
