"""Rounds of check-ins: open one, invite everyone, watch it, close it and send the digest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from pipeline import ledger
from pipeline.config import Settings
from pipeline.core.vocab import EmailKind, Role
from pipeline.db import session_scope
from pipeline.digest import DigestReport, send_digest
from pipeline.merge import merge_round
from pipeline.models import (
    Coalition,
    Delivery,
    Invitation,
    Organisation,
    Person,
    Response,
    Round,
    utcnow,
)
from pipeline.scoreboard import round_conflicts
from pipeline.tokens import derive_token, hash_token, new_salt

DURATION_RE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_ROUND = timedelta(days=90)


class RoundError(Exception):
    """A round command cannot go ahead; the message says why and what to do."""


def parse_duration(text: str) -> timedelta:
    """Parse '72h', '3d', '90m' or '1w' into a timedelta."""
    match = DURATION_RE.match(text)
    if not match or int(match.group(1)) == 0:
        raise RoundError(f"{text!r} is not a duration like 72h, 3d, 90m or 1w")
    amount = int(match.group(1))
    if amount > 100_000 or timedelta(**{UNITS[match.group(2)]: amount}) > MAX_ROUND:
        raise RoundError(f"{text!r} is longer than a round can stay open (at most 90 days)")
    return timedelta(**{UNITS[match.group(2)]: amount})


def get_coalition(session: Session, slug: str) -> Coalition:
    """Return a coalition by slug, or say how to create it."""
    coalition = session.exec(select(Coalition).where(Coalition.slug == slug)).first()
    if coalition is None:
        known = ", ".join(session.exec(select(Coalition.slug)).all()) or "none yet"
        raise RoundError(f"no coalition {slug!r} (known: {known}); create it with cos load")
    return coalition


def get_round(session: Session, round_id: int) -> Round:
    """Return a round by id, or say that it does not exist."""
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise RoundError(f"no round {round_id}")
    return round_


def current_round(session: Session, coalition: Coalition) -> Round | None:
    """Return the coalition's open round_, if any."""
    return session.exec(select(Round).where(Round.coalition_id == coalition.id,
                                               col(Round.closed_at).is_(None))
                        .order_by(col(Round.number).desc())).first()


def latest_round(session: Session, coalition: Coalition) -> Round | None:
    """Return the coalition's most recent round_, open or closed."""
    return session.exec(select(Round).where(Round.coalition_id == coalition.id)
                        .order_by(col(Round.number).desc())).first()


def active_partners(session: Session, coalition_id: int) -> list[Person]:
    """Return the people asked to check in: active partners of active organisations."""
    return list(session.exec(
        select(Person).join(Organisation, col(Organisation.id) == col(Person.organisation_id))
        .where(Person.coalition_id == coalition_id, Person.role == Role.PARTNER,
               col(Person.active).is_(True), col(Organisation.active).is_(True))
        .order_by(col(Person.id))))


def start_round(session: Session, secret_key: str, slug: str, closes_in: timedelta,
                   *, force: bool = False) -> tuple[Round, list[int]]:
    """Open a round and invite every active partner; return it and the deliveries to send."""
    coalition = get_coalition(session, slug)
    current = current_round(session, coalition)
    if current is not None and not force:
        raise RoundError(
            f"{slug} already has an open round (id {current.id}, round {current.number}): "
            f"close it with `cos campaign close {current.id}`, or pass --force to open another")
    if not active_partners(session, coalition.id or 0):
        raise RoundError(f"{slug} has no active partners to invite: add people first")
    number = (session.exec(select(func.max(Round.number))
                           .where(Round.coalition_id == coalition.id)).one() or 0) + 1
    now = utcnow()
    round_ = Round(coalition_id=coalition.id or 0, number=number, opened_at=now,
                        closes_at=now + closes_in)
    session.add(round_)
    session.flush()
    return round_, fan_out(session, secret_key, round_.id or 0)


def fan_out(session: Session, secret_key: str, round_id: int) -> list[int]:
    """Give every active partner one invitation and one ledger row; safe to run again."""
    round_ = get_round(session, round_id)
    invited = set(session.exec(select(Invitation.person_id)
                               .where(Invitation.round_id == round_id)).all())
    partners = active_partners(session, round_.coalition_id)
    for person in partners:
        if person.id not in invited:
            salt = new_salt()
            session.add(Invitation(round_id=round_id, person_id=person.id or 0, salt=salt,
                                   token_hash=hash_token(derive_token(secret_key, salt))))
    session.flush()
    everyone = list(session.exec(select(Invitation.person_id)
                                 .where(Invitation.round_id == round_id,
                                        col(Invitation.revoked_at).is_(None))).all())
    return ledger.ensure_rows(session, round_id, everyone, EmailKind.INVITATION)


@dataclass
class RoundStatus:
    """Where a round stands: who was invited, reached, who answered, and where people of one
    organisation answered differently (as of the last merge)."""

    round_: Round
    coalition: Coalition
    rows: list[dict[str, Any]]
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def count(self, key: str, value: Any = True) -> int:
        """Count the people whose row has this value."""
        return sum(1 for r in self.rows if r[key] == value)


def round_status(session: Session, round_id: int) -> RoundStatus:
    """Return each invited person's delivery and answer state."""
    round_ = get_round(session, round_id)
    coalition = session.get(Coalition, round_.coalition_id)
    assert coalition is not None
    deliveries = {d.person_id: d for d in session.exec(
        select(Delivery).where(Delivery.round_id == round_id,
                               Delivery.kind == EmailKind.INVITATION))}
    revisions = dict(session.exec(
        select(Response.person_id, func.max(Response.revision))
        .where(Response.round_id == round_id).group_by(col(Response.person_id))).all())
    rows = []
    stmt = (select(Invitation, Person, Organisation)
            .join(Person, col(Person.id) == col(Invitation.person_id))
            .join(Organisation, col(Organisation.id) == col(Person.organisation_id))
            .where(Invitation.round_id == round_id)
            .order_by(col(Organisation.name), col(Person.name)))
    for invitation, person, org in session.exec(stmt):
        delivery = deliveries.get(person.id or 0)
        rows.append({
            "name": person.name, "email": person.email, "organisation": org.name,
            "delivery": delivery.status if delivery else "none",
            "error": delivery.last_error if delivery else "",
            "answered": person.id in revisions, "revisions": revisions.get(person.id or 0, 0),
            "revoked": invitation.revoked_at is not None,
        })
    return RoundStatus(round_, coalition, rows, round_conflicts(session, round_id))


def close_round(session: Session, round_id: int) -> Round:
    """Mark a round closed: its links stop working; the caller merges and sends the digest."""
    round_ = get_round(session, round_id)
    if round_.closed_at is None:
        round_.closed_at = utcnow()
        session.add(round_)
        session.flush()
    return round_


@dataclass
class CloseReport:
    """What closing a round did: the answers merged and the digest sent."""

    round_id: int
    answers: int
    digest: DigestReport


def finish_round(settings: Settings, round_id: int) -> CloseReport:
    """Close a round, merge what is left, and send the digest; safe to run again."""
    with session_scope(settings.database_url) as session:
        close_round(session, round_id)
    with session_scope(settings.database_url) as session:
        answers = merge_round(session, round_id).answers
    return CloseReport(round_id, answers, send_digest(settings, round_id))
