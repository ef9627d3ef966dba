"""What an admin lists: the coalitions in the database and the people of one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from pipeline.core.vocab import Role
from pipeline.models import Coalition, Organisation, Person, Round


@dataclass(frozen=True)
class CoalitionSummary:
    """One coalition: what it is called, where its clock is, who is at the table."""

    slug: str
    name: str
    timezone: str
    stage: str
    partners: int  # active partners, asked every round
    leads: int  # active leads, who get the digest
    open_campaign: int | None  # the id of its open round, if one is open


def list_coalitions(session: Session) -> list[CoalitionSummary]:
    """Return every coalition by slug, with its active partners, leads and open round."""
    active = (select(Person.coalition_id, Person.role, func.count())
              .join(Organisation, col(Organisation.id) == col(Person.organisation_id))
              .where(col(Person.active).is_(True), col(Organisation.active).is_(True))
              .group_by(col(Person.coalition_id), col(Person.role)))
    counts: dict[tuple[int | None, str], int] = {
        (cid, role): n for cid, role, n in session.exec(active).all()}
    open_rounds = dict(session.exec(
        select(Round.coalition_id, func.max(Round.id))
        .where(col(Round.closed_at).is_(None)).group_by(col(Round.coalition_id))).all())
    return [CoalitionSummary(c.slug, c.name, c.timezone, c.stage,
                             counts.get((c.id, Role.PARTNER), 0), counts.get((c.id, Role.LEAD), 0),
                             open_rounds.get(c.id or 0))
            for c in session.exec(select(Coalition).order_by(col(Coalition.slug)))]


@dataclass(frozen=True)
class PersonSummary:
    """One person of a coalition; active means still asked (partner) or still sent (lead)."""

    name: str
    email: str
    organisation: str
    role: str
    active: bool


def list_people(session: Session, coalition: Coalition) -> list[PersonSummary]:
    """Return a coalition's people by organisation and name, deactivated ones included."""
    rows = session.exec(
        select(Person, Organisation)
        .join(Organisation, col(Organisation.id) == col(Person.organisation_id))
        .where(Person.coalition_id == coalition.id)
        .order_by(col(Organisation.name), col(Person.name))).all()
    return [PersonSummary(p.name, p.email, org.name, p.role, p.active and org.active)
            for p, org in rows]
