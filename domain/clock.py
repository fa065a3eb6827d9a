"""Time as data: epoch milliseconds everywhere inside, ISO-8601 at the edge.

The clock is injected so that rules can be tested with a fixed time.
"""
import time
from datetime import datetime, timezone


class SystemClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)


class FixedClock:
    """A clock for pure tests: it only moves when told to."""

    def __init__(self, now_ms: int):
        self._now = now_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        self._now += ms


def to_iso(ms: int | None) -> str | None:
    if not ms:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def from_iso(text: str) -> int:
    """Parse ISO-8601; a time without a zone is taken as UTC."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)
