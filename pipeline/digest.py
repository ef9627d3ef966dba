"""The leads' digest, every step in one place: who gets it, what it says, rendering, sending."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from emails import Rendered
from emails.i18n import format_moment, gettext_for, normalise
from emails.model_words import translated_model
from emails.render import render_web
from pipeline import ledger
from pipeline.config import Settings
from pipeline.core.vocab import DeliveryStatus, EmailKind, Role
from pipeline.cos_model import store_snapshot
from pipeline.db import session_scope
from pipeline.email_kinds import email_kind, memoised
from pipeline.history import load_history
from pipeline.models import Coalition, Person, PhaseSnapshot, Round, Scoreboard
from pipeline.scoreboard import store_scoreboard
from pipeline.sending import send_in_process


def leads(session: Session, coalition_id: int) -> list[Person]:
    """Return the active leads of a coalition, who receive the digest."""
    return list(session.exec(select(Person).where(
        Person.coalition_id == coalition_id, Person.role == Role.LEAD,
        col(Person.active).is_(True)).order_by(col(Person.id))))


def scoreboard_for(session: Session, round_id: int) -> dict[str, Any]:
    """Return a round's stored scoreboard, computing it if the round was never merged."""
    row = session.exec(select(Scoreboard).where(Scoreboard.round_id == round_id)).first()
    return row.data if row else store_scoreboard(session, round_id)


