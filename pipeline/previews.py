"""Emails shown before they are sent: every kind with example data, and a round's invitation
as a partner will get it (worked out in full, then rolled back, like `cos load --dry-run`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

from sqlmodel import select

from emails import Rendered
from emails.examples import NAMES, TITLES, render_example
from emails.i18n import LANGUAGES
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.models import Delivery
from pipeline.rounds import start_round
from pipeline.sending import compose


@dataclass(frozen=True)
class Example:
    """One email kind rendered with example data."""

    name: str
    title: str
    rendered: Rendered


def example_emails() -> list[Example]:
    """Render every email the app sends with example data, in each shipped language (English
    named as the kind, another language as LANG/KIND)."""
    return [Example(name if language == "en" else f"{language}/{name}",
                    TITLES[name] if language == "en" else f"{TITLES[name]} ({language})",
                    render_example(name, language))
            for language in LANGUAGES for name in NAMES]


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
