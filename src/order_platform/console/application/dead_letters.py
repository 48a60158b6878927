"""The dead letters of both groups, refreshed in the background, and their redrive (the
semantics of `order-platform dlq replay`: to that group only, each at most once).

Redrives of a group run one at a time: a second request while one runs is refused at once
(`RedriveBusy`), here without asking Kafka; across processes the desk's lease refuses it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from order_platform.console.application.attention import Attention, every
from order_platform.console.application.ports import (
    DeadLetterDesk,
    DeadLetterSummary,
    RedriveBusy,
    RedriveOutcome,
)
from order_platform.contracts.errors import Unavailable

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Failure:
    projection: str | None = None
    notification: str | None = None


class DeadLetterMonitor:
    def __init__(
        self, desk: DeadLetterDesk, *, projection_group: str, notification_group: str
    ) -> None:
        self._desk = desk
        self.projection_group = projection_group
        self.notification_group = notification_group
        self._letters: dict[str, list[DeadLetterSummary]] = {}
        self._errors: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._redriving: set[str] = set()

    @property
    def groups(self) -> tuple[str, str]:
        return self.projection_group, self.notification_group

    async def refresh(self) -> None:
        async with self._lock:
            for group in self.groups:
                try:
                    self._letters[group] = await self._desk.letters(group)
                    self._errors.pop(group, None)
                except Unavailable as error:
                    self._errors[group] = str(error)

    async def run(
        self, interval: float, stop: asyncio.Event, attention: Attention | None = None
    ) -> None:
        """Every `interval` seconds, or `attention`'s idle interval while nobody watches."""
        await every(interval, stop, attention, self.refresh)

    def failure(self, order_id: UUID) -> Failure:
        """The latest error of this order's dead letter in each group, if it has one."""
        key = str(order_id)

        def latest(group: str) -> str | None:
            found = [letter for letter in self._letters.get(group, []) if letter.order_id == key]
            return found[-1].error or "dead-lettered" if found else None

        return Failure(latest(self.projection_group), latest(self.notification_group))

    def snapshot(self, latest: int = 10) -> Json:
        return {
            group: {
                "count": len(self._letters[group]) if group in self._letters else None,
                "unavailable": self._errors.get(group),
                "latest": [
                    {
                        "coordinates": letter.coordinates,
                        "at": letter.at.isoformat(timespec="milliseconds"),
                        "error": letter.error,
                        "orderId": letter.order_id,
                        "redriveCount": letter.redrive_count,
                    }
                    for letter in reversed(self._letters.get(group, [])[-latest:])
                ],
            }
            for group in self.groups
        }

    async def redrive(self, group: str, chosen: Sequence[tuple[int, int]] | None) -> RedriveOutcome:
        if group not in self.groups:
            raise ValueError(f"unknown consumer group {group!r}")
        if group in self._redriving:
            raise RedriveBusy(
                f"another redrive of group {group} is under way on this console: nothing was "
                "sent; try again once it has finished"
            )
        self._redriving.add(group)
        try:
            outcome = await self._desk.redrive(group, chosen)
        finally:
            self._redriving.discard(group)
        await self.refresh()
        return outcome
