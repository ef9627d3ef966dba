"""Emails shown before they are sent: every kind with example data, and a round's invitation
as a partner will get it (worked out in full, then rolled back, like `cos load --dry-run`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from sqlmodel import select

from emails import Rendered, render_email
from emails.render import render_named
from pipeline.config import Settings
from pipeline.core.vocab import EmailKind
from pipeline.db import session_scope
from pipeline.models import Delivery
from pipeline.rounds import start_round
from pipeline.sending import compose

WIN = "By June 2027, no family in Riverside goes a week without a hot meal."
COALITION = "Riverside Food Coalition"
CLOSES = "Thursday 3 December 2026, 17:00 Europe/London"


def _item(text: str, status: str, *, note: str = "", overdue: bool = False) -> dict[str, Any]:
    return {"text": text, "due": "18 Dec", "status": status, "note": note, "overdue": overdue}


def _metric(key: str, name: str, **values: Any) -> dict[str, Any]:
    metric = {
        "key": key, "name": name, "unit": "meals", "owner": "Northside Food Bank",
        "baseline": 800.0, "target": 2000.0, "direction": "up", "value": 1640.0,
        "previous": 1400.0, "change": 240.0, "progress": 70, "reported": True,
    }
    return {**metric, **values}


EXAMPLES: dict[str, dict[str, Any]] = {
    EmailKind.INVITATION: {
        "coalition_name": COALITION, "win": WIN, "round_label": "Round 4",
        "person_name": "Amira O'Neill", "organisation_name": "Northside Food Bank",
        "link": "https://cos.example.org/c/3kT9x_Qm2vL8pZr4YbN1wC7eHsJ0aUdF5gKiXoVt6yE",
        "closes_at": CLOSES,
        "commitments": [
            {"text": "Open a Saturday pantry at St Mark's hall", "due": "2026-12-18"},
            {"text": "Share the volunteer rota with the school kitchens", "due": None},
        ],
        "metrics": [{"name": "Meals served", "unit": "meals"},
                    {"name": "Volunteer hours", "unit": ""}],
        "lead_organisation": "Riverside CVS",
        "contact": {"name": "Dana Whitfield", "email": "dana@riverside-cvs.example"},
        "footer_reason": "you are a partner of Riverside Food Coalition",
    },
    EmailKind.DIGEST: {
        "coalition_name": COALITION, "win": WIN, "round_label": "Round 4",
        "closes_at": CLOSES, "closed": True, "web_link": None,
        "footer_reason": "you lead Riverside Food Coalition",
        "scoreboard": {
            "response": {"invited": 10, "answered": 8, "rate": 0.8, "silent": [
                {"name": "Tom Reyes", "organisation": "Eastgate Youth Club"},
                {"name": "Priya Shah", "organisation": "Hope Kitchen"}]},
            "commitments": {
                "totals": {"done": 3, "on_track": 5, "slipping": 2, "blocked": 1,
                           "dropped": 1, "no_update": 2, "overdue": 1},
                "by_organisation": [
                    {"organisation": "Northside Food Bank", "items": [
                        _item("Open a Saturday pantry", "blocked", note="No van yet",
                              overdue=True),
                        _item("Share the volunteer rota", "done"),
                        _item("Recruit five drivers", "on_track")]},
                    {"organisation": "Hope Kitchen", "items": [
                        _item("Cook 200 extra meals a week", "slipping",
                              note="Lost our second cook")]},
                ],
            },
            "metrics": [
                _metric("meals", "Meals served"),
                _metric("wait", "Days waiting for a food parcel", unit="days", baseline=9.0,
                        target=2.0, direction="down", value=7.5, previous=7.0, change=0.5,
                        progress=21),
                _metric("cost", "Cost per meal", unit="£", baseline=3.2, target=2.5,
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
    "account/sign_in_link": {
        "link": "https://cos.example.org/admin/sign-in/link/Zm9vYmFyYmF6cXV4cXV1eGNvcmdl",
        "minutes": 15,
        "footer_reason": "someone asked to sign in to COS Cadence with this address",
    },
}
TITLES = {EmailKind.INVITATION: "Invitation to check in", EmailKind.DIGEST: "Digest for leads",
          "account/sign_in_link": "A lead's sign-in link"}


@dataclass(frozen=True)
class Example:
    """One email kind rendered with example data."""

    name: str
    title: str
    rendered: Rendered


def example_emails() -> list[Example]:
    """Render every email the app sends with example data (the round kinds and account ones)."""
    out = []
    for name, context in EXAMPLES.items():
        data = copy.deepcopy(context)
        kinds = {k.value for k in EmailKind}
        rendered = render_email(name, data) if name in kinds else render_named(name, data)
        out.append(Example(str(name), TITLES.get(name, str(name)), rendered))
    return out


def example_email(name: str) -> Example | None:
    """Return one example by name, or None."""
    return next((e for e in example_emails() if e.name == name), None)


def first_invitation(settings: Settings, slug: str, closes_in: timedelta) -> EmailMessage:
    """Build the invitation the first partner would get if a round opened now, exactly as the
    sender composes it; nothing is kept (the round is opened and rolled back)."""
    with session_scope(settings.database_url) as session:
        round_, delivery_ids = start_round(session, settings.secret_key, slug, closes_in,
                                           force=True)
        delivery = session.exec(select(Delivery).where(
            Delivery.id == delivery_ids[0])).one() if delivery_ids else None
        if delivery is None:  # start_round refuses a coalition without partners first
            raise LookupError(f"{slug} has nobody to invite")
        message = compose(session, settings, delivery)
        session.rollback()
    return message


def test_invitation(settings: Settings, slug: str, closes_in: timedelta, to: str) -> str:
    """Send the first partner's invitation (as previewed) to someone else, marked as a test;
    return its subject. Its link is not a live one: the round was never opened."""
    from pipeline.admins import send_message

    message = first_invitation(settings, slug, closes_in)
    subject = f"[test] {message['Subject']}"
    del message["To"], message["Subject"]
    message["To"] = to
    message["Subject"] = subject
    send_message(settings, message)
    return subject
