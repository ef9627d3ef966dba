"""The COS Model's per-round snapshot, as plain JSON-ready data.

``snapshot`` turns a phase state (``pipeline.core.phases.assess``), the next right moves
(``pipeline.core.moves.next_moves``), the headline metrics' histories and the coalition's
numbers into one dict the merge stores per round, the digest opens with, and
``cos scoreboard --json`` prints. It is pure: the same inputs always give the same dict (no
clock, no I/O, sorted keys and lists), so recomputing a round gives the same snapshot.

Metric rules (documented in README, "The scoreboard"):

- *latest* is the metric's last reading up to this round; *change* is this round's reading
  minus the previous round's (both must exist).
- *variance* is target minus latest (what is left to go); *progress* is the share of the way
  from baseline to target, 0-100.
- *trend*: the direction of the last change between two readings, read by the metric's
  polarity ("improving" when it moved toward the target), and for how many readings in a row it
  held.
- *freshness*: rounds since the owner last reported (0: this round).
- *band*: red when it has not been reported for ``metric_stale_rounds`` rounds, or moved the
  wrong way for ``metric_below_forecast_readings`` readings in a row; green when it has
  reached its target or its last reading moved toward it; amber otherwise.

What slipped: a phase whose band fell (strong -> discuss -> concern; "not enough answers" is not
a band to fall from or to), or one of its exit tests that passed last round and fails now; a
metric whose band fell. Each comes with why: the numbers of the tests that now fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.core.moves import MetricHistory, Move
from pipeline.core.phases import (
    DEFAULT_THRESHOLDS,
    Band,
    PhaseResult,
    PhaseState,
    Thresholds,
    round_half_up,
)
from pipeline.core.scoreboard import progress
from pipeline.core.words import N_, words

# Bands from best to worst; "not enough answers" has no rank.
BAND_RANK = {Band.STRONG.value: 2, Band.DISCUSS.value: 1, Band.CONCERN.value: 0}
RAG_RANK = {"green": 2, "amber": 1, "red": 0}

# The snapshot's shape version: bump when a key changes meaning (README documents the shape).
SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class MetricSeries:
    """A headline metric and its readings, one per round it was due, oldest first.

    ``readings[-1]`` is this round's (None: not reported); ``note`` is the owner's latest story
    behind the curve.
    """

    key: str
    name: str
    unit: str
    owner: str
    baseline: float
    target: float
    direction: str  # "up" or "down"
    readings: tuple[float | None, ...] = ()
    note: str = ""


def _better(direction: str, change: float) -> int:
    """Return 1 when a change moves toward the target, -1 away, 0 flat."""
    if change == 0:
        return 0
    up = change > 0
    return 1 if up == (direction != "down") else -1


def metric_moves(series: MetricSeries) -> tuple[int, ...]:
    """Return each change between consecutive readings: 1 improving, -1 worsening, 0 flat."""
    values = [v for v in series.readings if v is not None]
    return tuple(_better(series.direction, b - a) for a, b in zip(values, values[1:], strict=False))


def metric_history(series: MetricSeries) -> MetricHistory:
    """Return what the move rules need: rounds reported, and readings that went the wrong way.

    Until metrics carry a forecast, "below forecast" means worse than the reading before.
    """
    return MetricHistory(
        name=series.name,
        owner=series.owner or None,
        updated=tuple(v is not None for v in series.readings),
        below_forecast=tuple(m < 0 for m in metric_moves(series)),
    )


def metric_row(series: MetricSeries, t: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    """Return one metric's scoreboard line (rules in the module docstring)."""
    values = [v for v in series.readings if v is not None]
    latest = values[-1] if values else None
    now = series.readings[-1] if series.readings else None
    before = series.readings[-2] if len(series.readings) >= 2 else None
    change = None if now is None or before is None else now - before
    moves = metric_moves(series)
    held = 0
    for m in reversed(moves):
        if m != moves[-1]:
            break
        held += 1
    trend = (
        None
        if not moves
        else {1: "improving", -1: "worsening", 0: "flat"}[moves[-1]]
    )
    freshness: int | None = None
    for i, v in enumerate(reversed(series.readings)):
        if v is not None:
            freshness = i
            break
    if freshness is None:
        freshness = len(series.readings)
    reached = latest is not None and (
        latest >= series.target if series.direction != "down" else latest <= series.target
    )
    worse_run = 0
    for m in reversed(moves):
        if m >= 0:
            break
        worse_run += 1
    stale_rounds = t.metric_stale_rounds
    if (stale_rounds and freshness >= stale_rounds) or (
        t.metric_below_forecast_readings and worse_run >= t.metric_below_forecast_readings
    ):
        rag = "red"
    elif reached or (moves and moves[-1] > 0):
        rag = "green"
    else:
        rag = "amber"
    return {
        "key": series.key,
        "name": series.name,
        "unit": series.unit,
        "owner": series.owner,
        "baseline": series.baseline,
        "latest": latest,
        "target": series.target,
        "direction": series.direction,
        "variance": None if latest is None else series.target - latest,
        "progress": progress(series.baseline, series.target, series.direction, latest),
        "change": change,
        "trend": trend,
        "trend_rounds": held,
        "band": rag,
        "freshness": freshness,
        "story": series.note,
        "history": [v for v in series.readings],
    }


