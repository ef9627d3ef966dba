"""Example content for every email kind: `cos preview`, the admin email previews, warming
the inliner before a worker forks."""

from __future__ import annotations

import copy
from typing import Any

_COMMON: dict[str, Any] = {
    "coalition_name": "Riverside Food Coalition",
    "win": "By June 2027, no family in Riverside goes a week without a hot meal.",
    "round_label": "Round 4",
    "closes_at": "Thursday 3 December 2026, 17:00 (Europe/London)",
    "unsubscribe_link": "https://cos.example.org/u/12-ExampleExampleExampleEx",
}
_PARTNER: dict[str, Any] = {
    **_COMMON,
    "person_name": "Amira O'Neill",
    "organisation_name": "Northside Food Bank",
    "link": "https://cos.example.org/c/3kT9x_Qm2vL8pZr4YbN1wC7eHsJ0aUdF5gKiXoVt6yE",
    "commitments": [
        {"text": "Open a Saturday pantry at St Mark's hall", "due": "2026-12-18"},
        {"text": "Share the volunteer rota with the school kitchens", "due": None},
    ],
    "metrics": [{"name": "Meals served", "unit": "meals"}, {"name": "Volunteer hours",
                                                            "unit": ""}],
    "lead_organisation": "Riverside CVS",
    "contact": {"name": "Jon Evans", "email": "jon.evans@riversidecvs.example"},
    "footer_reason": "you are a partner of Riverside Food Coalition",
}


def _metric(key: str, **values: Any) -> dict[str, Any]:
    metric = {
        "key": key, "name": key.title(), "unit": "meals", "owner": "Northside Food Bank",
        "baseline": 800.0, "target": 2000.0, "direction": "up", "value": 1640.0,
        "previous": 1400.0, "change": 240.0, "progress": 70, "reported": True,
    }
    return {**metric, **values}


EXAMPLES: dict[str, dict[str, Any]] = {
    "invitation": _PARTNER,
    "reminder": {
        **_PARTNER,
        "not_this_week_link": f"{_PARTNER['link']}/not-this-week",
        "closes_at_short": "2026-12-03 17:00 GMT",
        "last": False,
    },
    "digest": {
        **_COMMON,
        "web_link": None,
        "closed": True,
        "footer_reason": "you lead Riverside Food Coalition",
        "scoreboard": {
            "response": {"invited": 10, "answered": 8, "rate": 0.8, "silent": [
                {"name": "Tom Reyes", "organisation": "Eastgate Youth Club"}]},
            "commitments": {
                "totals": {"done": 3, "on_track": 5, "slipping": 2, "blocked": 1,
                           "dropped": 0, "no_update": 2, "overdue": 1},
                "by_organisation": [{"organisation": "Northside Food Bank", "items": [
                    {"text": "Open a Saturday pantry", "due": "18 Dec", "status": "blocked",
                     "note": "No van on Saturdays", "overdue": True},
                    {"text": "Recruit five drivers", "due": "18 Dec", "status": "on_track",
                     "note": "", "overdue": False}]}],
            },
            "metrics": [
                _metric("meals", name="Meals served"),
                _metric("wait", name="Days waiting for a food parcel", unit="days",
                        baseline=9.0, target=2.0, direction="down", value=7.5, previous=7.0,
                        change=0.5, progress=21),
                _metric("cost", name="Cost per meal", unit="£", baseline=3.2, target=2.5,
                        direction="down", value=None, change=None, progress=None,
                        reported=False),
            ],
            "wins": [{"organisation": "Hope Kitchen", "person": "Priya Shah",
                      "text": "Fed 312 people at the winter lunch"}],
            "blockers": [{"organisation": "Northside Food Bank", "person": "Amira O'Neill",
                          "text": "Need a van on Saturdays", "help_wanted": True}],
            "pulse": {"average": 4.2, "count": 7},
            "help": [{"helper": "Hope Kitchen", "helped": "Northside Food Bank"}],
            "conflicts": [],
        },
    },
    "notice": {
        "coalition_name": _COMMON["coalition_name"],
        "title": "Riverside Food Coalition: round 4 paused itself",
        "lines": ["Round 4 (campaign 12) paused itself after 5 delivery failures in a row, "
                  "so COS Cadence stopped sending its emails.",
                  "Check the mail settings, then run `cos campaign resume 12`."],
        "footer_reason": "you run Riverside Food Coalition in COS Cadence",
    },
}


def example(kind: str) -> dict[str, Any]:
    """Return a fresh copy of a kind's example content, or say which kinds have one."""
    if kind not in EXAMPLES:
        raise KeyError(f"no example for email kind {kind!r} (known: {', '.join(EXAMPLES)})")
    return copy.deepcopy(EXAMPLES[kind])


def vocabulary() -> list[tuple[str, dict[str, Any]]]:
    """Return contexts that between them show every element an email kind can have (each
    status and band badge, each width of a progress bar, the COS Model's section), for
    emails.render.warm: the inliner then knows every element before a worker forks, and a
    forked job inlines a digest of any length without running Premailer."""
    digest = example("digest")
    board = digest["scoreboard"]
    statuses = ["done", "on_track", "slipping", "blocked", "dropped", "no_update"]
    board["metrics"] = [
        _metric(f"m{n}", progress=n, change=(n % 3) - 1, direction="up" if n % 2 else "down")
        for n in range(101)] + [_metric("none", value=None, change=None, progress=None)]
    board["commitments"]["by_organisation"] = [{"organisation": "Northside Food Bank", "items": [
        {"text": s, "due": "18 Dec", "status": s, "note": "n", "overdue": True}
        for s in statuses]}]
    board["conflicts"] = [{"kind": "commitment", "subject": "s", "owner": "o", "unit": "",
                           "answers": [{"person": "p", "organisation": "o", "status": s,
                                        "value": None, "submitted_at": "t", "kept": True}
                                       for s in statuses]},
                          {"kind": "metric", "subject": "m", "owner": "o", "unit": "meals",
                           "answers": [{"person": "p", "organisation": "o", "status": None,
                                        "value": 3.0, "submitted_at": "t", "kept": False}]}]
    board["wins"], board["help"] = [], []
    board["blockers"][0]["help_wanted"] = True
    bands = ["strong", "discuss", "concern", "unknown"]
    digest["web_link"] = "https://cos.example.org/d/1.2.x"
    digest["model"] = {
        "stage": "forming", "focus": "p0",
        "phases": {f"p{n}": {"label": band, "score": None if n == 3 else 50,
                             "passed": n % 2 == 0, "band": band}
                   for n, band in enumerate(bands)},
        "slipped": [{"what": "w", "why": "y"}],
        "moves": [{"rank": 1, "move": "m", "phase": "win", "reason": "r", "evidence": "e",
                   "script": "s"}],
        "metrics": [{"key": f"m{n}", "band": band, "trend": "t", "trend_rounds": 3,
                     "freshness": 2, "story": "s"}
                    for n, band in enumerate(["green", "amber", "red"])],
    }
    empty = example("digest")
    empty["scoreboard"]["metrics"] = []
    empty["scoreboard"]["response"]["silent"] = []
    empty["scoreboard"]["blockers"] = []
    empty["scoreboard"]["pulse"] = {"average": None, "count": 0}
    empty["model"] = {**digest["model"], "moves": [], "slipped": []}
    return [("digest", digest), ("digest", empty)]
