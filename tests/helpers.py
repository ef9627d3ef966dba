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

# For a browser test's page.evaluate: every visible text's colour against the first opaque
# background behind it, as WCAG ratios; the texts under AA come back. With invert, every colour
# is inverted first (255 - each channel), as full-inversion clients do; with skip, texts inside
# elements matching that selector are left out.
CONTRAST_JS = """({invert = false, skip = null} = {}) => {
  function rgb(c) { const m = c.match(/[\\d.]+/g); return m ? m.map(Number) : [0,0,0,0]; }
  function flip(c) { return invert ? [255 - c[0], 255 - c[1], 255 - c[2], c[3]] : c; }
  function lum(c) { const v = c.slice(0,3).map(x => { x /= 255;
    return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; }
  function bg(el) { for (; el; el = el.parentElement) {
    const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] > 0.9) return c; } return [255,255,255,1]; }
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode; const el = node.parentElement;
    const text = node.textContent.replace(/\\u00a0/g, ' ').trim();
    if (!text || !el || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || (skip && el.closest(skip))) continue;
    const fg = lum(flip(rgb(style.color))), back = lum(flip(bg(el)));
    const ratio = (Math.max(fg, back) + 0.05) / (Math.min(fg, back) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push(text.slice(0, 40) + ' ' + ratio.toFixed(2));
  }
  return bad;
}"""
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
