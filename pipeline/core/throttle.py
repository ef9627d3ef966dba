"""How long a sign-in waits after failures: a few free tries, then a delay that doubles."""

from __future__ import annotations

from datetime import datetime, timedelta

FREE_FAILURES = 4  # typos happen; the fifth failure in a row starts the delay
FIRST_DELAY = timedelta(seconds=30)
LONGEST_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)  # failures this old no longer count


def lockout(failures: int) -> timedelta:
    """Return how long sign-in stays shut after this many failures in a row."""
    if failures <= FREE_FAILURES:
        return timedelta(0)
    return min(LONGEST_DELAY, FIRST_DELAY * 2 ** min(failures - FREE_FAILURES - 1, 16))


def counted_failures(failures: int, last_failed_at: datetime | None, now: datetime) -> int:
    """Return the failures that still count: none once the last one is old enough."""
    if last_failed_at is None or now - last_failed_at > FORGET_AFTER:
        return 0
    return failures


def wait_words(wait: timedelta) -> str:
    """Say a wait as people do: '30 seconds', '2 minutes'."""
    seconds = max(1, int(wait.total_seconds() + 0.999))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = (seconds + 59) // 60
    return f"{minutes} minutes"