def phase_dict(result: PhaseResult) -> dict[str, Any]:
    """Return one phase's result as plain data."""
    return {
        "label": result.phase.label,
        "score": result.score,
        "band": result.band.value,
        "passed": result.passed,
        "exits": [{"name": e.name, "passed": e.passed, "detail": e.detail,
                   **({"words": {"detail": e.words.as_data()}} if e.words else {})}
                  for e in result.exits],
        "respondents": result.respondents,
        "response": round(result.response, 4),
        "capped": result.capped,
        "note": result.note,
        "components": [
            {
                "name": c.name,
                "weight": c.weight,
                "value": None if c.value is None else round(c.value, 2),
                "answers": c.answers,
            }
            for c in result.components
        ],
    }


def move_dict(rank: int, move: Move) -> dict[str, Any]:
    """Return one move as plain data, with its rank (1 first)."""
    return {
        "rank": rank,
        "id": move.id,
        "phase": move.phase.value,
        "move": move.move,
        "reason": move.reason,
        "evidence": move.evidence,
        "concerns": list(move.concerns),
        "script": move.script,
        # What a presenter translates (pipeline.core.words); the strings above are English.
        "words": {
            "move": (move.move_words or words(move.move)).as_data(),
            "evidence": [w.as_data() for w in move.evidence_words],
        },
    }


def slipped(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return what slipped since the previous snapshot, and why (rule in the module docstring)."""
    if not previous:
        return []
    out: list[dict[str, Any]] = []
    before_phases = previous.get("phases") or {}
    for name, now in (current.get("phases") or {}).items():
        was = before_phases.get(name)
        if not was:
            continue
        fell = (
            now["band"] in BAND_RANK
            and was.get("band") in BAND_RANK
            and BAND_RANK[now["band"]] < BAND_RANK[was["band"]]
        )
        passed_before = {e["name"] for e in was.get("exits", []) if e.get("passed")}
        newly_failing = [e for e in now["exits"] if not e["passed"] and e["name"] in passed_before]
        if not fell and not newly_failing:
            continue
        failing = newly_failing or [e for e in now["exits"] if not e["passed"]]
        why = "; ".join(f"{e['name']}: {e['detail']}" for e in failing)
        # Each failing test as {name}: {detail}, translatable (an older snapshot's detail
        # without words stays English).
        why_words = [{"msgid": N_("%(name)s: %(detail)s"),
                      "values": {"name": words(e["name"]).as_data(),
                                 "detail": (e.get("words") or {}).get("detail") or e["detail"]}}
                     for e in failing]
        if fell:
            said = words(
                N_("%(phase)s fell from %(before)s (%(before_score)s) to %(after)s "
                   "(%(after_score)s)"), phase=words(now["label"]), before=words(was["band"]),
                before_score=str(was.get("score")), after=words(now["band"]),
                after_score=str(now["score"]))
        else:
            said = words(N_("%(phase)s: %(count)s exit test(s) no longer pass"),
                         phase=words(now["label"]), count=len(newly_failing))
        what = str(said)
        out.append({"kind": "phase", "name": name, "what": what, "why": why,
                    "words": {"what": said.as_data(), "why": why_words}})
    before_metrics = {m["key"]: m for m in previous.get("metrics") or []}
    for m in current.get("metrics") or []:
        was = before_metrics.get(m["key"])
        if was and RAG_RANK[m["band"]] < RAG_RANK[was["band"]]:
            because = (
                words(N_("not reported for %(rounds)s rounds"), rounds=m["freshness"])
                if m["freshness"]
                else words(N_("%(trend)s for %(readings)s reading(s)"),
                           trend=words(str(m["trend"])), readings=m["trend_rounds"])
            )
            said = words(N_("%(metric)s went from %(before)s to %(after)s"), metric=m["name"],
                         before=words(was["band"]), after=words(m["band"]))
            out.append({
                "kind": "metric",
                "name": m["key"],
                "what": str(said),
                "why": str(because),
                "words": {"what": said.as_data(), "why": because.as_data()},
            })
    return out


def snapshot(
    *,
    as_of: str,
    round_number: int,
    round_kind: str,
    state: PhaseState,
    moves: Sequence[Move],
    metrics: Sequence[MetricSeries],
    coalition: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the round's snapshot: the stable shape README documents."""
    phases = {p.value: phase_dict(r) for p, r in state.phases.items()}
    data: dict[str, Any] = {
        "version": SNAPSHOT_VERSION,
        "as_of": as_of,
        "round": round_number,
        "kind": round_kind,
        "stage": state.stage.value,
        "focus": state.focus.value,
        "phases": phases,
        "moves": [move_dict(i, m) for i, m in enumerate(moves, start=1)],
        "metrics": [metric_row(s, thresholds) for s in metrics],
        "numbers": dict(coalition),
    }
    data.update(extra or {})
    data["slipped"] = slipped(previous, data)
    return data


def percent(share: float | None) -> int | None:
    """Return a 0-1 share as whole percent (halves up), None stays None."""
    return None if share is None else round_half_up(share * 100)


__all__ = [
    "BAND_RANK",
    "MetricSeries",
    "metric_history",
    "metric_moves",
    "metric_row",
    "move_dict",
    "percent",
    "phase_dict",
    "slipped",
    "snapshot",
]
