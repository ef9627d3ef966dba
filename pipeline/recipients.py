"""Who may be sent to: the one rule every send path asks before an email goes out.

A person is never sent a recurring email once they opted out, and nothing at all once their
address bounced (until an admin restores it). A reminder goes only to someone who was invited,
has not answered, and did not say "not this week". A round that is paused holds its mail; a
cancelled one sends nothing more.
"""

from __future__ import annotations

from email.utils import parseaddr
from functools import lru_cache

from sqlmodel import Session, col, select

from pipeline.config import Settings
from pipeline.core.vocab import EmailKind
from pipeline.email_kinds import batch_get
from pipeline.ledger import LedgerRow
from pipeline.models import Invitation, Person, Response, Round
from pipeline.tokens import optout_token

# Every kind the cadence sends again and again: each carries List-Unsubscribe.
RECURRING_KINDS = frozenset({EmailKind.INVITATION, EmailKind.REMINDER, EmailKind.DIGEST})


def reason_to_withhold(session: Session, delivery: LedgerRow) -> str:
    """Return why this row's email must not go to its person ('' when it may go)."""
    person = batch_get(session, Person, delivery.person_id)
    round_ = batch_get(session, Round, delivery.round_id)
    if person is None or round_ is None:
        return "the person or the round no longer exists"
    if round_.cancelled_at is not None:
        return "the round was cancelled"
    if person.suppressed_at is not None:
        return (f"the address bounced ({person.suppressed_reason or 'refused for good'}); "
                f"`cos people restore {person.email}` allows it again")
    if delivery.kind in RECURRING_KINDS and person.opted_out_at is not None:
        return "they opted out of these emails"
    if delivery.kind == EmailKind.REMINDER:
        invitation = session.exec(select(Invitation).where(
            Invitation.round_id == round_.id, Invitation.person_id == person.id)).first()
        if invitation is None or invitation.revoked_at is not None:
            return "they have no live invitation to the round"
        if invitation.not_this_week_at is not None:
            return "they said not this week"
        answered = session.exec(select(Response.id).where(
            Response.round_id == round_.id, Response.person_id == person.id)).first()
        if answered is not None:
            return "they already answered"
    return ""


def reason_to_hold(session: Session, delivery: LedgerRow) -> str:
    """Return why this row's email waits for now ('' when nothing holds it): a paused round."""
    round_ = session.get(Round, delivery.round_id)
    if round_ is not None and round_.paused_at is not None and round_.cancelled_at is None:
        return f"round {round_.number} is paused ({round_.pause_reason or 'by an admin'})"
    return ""


def reminder_recipients(session: Session, round_id: int) -> list[int]:
    """Return the people a reminder of the round goes to: invited, silent, still reachable."""
    answered = select(Response.person_id).where(Response.round_id == round_id)
    rows = session.exec(
        select(Invitation.person_id)
        .join(Person, col(Person.id) == col(Invitation.person_id))
        .where(Invitation.round_id == round_id, col(Invitation.revoked_at).is_(None),
               col(Invitation.not_this_week_at).is_(None), col(Person.active).is_(True),
               col(Person.opted_out_at).is_(None), col(Person.suppressed_at).is_(None),
               col(Invitation.person_id).not_in(answered))
        .order_by(col(Invitation.person_id)))
    return list(rows.all())


def unsubscribe_link(settings: Settings, person_id: int) -> str:
    """Return a person's opt-out page: GET shows a button, POST (one click) opts them out."""
    return f"{settings.base_url}/u/{optout_token(settings.secret_key, person_id)}"


def unsubscribe_headers(settings: Settings, person_id: int) -> dict[str, str]:
    """Return the List-Unsubscribe headers of a recurring email (RFC 2369 and RFC 8058)."""
    token = optout_token(settings.secret_key, person_id)
    mailbox = _mailbox(settings.mail_from)
    return {
        "List-Unsubscribe": (f"<{unsubscribe_link(settings, person_id)}>, "
                             f"<mailto:{mailbox}?subject=unsubscribe%20{token}>"),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


@lru_cache(maxsize=16)
def _mailbox(mail_from: str) -> str:
    """The bare address of the sender (parsed once, not for every email)."""
    return parseaddr(mail_from)[1]
