"""How moments and rounds are written for people: in the coalition's time zone, in its words."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def format_local(moment: datetime, timezone: str) -> str:
    """Format a UTC moment in the coalition's time zone, e.g. 'Thursday 3 December 2026, 17:00'."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({timezone})"


def local_date(moment: datetime, timezone: str) -> date:
    """Return the calendar date of a UTC moment in the coalition's time zone."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def round_label(number: int) -> str:
    """Name a round the way people say it."""
    return f"Round {number}"
