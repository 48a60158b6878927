"""The dead letters through the operations code of `order-platform dlq` (same reading, same
redrive, same at-most-once marks), so the console and the command never disagree."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from order_platform.console.application.ports import (
    DeadLetterSummary,
    RedriveBusy,
    RedriveOutcome,
)
from order_platform.operations.dead_letter_redrive import DeadLetterRedrive, printable
from order_platform.operations.redrive_lease import RedriveHeld


class KafkaDeadLetterDesk:
    def __init__(
        self, bootstrap_servers: str, *, topic: str, enable_idempotence: bool, timeout: float
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._idempotence = enable_idempotence
        self._timeout = timeout

    def _redrive(self, group: str) -> DeadLetterRedrive:
        return DeadLetterRedrive(
            self._bootstrap,
            topic=self._topic,
            group=group,
            enable_idempotence=self._idempotence,
            timeout_seconds=self._timeout,
            who="operator console",
        )

    async def letters(self, group: str) -> list[DeadLetterSummary]:
        letters = await self._redrive(group).dead_letters()  # KafkaUnavailable: an Unavailable
        return [
            DeadLetterSummary(
                group=group,
                partition=letter.partition,
                offset=letter.offset,
                at=datetime.fromtimestamp(letter.timestamp_ms / 1000, UTC),
                error=printable(letter.error, 500),
                order_id=letter.key.decode(errors="replace") if letter.key else None,
                redrive_count=letter.redrive_count,
            )
            for letter in letters
        ]

    async def redrive(self, group: str, chosen: Sequence[tuple[int, int]] | None) -> RedriveOutcome:
        try:
            report = await self._redrive(group).replay(chosen, again=False, dry_run=False)
        except RedriveHeld as error:
            raise RedriveBusy(str(error)) from error
        return RedriveOutcome(
            sent=[letter.coordinates for letter, _ in report.sent],
            skipped=[(coordinates, str(why)) for coordinates, why in report.skipped],
        )
