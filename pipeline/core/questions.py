"""Which playbook questions a round asks, and how: the phase items on a rotation, by kind.

A weekly check-in stays short (PLAYBOOK.md, "Check-in design"): at most ``max_closed`` (6)
closed items besides the partner's own commitments and numbers. The trust pulse is one of them;
the rest come from the playbook's phase items:

1. the anchor, "worth the time it costs" (M2), every week;
2. ``focus_items`` (2) items of the focus phase, turning through its items round by round (so
   over two or three weeks every item of the focus phase is asked, and the 4-week window
   holds answers to all of them);
3. ``other_items`` (1) item of another phase, turning through the other phases round by round;
4. every ``echo_every`` (4) rounds, the win from memory (W1, free text), which is not closed.

Free-text and tie items (W1, T1) are never rotated in as closed items. A coalition sets
``focus_items``, ``other_items``, ``echo_every`` and ``anchor`` in its file's
``[model.rotation]`` table. The rule is pure: the same round number, focus and settings always
give the same questions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from pipeline.core.phases import ITEM_PHASE, Phase

AGREE = (("1", "1 · Disagree strongly"), ("2", "2 · Disagree"), ("3", "3 · Neither"),
         ("4", "4 · Agree"), ("5", "5 · Agree strongly"), ("not_sure", "Not sure"))

# The playbook's items in our wording; choices are (stored value, label).
ITEM_TEXT: Mapping[str, str] = {
    "R1": "This problem is urgent enough that we will give it staff time this quarter.",
    "R2": "My organisation gets something it needs from this table.",
    "R3": "Someone with real influence is opening doors for this work.",
    "R4": "Hours we can give this work next month.",
    "W1": "From memory, our win in one sentence.",
    "W2": "I could explain our win to my board in 30 seconds.",
    "W3": "We will be able to tell whether we hit it.",
    "A1": "Our named piece this week.",
    "A2": "I know who to call at two other partner organisations.",
    "A3": "Our pieces fit together without gaps or overlap.",
    "S1": "I looked at the scoreboard in the last two weeks.",
    "S2": "The scoreboard matches what I see on the ground.",
    "S3": "Our numbers went in on time.",
    "T2": "When I asked a partner for something, they came through.",
    "T3": "I can disagree here without it costing my organisation.",
    "M1": "In the last month we shipped something people outside the coalition noticed.",
    "M2": "What we get from this is worth the time it costs.",
    "M3": "If the convener vanished for a month, this would keep moving.",
}

ITEM_CHOICES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "R4": (("0", "None"), ("<2", "Under 2"), ("2-5", "2 to 5"), ("6-10", "6 to 10"),
           (">10", "More than 10")),
    "A1": (("done", "Done"), ("partly", "Partly"), ("not_yet", "Not yet"),
           ("no_piece", "No piece yet")),
    "S1": (("yes", "Yes"), ("no", "No")),
    "M1": (("yes", "Yes"), ("no", "No")),
    "S3": (("yes", "Yes"), ("late", "Late"), ("no", "No"), ("not_ours", "Not ours to send")),
}

CLOSED_ITEMS = tuple(code for code in ITEM_TEXT if code != "W1")
READINESS_SCALE = (("0", "0 · Not there"), ("1", "1 · Talk only"), ("2", "2 · Partly in place"),
                   ("3", "3 · In place, with evidence"))


def choices(code: str) -> tuple[tuple[str, str], ...]:
    """Return an item's answer choices (value, label): agreement unless it has its own."""
    return ITEM_CHOICES.get(code, AGREE)


def stored_value(code: str, value: str | None) -> int | str | None:
    """Return a posted answer as the check-in stores it (agreement answers as 1-5 numbers)."""
    if value in (None, ""):
        return None
    if code in ITEM_CHOICES or value == "not_sure":
        return value
    return int(value)


@dataclass(frozen=True)
class Rotation:
    """How a coalition rotates the phase items through its weekly check-ins."""

    anchor: str = "M2"
    focus_items: int = 2
    other_items: int = 1
    echo_every: int = 4
    max_closed: int = 6
    pulse: bool = True  # the existing trust pulse counts as one closed item


def rotation_from(overrides: Mapping[str, Any] | None) -> Rotation:
    """Return the default rotation with a coalition's overrides; bad names or values raise."""
    if not overrides:
        return Rotation()
    known = {f.name: f for f in fields(Rotation)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown rotation setting {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for name, value in overrides.items():
        default = getattr(Rotation(), name)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"rotation {name!r} must be true or false, not {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"rotation {name!r} must be a whole number >= 0, not {value!r}")
        elif value not in CLOSED_ITEMS and value != "":
            raise ValueError(f"rotation anchor must be an item code ({', '.join(CLOSED_ITEMS)})"
                             f" or \"\", not {value!r}")
        values[name] = value
    rotation = replace(Rotation(), **values)
    if rotation.max_closed > 6:
        raise ValueError("rotation max_closed must be 6 or less: longer check-ins lose answers")
    return rotation


def phase_items(phase: Phase) -> tuple[str, ...]:
    """Return a phase's closed items in the playbook's order."""
    return tuple(c for c in CLOSED_ITEMS if ITEM_PHASE[c] is phase)


def checkin_items(round_number: int, focus: Phase, rotation: Rotation = Rotation()
                  ) -> tuple[tuple[str, ...], bool]:
    """Return (closed phase items to ask, whether to ask the win from memory) for a round."""
    budget = rotation.max_closed - (1 if rotation.pulse else 0)
    chosen: list[str] = []

    def add(code: str) -> None:
        if code and code not in chosen and len(chosen) < budget:
            chosen.append(code)

    add(rotation.anchor)
    pool = [c for c in phase_items(focus) if c != rotation.anchor]
    if pool:
        start = (round_number - 1) * rotation.focus_items
        for i in range(min(rotation.focus_items, len(pool))):
            add(pool[(start + i) % len(pool)])
    others = [p for p in Phase if p is not focus]
    for i in range(rotation.other_items):
        phase = others[(round_number - 1 + i) % len(others)]
        pool = [c for c in phase_items(phase) if c not in chosen]
        if pool:
            add(pool[(round_number - 1) // len(others) % len(pool)])
    echo = bool(rotation.echo_every) and round_number % rotation.echo_every == 0
    return tuple(chosen), echo
