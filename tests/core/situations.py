"""Small builders for hand-made phase inputs and move situations."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from pipeline.core.moves import Situation
from pipeline.core.phases import Answer, PhaseInputs
from pipeline.core.vocab import Stage

TODAY = date(2026, 3, 10)


def days_ago(n: int) -> date:
    """Return the date ``n`` days before TODAY."""
    return TODAY - timedelta(days=n)


def answers(
    item: str, values: list[Any], *, on: date = TODAY, first: int = 1
) -> tuple[Answer, ...]:
    """Return one answer per value from people p<first>, p<first+1>, ... at orgs o<n>."""
    return tuple(
        Answer(person=f"p{n}", organisation=f"o{n}", item=item, value=v, on=on)
        for n, v in enumerate(values, start=first)
    )


def inputs(*groups: tuple[Answer, ...], asked: int = 5, **kwargs: Any) -> PhaseInputs:
    """Return PhaseInputs for ``asked`` partners o1..o<asked> (o1 convenes) and the answers."""
    defaults: dict[str, Any] = {
        "partners_asked": asked,
        "organisations": tuple(f"o{n}" for n in range(1, asked + 1)),
        "convener": "o1",
        "answers": tuple(a for g in groups for a in g),
    }
    return PhaseInputs(**(defaults | kwargs))


HEALTHY = Situation(
    stage=Stage.GROWTH,
    response_rates=(0.8, 0.75, 0.8, 0.78, 0.8),
    silent_streaks={"Harbour Food Bank": 0, "Northside Clinic": 1},
    echo_rate=85.0,
    completion_rates=(80.0, 75.0),
    convener="Harbour Council",
    convener_load=0.3,
    m2_ratings={"Harbour Food Bank": 4, "Northside Clinic": 5},
    weeks_since_last_win=2,
    convener_tie_share=0.4,
    months_to_funding_end=24,
)


def situation(**changes: Any) -> Situation:
    """Return the healthy situation with some things changed."""
    return replace(HEALTHY, **changes)
