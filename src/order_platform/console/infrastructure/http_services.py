"""The services over HTTP: `/metrics` (Prometheus text, parsed by prometheus_client),
`/health/ready`, and the `/internal` hop times; with the console's bearer token when set."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from prometheus_client.parser import text_string_to_metric_families

from order_platform.console.application.ports import (
    Parked,
    ProjectedEvents,
    Projection,
    Scrape,
    ServiceUnavailable,
)
from order_platform.console.domain.rates import SeriesKey, series_key
from order_platform.contracts.hop_times import (
    EVENT_ID_PARAMETER,
    NOTIFICATIONS_PATH,
    ORDER_ID_PARAMETER,
    PROJECTIONS_PATH,
    ParkedHop,
    notifications_of,
    notifications_parked_of,
    projections_of,
    projections_parked_of,
)


def parse_metrics(text: str) -> tuple[dict[SeriesKey, float], dict[SeriesKey, float]]:
    """Counters (their `_total` samples) and gauges, by sample name and labels."""
    counters: dict[SeriesKey, float] = {}
    gauges: dict[SeriesKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = series_key(sample.name, sample.labels)
            if family.type == "counter" and sample.name.endswith("_total"):
                counters[key] = sample.value
            elif family.type == "gauge":
                gauges[key] = sample.value
    return counters, gauges


class HttpServices:
    def __init__(
        self,
        *,
        read_url: str,
        notification_url: str,
        timeout_seconds: float,
        access_token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds, headers=headers, transport=transport
        )
        self._read = read_url
        self._notification = notification_url

    async def scrape(self, url: str) -> Scrape:
        at = time.monotonic()
        try:
            metrics, ready = await asyncio.gather(
                self._client.get(f"{url}/metrics"), self._client.get(f"{url}/health/ready")
            )
            metrics.raise_for_status()
            counters, gauges = parse_metrics(metrics.text)
        except (httpx.HTTPError, ValueError) as error:
            return Scrape(url, at, error=_why(error))
        try:
            checks = {str(k): str(v) for k, v in ready.json().get("checks", {}).items()}
        except ValueError:
            checks = {}
        return Scrape(url, at, counters, gauges, ready.status_code == 200, checks)

    async def projections(self, order_ids: Sequence[UUID]) -> dict[UUID, Projection]:
        answer = await self._get(
            f"{self._read}{PROJECTIONS_PATH}", [(ORDER_ID_PARAMETER, str(i)) for i in order_ids]
        )
        return {
            order: Projection(hop.projected_at, hop.created_at, hop.event_id, hop.version)
            for order, hop in projections_of(answer).items()
        }

    async def projected_events(self, order_id: UUID) -> ProjectedEvents:
        answer = await self._get(
            f"{self._read}{PROJECTIONS_PATH}", [(ORDER_ID_PARAMETER, str(order_id))]
        )
        projection = projections_of(answer).get(order_id)
        return ProjectedEvents(
            projection.version if projection else None, _parked(projections_parked_of(answer))
        )

    async def parked_notifications(self, order_id: UUID) -> dict[UUID, Parked]:
        answer = await self._get(
            f"{self._notification}{NOTIFICATIONS_PATH}", [(ORDER_ID_PARAMETER, str(order_id))]
        )
        return _parked(notifications_parked_of(answer))

    async def notifications(self, event_ids: Sequence[UUID]) -> dict[UUID, datetime]:
        answer = await self._get(
            f"{self._notification}{NOTIFICATIONS_PATH}",
            [(EVENT_ID_PARAMETER, str(i)) for i in event_ids],
        )
        return notifications_of(answer)

    async def _get(self, url: str, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
        try:
            response = await self._client.get(url, params=list(params))
            response.raise_for_status()
            found: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise ServiceUnavailable(_why(error)) from error
        return found

    async def aclose(self) -> None:
        await self._client.aclose()


def _parked(hops: Sequence[ParkedHop]) -> dict[UUID, Parked]:
    return {hop.event_id: Parked(hop.event_id, hop.version, hop.waiting_for) for hop in hops}


def _why(error: Exception) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"{error.request.url.path} answered {error.response.status_code}"
    if isinstance(error, httpx.ConnectError):
        return "connection refused"
    if isinstance(error, httpx.TimeoutException):
        return "no answer in time"
    return f"{type(error).__name__}: {error}".rstrip(": ")
