"""Small steps the tests share: load a coalition, run the worker, read links from received mail."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result
from sqlmodel import Session, select

from cos.checkin_client import answer
from cos.processes import settings_env
from forms.checkin_form import note_field, reading_field, status_field
from pipeline.coalitions import load_coalition
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.models import Invitation, Person
from pipeline.rounds import start_round
from pipeline.tokens import derive_token
from pipeline.workers import run_burst

DATA = Path(__file__).parent / "data"
__all__ = ["answer"]  # the tests fill the form with the same client as the demo

LINK_RE = re.compile(r"http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]{43}")


def load(settings: Settings, name: str = "harbour.toml") -> str:
    """Load a coalition file from tests/data; return its slug."""
    with session_scope(settings.database_url) as session:
        return load_coalition(session, DATA / name).coalition


def open_round(settings: Settings, slug: str = "harbour-air") -> tuple[int, list[int]]:
    """Open a round directly; return its id and the deliveries to send."""
    from datetime import timedelta

    with session_scope(settings.database_url) as session:
        round_, deliveries = start_round(session, settings.secret_key, slug,
                                              timedelta(hours=72))
        return round_.id or 0, deliveries


def work(settings: Settings) -> None:
    """Run every queued job in this process until the queues are empty."""
    run_burst(settings)


def link_for(settings: Settings, session: Session, email: str, round_id: int) -> str:
    """Rebuild a person's check-in link the way the invitation email does."""
    invitation = session.exec(select(Invitation).join(Person).where(
        Person.email == email, Invitation.round_id == round_id)).one()
    return f"/c/{derive_token(settings.secret_key, invitation.salt)}"


def links_in(messages: list) -> dict[str, str]:  # type: ignore[type-arg]
    """Map each recipient of received invitations to the link in the text part."""
    out = {}
    for received in messages:
        text = received.message.get_body(preferencelist=("plain",)).get_content()
        found = LINK_RE.search(text)
        if found:
            out[received.rcpt_tos[0]] = found.group(0)
    return out


def cos(settings: Settings, *args: str) -> Result:
    """Run a `cos` command with the test settings in its environment."""
    from cos.cli import main

    return CliRunner().invoke(main, list(args), env=settings_env(settings),
                              catch_exceptions=False)


def warnings_of(result: Result) -> str:
    """Return what a command said on stderr, without its start-up line ("using database ...")."""
    return "".join(line for line in result.stderr.splitlines(keepends=True)
                   if not line.startswith("using database "))


def commitment_field(session: Session, key: str, suffix: str = "status") -> str:
    """Return the form field name for a file commitment's status or note."""
    from pipeline.models import Commitment

    c = session.exec(select(Commitment).where(Commitment.source_key == f"file:{key}")).one()
    return (note_field if suffix == "note" else status_field)(str(c.id))


def metric_field(session: Session, key: str) -> str:
    """Return the form field name for a metric's reading."""
    from pipeline.models import Metric

    return reading_field(str(session.exec(select(Metric).where(Metric.key == key)).one().id))


def organisation_id(session: Session, name: str) -> int:
    """Return an organisation's id by name."""
    from pipeline.models import Organisation

    return session.exec(select(Organisation).where(Organisation.name == name)).one().id or 0