def figures_for(session: Session, round_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return a round's stored scoreboard and COS Model snapshot (what its merge stored),
    computing and storing what is missing from one read of the round's history."""
    board = session.exec(select(Scoreboard).where(Scoreboard.round_id == round_id)).first()
    snap = session.exec(select(PhaseSnapshot).where(PhaseSnapshot.round_id == round_id)).first()
    history = None if board and snap else load_history(session, round_id)
    return (board.data if board else store_scoreboard(session, round_id, history=history),
            snap.data if snap else store_snapshot(session, round_id, history))


# How long the digest's "view in browser" link works after the round's scheduled close.
DIGEST_LINK_DAYS = 30


def digest_token(secret_key: str, round_id: int, expires: int) -> str:
    """Return the web digest link's signature for a round and an expiry (Unix seconds)."""
    mac = hmac.new(secret_key.encode(), f"cos-digest:{round_id}:{expires}".encode(),
                   hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def digest_web_link(settings: Settings, round_: Round) -> str | None:
    """Return the signed link to a round's digest in a browser (None without a secret key).

    It expires DIGEST_LINK_DAYS after the round's scheduled close, so every lead's copy and
    every re-render of the digest carries the same link.
    """
    if not settings.secret_key:
        return None
    expires = int((round_.closes_at + timedelta(days=DIGEST_LINK_DAYS)).timestamp())
    token = digest_token(settings.secret_key, round_.id or 0, expires)
    return f"{settings.base_url}/d/{round_.id}.{expires}.{token}"


def read_digest_link(secret_key: str, link_token: str, now: datetime) -> int | None:
    """Return the round a web digest link's ``ROUND.EXPIRES.SIGNATURE`` opens, or None when it
    is malformed, forged or expired."""
    parts = link_token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    round_id, expires = int(parts[0]), int(parts[1])
    if not secret_key or now.timestamp() >= expires or round_id >= 2**31:
        return None
    if not hmac.compare_digest(parts[2], digest_token(secret_key, round_id, expires)):
        return None
    return round_id


# The most entries of one list the digest email shows; the rest are counted and left to the
# web version, so a 500-organisation digest stays under Gmail's 102 KB clipping limit.
EMAIL_LIST_LIMIT = 12


def shorten(scoreboard: dict[str, Any], limit: int) -> dict[str, Any]:
    """Return a copy of the scoreboard with each list cut to `limit` entries, and how many
    were left out of each under "more" (notable commitments first, as the email shows them)."""
    from emails.format import is_notable

    # Only the containers cut here are copied: the entries themselves are shared, never changed
    # (a deep copy of a 500-organisation scoreboard cost more than rendering the email).
    board = dict(scoreboard)
    more: dict[str, int] = {}

    def cut(holder: dict[str, Any], key: str, name: str) -> None:
        items = holder.get(key) or []
        more[name] = max(0, len(items) - limit)
        holder[key] = items[:limit]

    board["response"] = response = dict(board.get("response") or {})
    cut(response, "silent", "silent")
    board["commitments"] = commitments = dict(board.get("commitments") or {})
    groups = [g for g in commitments.get("by_organisation") or []
              if any(is_notable(item) for item in g.get("items", []))]
    commitments["by_organisation"] = groups
    cut(commitments, "by_organisation", "commitments")
    for key in ("metrics", "wins", "blockers", "help", "conflicts"):
        cut(board, key, key)
    board["more"] = more
    return board


@email_kind(EmailKind.DIGEST)
def digest_context(session: Session, settings: Settings, round_: Round, coalition: Coalition,
                   person: Person | None = None) -> dict[str, Any]:
    """Gather what the digest email says about a round (the same for every lead): long lists
    cut short, the web version (full_digest_context) has them whole."""
    def build() -> dict[str, Any]:
        context = full_digest_context(session, settings, round_, coalition)
        context["scoreboard"] = shorten(context["scoreboard"], EMAIL_LIST_LIMIT)
        return context

    # Every lead's copy says the same: gathered once per batch (the caller adds its own keys to
    # the top level of the copy it gets, never inside).
    return dict(memoised(session, ("digest", round_.id), build))


def full_digest_context(session: Session, settings: Settings, round_: Round,
                        coalition: Coalition) -> dict[str, Any]:
    """Gather everything the digest says about a round, every list whole."""
    language = normalise(coalition.language)  # one digest for all leads: the coalition's
    _ = gettext_for(language)
    scoreboard, model = figures_for(session, round_.id or 0)
    return {
        "language": language, "number_locale": coalition.locale,
        "coalition_name": coalition.name, "win": coalition.win,
        "round_label": _("Round %(number)s", number=round_.number),
        "closes_at": format_moment(round_.closed_at or round_.closes_at, coalition.timezone,
                                   language),
        "closed": round_.closed_at is not None,
        "web_link": digest_web_link(settings, round_),
        "scoreboard": scoreboard,
        "model": translated_model(model, language, coalition.locale),
        "footer_reason": _("you lead %(coalition)s", coalition=coalition.name),
    }


def render_digest(session: Session, settings: Settings, round_id: int) -> Rendered:
    """Render a round's digest for a browser or a file (subject, text, HTML), every list
    whole: the web version (`/d/...`, `cos digest --out`, the admin preview). Its styles stay
    in the <style> block, with no CSS inliner pass, so its cost grows with the lists alone."""
    round_ = session.get(Round, round_id)
    assert round_ is not None
    coalition = session.get(Coalition, round_.coalition_id)
    assert coalition is not None
    return render_web(EmailKind.DIGEST,
                      full_digest_context(session, settings, round_, coalition))


def queue_digest(session: Session, round_id: int) -> list[int]:
    """Create the digest's ledger rows (one per lead); return those not sent yet."""
    round_ = session.get(Round, round_id)
    assert round_ is not None
    return ledger.ensure_rows(session, round_id,
                              [p.id or 0 for p in leads(session, round_.coalition_id)],
                              EmailKind.DIGEST)


@dataclass
class DigestReport:
    """What sending a round's digest did."""

    round_id: int
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: int = 0  # leads who already had this round's digest


def send_digest(settings: Settings, round_id: int) -> DigestReport:
    """Send the digest now to every lead not sent it yet; report each outcome."""
    report = DigestReport(round_id)
    with session_scope(settings.database_url) as session:
        delivery_ids = queue_digest(session, round_id)
        report.skipped = ledger.sent_count(session, round_id, EmailKind.DIGEST)
    for outcome in send_in_process(settings, delivery_ids):
        if outcome.status == DeliveryStatus.SENT:
            report.sent.append(outcome.detail)
        elif outcome.status == "skipped":
            report.skipped += 1  # another process sent it meanwhile
        else:
            report.failed.append(outcome.detail)
    return report
