"""The one-page scoreboard's arithmetic, over plain rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pipeline.core.vocab import CLOSED_STATUSES, REPORTED_STATUSES


@dataclass(frozen=True)
class InvitedPerson:
    """Someone asked to check in this round."""

    person_id: int
    name: str
    organisation: str


@dataclass(frozen=True)
class CommitmentRow:
    """A commitment as it stands in this round."""

    organisation: str
    text: str
    due: date | None
    status: str  # reported this round, or "no_update"
    note: str


@dataclass(frozen=True)
class MetricRow:
    """A metric with this round's reading and the one before it."""

    key: str
    name: str
    unit: str
    owner: str
    baseline: float
    target: float
    direction: str
    value: float | None
    previous: float | None


def progress(baseline: float, target: float, direction: str, value: float | None) -> int | None:
    """Return how far a value has come from baseline to target, in whole percent (0-100)."""
    if value is None or target == baseline:
        return None
    if direction == "down":
        share = (baseline - value) / (baseline - target)
    else:
        share = (value - baseline) / (target - baseline)
    return round(max(0.0, min(1.0, share)) * 100)


def compute_scoreboard(
    *,
    as_of: date,
    invited: list[InvitedPerson],
    answered: set[int],
    commitments: list[CommitmentRow],
    metrics: list[MetricRow],
    wins: list[tuple[str, str, str]],
    blockers: list[tuple[str, str, str, bool]],
    pulses: list[int],
    help_edges: list[tuple[str, str]],
) -> dict[str, Any]:
    """Build the scoreboard dict that the digest and pages show."""
    silent = sorted(
        ({"name": p.name, "organisation": p.organisation} for p in invited
         if p.person_id not in answered),
        key=lambda s: (s["organisation"], s["name"]),
    )
    invited_count = len(invited)
    answered_count = sum(1 for p in invited if p.person_id in answered)

    totals = {s: 0 for s in (*REPORTED_STATUSES, "no_update", "overdue")}
    by_org: dict[str, list[dict[str, Any]]] = {}
    for c in sorted(commitments, key=lambda c: (c.organisation, c.due or date.max, c.text)):
        overdue = c.due is not None and c.due < as_of and c.status not in CLOSED_STATUSES
        totals[c.status] += 1
        totals["overdue"] += overdue
        by_org.setdefault(c.organisation, []).append({
            "text": c.text, "due": c.due.isoformat() if c.due else None, "status": c.status,
            "note": c.note, "overdue": overdue,
        })

    metric_rows = []
    for m in metrics:
        change = None if m.value is None or m.previous is None else m.value - m.previous
        metric_rows.append({
            "key": m.key, "name": m.name, "unit": m.unit, "owner": m.owner,
            "baseline": m.baseline, "target": m.target, "direction": m.direction,
            "value": m.value, "previous": m.previous, "change": change,
            "progress": progress(m.baseline, m.target, m.direction, m.value),
            "reported": m.value is not None,
        })

    return {
        "as_of": as_of.isoformat(),
        "response": {
            "invited": invited_count,
            "answered": answered_count,
            "rate": answered_count / invited_count if invited_count else 0.0,
            "silent": silent,
        },
        "commitments": {
            "totals": totals,
            "by_organisation": [{"organisation": org, "items": items}
                                for org, items in sorted(by_org.items())],
        },
        "metrics": metric_rows,
        "wins": [{"organisation": o, "person": p, "text": t} for o, p, t in sorted(wins)],
        "blockers": [{"organisation": o, "person": p, "text": t, "help_wanted": h}
                     for o, p, t, h in sorted(blockers)],
        "pulse": {
            "average": round(sum(pulses) / len(pulses), 2) if pulses else None,
            "count": len(pulses),
        },
        "help": [{"helper": a, "helped": b} for a, b in sorted(set(help_edges))],
    }
