"""Small steps the tests share: load a coalition, run the worker, read links from received mail."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result
from sqlmodel import Session, select

from pipeline.campaigns import start_campaign
from pipeline.coalitions import load_coalition
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.models import Invitation, Person
from pipeline.services import settings_env
from pipeline.tokens import derive_token
from pipeline.work import run_burst

DATA = Path(__file__).parent / "data"
LINK_RE = re.compile(r"http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]{43}")


def load(settings: Settings, name: str = "harbour.toml") -> str:
    """Load a coalition file from tests/data; return its slug."""
    with session_scope(settings.database_url) as session:
        return load_coalition(session, DATA / name).coalition


def open_round(settings: Settings, slug: str = "harbour-air") -> tuple[int, list[int]]:
    """Open a round directly; return its id and the deliveries to send."""
    from datetime import timedelta

    with session_scope(settings.database_url) as session:
        campaign, deliveries = start_campaign(session, settings.secret_key, slug,
                                              timedelta(hours=72))
        return campaign.id or 0, deliveries


def work(settings: Settings) -> None:
    """Run every queued job in this process until the queues are empty."""
    run_burst(settings)


def link_for(settings: Settings, session: Session, email: str, campaign_id: int) -> str:
    """Rebuild a person's check-in link the way the invitation email does."""
    invitation = session.exec(select(Invitation).join(Person).where(
        Person.email == email, Invitation.campaign_id == campaign_id)).one()
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
    from pipeline.cli import main

    return CliRunner().invoke(main, list(args), env=settings_env(settings),
                              catch_exceptions=False)


def commitment_field(session: Session, key: str, suffix: str = "status") -> str:
    """Return the form field name for a file commitment's status or note."""
    from pipeline.models import Commitment

    c = session.exec(select(Commitment).where(Commitment.source_key == f"file:{key}")).one()
    return f"c{c.id}_{suffix}"


def metric_field(session: Session, key: str) -> str:
    """Return the form field name for a metric's reading."""
    from pipeline.models import Metric

    return f"m{session.exec(select(Metric).where(Metric.key == key)).one().id}_value"


def organisation_id(session: Session, name: str) -> int:
    """Return an organisation's id by name."""
    from pipeline.models import Organisation

    return session.exec(select(Organisation).where(Organisation.name == name)).one().id or 0


def answer(link: str, fields: dict[str, str | list[str]]):  # type: ignore[no-untyped-def]
    """Open a check-in link over HTTP and submit these answers like a browser would."""
    import lxml.html
    import requests

    http = requests.Session()
    page = http.get(link, timeout=10)
    page.raise_for_status()
    form = lxml.html.fromstring(page.text).forms[0]
    pairs: list[tuple[str, str]] = [("csrf_token", form.fields["csrf_token"])]
    for name, value in fields.items():
        for v in value if isinstance(value, list) else [value]:
            pairs.append((name, v))
    return http.post(link, data=pairs, timeout=10)
