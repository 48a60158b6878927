"""Wall-clock time at the precision that survives a round trip through MongoDB and JSON."""

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        # BSON dates and our RFC 3339 strings keep milliseconds; cut here so that what a
        # client is answered and what is stored and published are the same instant.
        current = datetime.now(UTC)
        return current.replace(microsecond=current.microsecond // 1000 * 1000)
