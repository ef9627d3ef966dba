"""Printable worksheets from the playbook: the readiness check, the win sentence, the one-page
scoreboard for a meeting. Standalone HTML (styles inline, no script), A4 or a phone."""

from __future__ import annotations

from typing import Any

import jinja2
from sqlmodel import Session

from pipeline.core.echo import WinPart
from pipeline.core.onepage import sparkline_points
from pipeline.core.phases import READINESS_QUESTIONS
from pipeline.core.questions import READINESS_SCALE
from pipeline.cos_model import one_page_view, win_sentence
from pipeline.rounds import get_coalition, latest_round

KINDS = ("readiness", "win", "scoreboard")


def environment() -> jinja2.Environment:
    """Return the worksheets' Jinja environment (HTML escaped)."""
    return jinja2.Environment(loader=jinja2.PackageLoader("forms", "sheets"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def render_worksheet(session: Session, kind: str, slug: str) -> str:
    """Render one worksheet for a coalition; raise ValueError for an unknown kind."""
    if kind not in KINDS:
        raise ValueError(f"a worksheet is one of {', '.join(KINDS)}, not {kind!r}")
    coalition = get_coalition(session, slug)
    context: dict[str, Any] = {"coalition": coalition}
    if kind == "readiness":
        context["items"] = [(item.value, text) for item, text in READINESS_QUESTIONS.items()]
        context["scale"] = READINESS_SCALE
    elif kind == "win":
        win = win_sentence(coalition)
        context["parts"] = [(part.value, win.part(part)) for part in WinPart]
        context["missing"] = [p.value for p in win.missing_parts]
    else:
        round_ = latest_round(session, coalition)
        if round_ is None:
            raise ValueError(f"{slug} has no rounds yet: the scoreboard worksheet needs one")
        context["view"] = one_page_view(session, round_)
        context["sparkline"] = sparkline_points
    return environment().get_template(f"{kind}.html").render(**context)
