"""Jinja filters and tests that make numbers and statuses readable in emails."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def N_(message: str) -> str:
    """Mark a string for the translation catalog; it is translated where it is shown."""
    return message


STATUS_LABELS: dict[str, str] = {
    "done": N_("Done"),
    "on_track": N_("On track"),
    "slipping": N_("Slipping"),
    "blocked": N_("Blocked"),
    "dropped": N_("Dropped"),
    "no_update": N_("No update"),
}

CURRENCY_UNITS = frozenset({"£", "$", "€", "¥"})

# Statuses a lead must see item by item; the others are summarised as counts.
NOTABLE_STATUSES = frozenset({"done", "slipping", "blocked"})


def num(value: float | int | None, places: int = 2) -> str:
    """Format a number for people: thousands separators, no trailing zeros."""
    if value is None:
        return "–"
    if not math.isfinite(value):
        return str(value)
    quantum = Decimal(1).scaleb(-places)
    rounded = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded == 0:
        return "0"
    text = f"{rounded:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def signed(value: float | int | None, places: int = 2) -> str:
    """Format a change with an explicit sign, e.g. "+1,200" or "-3.5"."""
    if value is None:
        return "–"
    text = num(value, places)
    if text == "0" or text.startswith("-"):
        return text
    return f"+{text}"


def quantity(value: float | int | None, unit: str) -> str:
    """Format a number with its unit: "£1,200", "45%", "1,640 meals"."""
    text = num(value)
    if value is None or not unit:
        return text
    if unit in CURRENCY_UNITS:
        if "." in text:
            # Money shows pence or cents in full: £3.20, not £3.2.
            text = f"{Decimal(str(value)).quantize(Decimal('0.01'), ROUND_HALF_UP):,f}"
        sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
        return f"{sign}{unit}{digits}"
    if unit == "%":
        return f"{text}%"
    return f"{text} {unit}"


def percent(rate: float | None) -> str:
    """Format a 0..1 rate as a whole percentage."""
    if rate is None:
        return "–"
    return f"{num(rate * 100, 0)}%"


def clamp_progress(progress: float | int | None) -> int:
    """Clamp a progress share to a whole number in 0..100 for drawing a bar."""
    if progress is None:
        return 0
    return max(0, min(100, int(Decimal(str(progress)).quantize(Decimal(1), ROUND_HALF_UP))))


def text_bar(progress: float | int | None, width: int = 10) -> str:
    """Draw a progress share as a text bar like "[#######---] 70%"."""
    share = clamp_progress(progress)
    filled = (share * width + 50) // 100
    return f"[{'#' * filled}{'-' * (width - filled)}] {share}%"


def trend(metric: Mapping[str, Any]) -> str:
    """Say whether a metric's change moves toward its target: better, worse or same."""
    change = metric["change"]
    if change is None or change == 0:
        return "same"
    toward_target = change > 0 if metric["direction"] == "up" else change < 0
    return "better" if toward_target else "worse"


def arrow(change: float | int | None) -> str:
    """Pick an arrow for a change: up, down or flat."""
    if change is None or change == 0:
        return "→"
    return "↑" if change > 0 else "↓"


def status_label(status: str) -> str:
    """Name a commitment status the way people say it."""
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


def plural(count: int, singular: str, many: str | None = None) -> str:
    """Write a count with its noun, e.g. "1 answer", "7 answers"."""
    noun = singular if count == 1 else (many or f"{singular}s")
    return f"{num(count)} {noun}"


def is_notable(item: Mapping[str, Any]) -> bool:
    """Tell whether a commitment is shown item by item in the digest."""
    return item["status"] in NOTABLE_STATUSES or bool(item["overdue"])


def index_by(items: Any, key: str) -> dict[Any, Any]:
    """Return the items by the value of one of their keys, the first of each value kept (a
    template's lookup in one step, where selectattr(...) | first would scan the list each time)."""
    index: dict[Any, Any] = {}
    for item in items or ():
        index.setdefault(item.get(key) if isinstance(item, Mapping) else getattr(item, key, None),
                         item)
    return index


def by_organisation(people: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """Group people ({"name", "organisation"}) by organisation, in the order each organisation
    first appears, keeping each one's names in order (one pass: a list of 100,000 is cheap)."""
    groups: dict[str, list[str]] = {}
    for person in people:
        groups.setdefault(person["organisation"], []).append(person["name"])
    return list(groups.items())


FILTERS = {
    "num": num,
    "signed": signed,
    "percent": percent,
    "quantity": quantity,
    "bar_width": clamp_progress,
    "text_bar": text_bar,
    "trend": trend,
    "arrow": arrow,
    "status_label": status_label,
    "plural": plural,
    "index_by": index_by,
    "by_organisation": by_organisation,
}

TESTS = {"notable": is_notable}


def one_line(text: str) -> str:
    """Collapse all whitespace, newlines included, to single spaces."""
    return " ".join(text.split())
