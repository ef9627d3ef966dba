"""Example content for every email kind: `cos preview`, the admin email previews, warming
the inliner before a worker forks."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from emails.i18n import format_moment, gettext_for, short_moment
from emails.model_words import translated_model
from emails.notices import notice_context, opt_out_notice, paused_notice

if TYPE_CHECKING:
    from emails.render import Rendered

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
                    {"text": "Open a Saturday pantry", "due": "2026-12-18", "status": "blocked",
                     "note": "No van on Saturdays", "overdue": True},
                    {"text": "Recruit five drivers", "due": "2026-12-18", "status": "on_track",
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
}


def _phase(label: str, score: int | None, band: str, passed: bool) -> dict[str, Any]:
    return {"label": label, "score": score, "band": band, "passed": passed}


def _words(msgid: str, **values: Any) -> dict[str, Any]:
    return {"msgid": msgid, "values": values}


# A phase snapshot as pipeline.core.model writes it (English, with its words kept apart).
MODEL: dict[str, Any] = {
    "stage": "growth", "focus": "align",
    "phases": {
        "ready": _phase("Ready", 78, "strong", True),
        "win": _phase("Win", 64, "discuss", True),
        "align": _phase("Align", 41, "concern", False),
        "score": _phase("Score", 70, "strong", True),
        "trust": _phase("Trust", None, "not enough answers", False),
        "momentum": _phase("Momentum", 55, "discuss", False),
    },
    "moves": [
        {"rank": 1, "id": "silent-partner", "phase": "ready",
         "move": "Phone Eastgate Youth Club; don't email.",
         "reason": "The balance of benefit and cost is what separates members who stay.",
         "evidence": "Eastgate Youth Club silent for 3 check-ins",
         "script": "We haven't heard from you. No guilt: is this still worth your time, "
                   "and what would make it so?",
         "words": {"move": _words("Phone %(names)s; don't email.",
                                  names="Eastgate Youth Club"),
                   "evidence": [_words("%(name)s silent for %(count)s check-ins",
                                       name="Eastgate Youth Club", count=3)]}},
        {"rank": 2, "id": "convener-load", "phase": "align",
         "move": "Hand off three commitments and rotate the chair. Candidates: Book the hall; "
                 "Chase the council; Print the flyers.",
         "reason": "Convener burnout, and a backbone that became the engine.",
         "evidence": "Riverside CVS holds 62% of open commitments",
         "script": "I'm holding too much, which makes this my project, not ours. Who takes one "
                   "of these three?",
         "words": {"move": _words("Hand off three commitments and rotate the chair. "
                                  "Candidates: %(candidates)s.",
                                  candidates="Book the hall; Chase the council; Print the "
                                             "flyers"),
                   "evidence": [_words("%(convener)s holds %(share)s%% of open commitments",
                                       convener="Riverside CVS", share=62)]}},
    ],
    "metrics": [
        {"key": "meals", "band": "green", "trend": "improving", "trend_rounds": 3,
         "freshness": 0, "story": "The Saturday pantry opened in week 2."},
        {"key": "wait", "band": "red", "trend": "worsening", "trend_rounds": 2,
         "freshness": 0, "story": ""},
        {"key": "cost", "band": "amber", "trend": None, "trend_rounds": 0, "freshness": 2,
         "story": ""},
    ],
    "slipped": [
        {"kind": "metric", "name": "wait",
         "what": "Days waiting for a food parcel went from amber to red",
         "why": "worsening for 2 reading(s)",
         "words": {"what": _words("%(metric)s went from %(before)s to %(after)s",
                                  metric="Days waiting for a food parcel",
                                  before=_words("amber"), after=_words("red")),
                   "why": _words("%(trend)s for %(readings)s reading(s)",
                                 trend=_words("worsening"), readings=2)}},
    ],
}


# Preview names that are not a template's own name: the template each renders.
TEMPLATES: dict[str, str] = {
    "web-digest": "digest",
    "opt-out-notice": "notice",
    "sign-in": "account/sign_in_link",
}
# What each preview shows, for `cos preview` and the admin previews.
TITLES: dict[str, str] = {
    "invitation": "Invitation to check in",
    "reminder": "Reminder to the silent",
    "digest": "Digest for leads",
    "web-digest": "The digest's web version (every list whole)",
    "notice": "Admin alert: a round paused itself",
    "opt-out-notice": "Leads told a partner unsubscribed",
    "sign-in": "A lead's sign-in link",
}
NAMES = tuple(TITLES)

# The example round closes at this moment (a Thursday), written for each reader's language.
CLOSES = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
TIMEZONE = "Europe/London"
SENT = CLOSES - timedelta(days=2)  # when the example reminder goes out


def template_of(name: str) -> str:
    """The template triple a preview name renders."""
    return TEMPLATES.get(name, name)


def example(kind: str, language: str = "en", *, coalition: str | None = None,
            round_number: int = 4) -> dict[str, Any]:
    """Return a fresh copy of a kind's example content written for `language` (for another
    coalition name or round number when given), or say which kinds have one."""
    if kind not in NAMES:
        raise KeyError(f"no example for email kind {kind!r} (known: {', '.join(NAMES)})")
    _ = gettext_for(language)
    closes = format_moment(CLOSES, TIMEZONE, language)
    common = {"language": language, "number_locale": language, "closes_at": closes,
              "round_label": _("Round %(number)s", number=round_number)}
    coalition = coalition or _COMMON["coalition_name"]
    if kind in ("notice", "opt-out-notice"):
        title, lines = (paused_notice(coalition, round_number, 12, "paused itself after 5 delivery "
                                      "failures in a row", "451 4.3.0 Mail server busy")
                        if kind == "notice" else
                        opt_out_notice(coalition, "Tom Reyes", "tom.reyes@eastgate.example"))
        return notice_context(coalition, title, lines, language)
    if kind == "sign-in":
        return {"language": language, "link": "https://cos.example.org/admin/sign-in/link/"
                "Zm9vYmFyYmF6cXV4cXV1eGNvcmdl", "minutes": 15, "coalition_name": coalition,
                "led_coalition": coalition,
                "footer_reason": _("someone asked to sign in to COS Cadence with this address")}
    data = copy.deepcopy(EXAMPLES[template_of(kind)])
    data.update(common, coalition_name=coalition)
    if "person_name" in data:
        data["footer_reason"] = _("you are a partner of %(coalition)s", coalition=coalition)
    if kind == "reminder":
        data["closes_at_short"] = short_moment(CLOSES, TIMEZONE, language, SENT)
    if template_of(kind) == "digest":
        data["closes_at"] = format_moment(CLOSES, TIMEZONE, language)
        data["footer_reason"] = _("you lead %(coalition)s", coalition=coalition)
        data["web_link"] = "https://cos.example.org/d/12.1799000000.ExampleSignatureExampleSig"
        data["model"] = translated_model(MODEL, language, language)
        if kind == "digest":  # the email: long lists cut short, the rest left to the web
            data["scoreboard"]["more"] = {"silent": 3, "wins": 2}
    return data


# Preview names that are web pages, not emails: rendered by emails.render.render_web (styles
# in the <style> block, no CSS inliner).
WEB_PAGES = frozenset({"web-digest"})


def render_preview(name: str, context: dict[str, Any]) -> Rendered:
    """Render a preview name from a context as the app does: an email with inlined CSS, or a
    web page (WEB_PAGES) with its styles in the head."""
    from emails.render import render_named, render_web

    return (render_web if name in WEB_PAGES else render_named)(template_of(name), context)


def render_example(name: str, language: str = "en") -> Rendered:
    """Render a preview name's example in `language` (subject, text and HTML)."""
    return render_preview(name, example(name, language))


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
