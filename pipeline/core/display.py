"""How moments and rounds are written for people: in the coalition's time zone, in its words."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def format_local(moment: datetime, timezone: str) -> str:
    """Format a UTC moment in the coalition's time zone, e.g. 'Thursday 3 December 2026, 17:00'."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({timezone})"


def local_date(moment: datetime, timezone: str) -> date:
    """Return the calendar date of a UTC moment in the coalition's time zone."""
    return moment.astimezone(ZoneInfo(timezone)).date()


# Nouns whose plural is not the noun plus "s".
IRREGULAR_PLURALS = {"person": "people", "email": "emails", "reply": "replies"}


def plural_noun(noun: str) -> str:
    """Return the plural of a noun: "people" for "person", "rounds" for "round"."""
    return IRREGULAR_PLURALS.get(noun, noun + "s")


def plural(n: int, noun: str) -> str:
    """Say how many of a thing there are: "1 person", "2 people", "0 invitations"."""
    return f"{n} {noun if n == 1 else plural_noun(noun)}"


def round_label(number: int) -> str:
    """Name a round the way people say it."""
    return f"Round {number}"


def format_local_short(moment: datetime, timezone: str, *, with_date: bool = True) -> str:
    """Format a UTC moment for a terminal in the coalition's zone, e.g. '2026-12-03 17:00 EST'."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M %Z}" if with_date else f"{local:%H:%M %Z}"


def iso_utc(moment: datetime) -> str:
    """Write a moment in UTC ISO 8601 with a Z, as machines read it: '2026-12-03T22:00:00Z'."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def delivery_state(status: str, *, attempts: int = 0, retry_at: datetime | None = None,
                   via: str = "", timezone: str = "UTC") -> str:
    """Say where one email stands, e.g. 'accepted by SMTP smtp.example.org:587',
    'written to file outbox /srv/outbox' or 'retrying at 2026-12-03 17:05 GMT (attempt 2)'."""
    if status == "sent":
        if via.startswith("file outbox"):
            return f"written to {via} (not delivered to an inbox)"
        return f"accepted by {via}" if via else "sent"
    if status == "failed" and retry_at is not None:
        return f"retrying at {format_local_short(retry_at, timezone)} (attempt {attempts})"
    words = {"queued": "queued", "sending": "being sent", "failed": "failed, waiting for a retry",
             "rejected": "rejected, not retried", "expired": "not sent (too late)",
             "bounced": "bounced: address suppressed", "withheld": "not sent (withheld)",
             "none": "no email"}
    return words.get(status, status)


def error_line(exc: BaseException) -> str:
    """Write an exception as one line for an admin: its type and the first line of its text."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
