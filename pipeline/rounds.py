"""Rounds of check-ins: open one, invite everyone, watch it, close it and send the digest."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from pipeline import ledger
from pipeline.config import Settings
from pipeline.core.display import error_line
from pipeline.core.vocab import SENDABLE_STATUSES, DeliveryStatus, EmailKind, Role
from pipeline.db import session_scope
from pipeline.errors import FixableError
from pipeline.merge import merge_round_at
from pipeline.models import (
    Coalition,
    Delivery,
    Invitation,
    Organisation,
    Person,
    Response,
    Round,
    Scoreboard,
    utcnow,
)
from pipeline.scoreboard import round_conflicts
from pipeline.tokens import derive_token, hash_token, new_salt

if TYPE_CHECKING:  # the digest (templates, the CSS inliner) loads only when a round closes
    from pipeline.digest import DigestReport

log = logging.getLogger(__name__)

DURATION_RE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_ROUND = timedelta(days=90)


class RoundError(FixableError):
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


def resolve_round(session: Session, ref: str) -> Round:
    """Return the round a command names: a round id, or a coalition slug for its open round."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit() and int(ref) < 2**31:  # the range of an id column
        found = session.get(Round, int(ref))
        # A slug may be all digits; an id wins, and the slug is tried only when no id matches.
        if found is not None or session.exec(
                select(Coalition.id).where(Coalition.slug == ref)).first() is None:
            return get_round(session, int(ref))
    coalition = get_coalition(session, ref)
    open_round = current_round(session, coalition)
    if open_round is None:
        latest = latest_round(session, coalition)
        before = (f" (the latest, round {latest.number}, is campaign {latest.id}, closed)"
                  if latest else "")
        raise RoundError(f"{ref} has no open round{before}: give a campaign id "
                         f"(`cos campaigns {ref}` lists them), or start one with "
                         f"`cos campaign start {ref}`")
    return open_round


@dataclass(frozen=True)
class RoundSummary:
    """One line of a coalition's history of rounds."""

    campaign: int
    number: int
    opened_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    invited: int
    answered: int


def list_rounds(session: Session, coalition: Coalition) -> list[RoundSummary]:
    """Return a coalition's rounds, oldest first, with how many were invited and answered.

    Invited counts every invitation, revoked ones too, as `cos campaign status` does.
    """
    rounds = session.exec(select(Round).where(Round.coalition_id == coalition.id)
                          .order_by(col(Round.number))).all()
    ids = [r.id for r in rounds]
    invited = dict(session.exec(
        select(Invitation.round_id, func.count())
        .where(col(Invitation.round_id).in_(ids)).group_by(col(Invitation.round_id))).all())
    answered = dict(session.exec(
        select(Response.round_id, func.count(func.distinct(Response.person_id)))
        .where(col(Response.round_id).in_(ids)).group_by(col(Response.round_id))).all())
    return [RoundSummary(r.id or 0, r.number, r.opened_at, r.closes_at, r.closed_at,
                         invited.get(r.id or 0, 0), answered.get(r.id or 0, 0))
            for r in rounds]


def active_partners(session: Session, coalition_id: int) -> list[Person]:
    """Return the people asked to check in: active partners of active organisations."""
    return list(session.exec(_active_partners(select(Person), coalition_id)
                             .order_by(col(Person.id))))


def _active_partners(query: Any, coalition_id: int) -> Any:
    """Narrow a query over Person to the coalition's active partners of active organisations."""
    return (query.join(Organisation, col(Organisation.id) == col(Person.organisation_id))
            .where(Person.coalition_id == coalition_id, Person.role == Role.PARTNER,
                   col(Person.active).is_(True), col(Organisation.active).is_(True)))


def active_partner_ids(session: Session, coalition_id: int) -> list[int]:
    """Return the ids of the coalition's active partners (active_partners, without loading
    a Person object for each)."""
    return list(session.exec(_active_partners(select(Person.id), coalition_id)
                             .order_by(col(Person.id))).all())


def start_round(session: Session, secret_key: str, slug: str, closes_in: timedelta,
                   *, force: bool = False, kind: str = "checkin") -> tuple[Round, list[int]]:
    """Open a round and invite every active partner; return it and the deliveries to send.

    ``kind`` is checkin (the weekly form), readiness (the eight-item check) or win-echo.
    """
    from pipeline.cos_model import RoundKind

    if kind not in RoundKind.ALL:
        raise RoundError(f"a round's kind is one of {', '.join(RoundKind.ALL)}, not {kind!r}")
    coalition = get_coalition(session, slug)
    current = current_round(session, coalition)
    if current is not None and not force:
        raise RoundError(
            f"{slug} already has an open round (id {current.id}, round {current.number}): "
            f"close it with `cos campaign close {current.id}`, or pass --force to open another")
    if session.exec(_active_partners(select(Person.id), coalition.id or 0).limit(1)).first() \
            is None:
        raise RoundError(f"{slug} has no active partners to invite: add people first")
    number = (session.exec(select(func.max(Round.number))
                           .where(Round.coalition_id == coalition.id)).one() or 0) + 1
    now = utcnow()
    round_ = Round(coalition_id=coalition.id or 0, number=number, opened_at=now,
                        closes_at=now + closes_in, kind=kind)
    session.add(round_)
    session.flush()
    return round_, fan_out(session, secret_key, round_.id or 0)


def fan_out(session: Session, secret_key: str, round_id: int) -> list[int]:
    """Give every active partner one invitation and one ledger row; safe to run again."""
    round_ = get_round(session, round_id)
    _issue(session, secret_key, round_id, active_partner_ids(session, round_.coalition_id))
    everyone = list(session.exec(select(Invitation.person_id)
                                 .where(Invitation.round_id == round_id,
                                        col(Invitation.revoked_at).is_(None))).all())
    return ledger.ensure_rows(session, round_id, everyone, EmailKind.INVITATION)


def issue_invitations(session: Session, secret_key: str, round_id: int,
                      people: list[Person]) -> list[Person]:
    """Give each of these people without an invitation to the round one; return them."""
    new = set(_issue(session, secret_key, round_id, [p.id or 0 for p in people]))
    return [person for person in people if person.id in new]


def _issue(session: Session, secret_key: str, round_id: int, person_ids: list[int]) -> list[int]:
    """Give each of these people without an invitation to the round one, in one multi-row
    INSERT; return the ids of those who got one."""
    invited = set(session.exec(select(Invitation.person_id)
                               .where(Invitation.round_id == round_id)).all())
    new = [pid for pid in dict.fromkeys(person_ids) if pid not in invited]
    rows, now = [], utcnow()
    for pid in new:
        salt = new_salt()
        rows.append({"round_id": round_id, "person_id": pid, "salt": salt,
                     "token_hash": hash_token(derive_token(secret_key, salt)), "created_at": now})
    if rows:
        # Core's executemany: the ORM's bulk path costs a third more for nothing used here.
        session.connection().execute(insert(Invitation.__table__), rows)  # type: ignore[attr-defined]
    return new


def open_for_changes(session: Session, ref: str) -> tuple[Round, Coalition]:
    """Return a round that still takes answers, and its coalition, or say why it does not."""
    round_ = resolve_round(session, ref)
    coalition = session.get(Coalition, round_.coalition_id)
    assert coalition is not None
    name = f"{coalition.slug} round {round_.number} (campaign {round_.id})"
    if round_.closed_at is not None:
        raise RoundError(f"{name} is closed: its links no longer work")
    if round_.closes_at <= utcnow():
        raise RoundError(f"{name} is past its closing time, so its links no longer work: "
                         f"close it with `cos campaign close {round_.id}`")
    return round_, coalition


def _person_problem(person: Person | None, org: Organisation | None, email: str,
                    slug: str) -> str:
    """Say why someone is not asked to check in, or '' when they are."""
    if person is None or org is None:
        return f"{email}: nobody in {slug} has this address (`cos people {slug}` lists them)"
    if person.role != Role.PARTNER:
        return f"{email}: {person.name} is a {person.role}, and only partners check in"
    if not person.active:
        return f"{email}: {person.name} is deactivated in {slug}"
    if not org.active:
        return f"{email}: {person.name}'s organisation {org.name} is deactivated in {slug}"
    return ""


def find_person(session: Session, coalition: Coalition,
                email: str) -> tuple[Person | None, Organisation | None]:
    """Return a coalition's person by email (any case) and their organisation."""
    found = session.exec(
        select(Person, Organisation)
        .join(Organisation, col(Organisation.id) == col(Person.organisation_id))
        .where(Person.coalition_id == coalition.id,
               func.lower(Person.email) == email.strip().lower())).first()
    return (found[0], found[1]) if found else (None, None)


@dataclass
class InviteResult:
    """Who a late invitation reached, and the ledger rows of their emails."""

    round_: Round
    coalition: Coalition
    invited: list[Person]
    delivery_ids: list[int]


def invite_people(session: Session, secret_key: str, ref: str,
                  emails: list[str]) -> InviteResult:
    """Invite to an open round the active partners not invited yet (all, or those named).

    Every named address is checked first; if one cannot be invited nobody is.
    """
    round_, coalition = open_for_changes(session, ref)
    invitations = {i.person_id: i for i in session.exec(
        select(Invitation).where(Invitation.round_id == round_.id))}
    resend = f"`cos campaign resend {round_.id} EMAIL` sends an invitation again"
    if emails:
        problems, chosen = [], []
        for email in dict.fromkeys(e.strip().lower() for e in emails):
            person, org = find_person(session, coalition, email)
            problem = _person_problem(person, org, email, coalition.slug)
            if not problem and person is not None:
                held = invitations.get(person.id or 0)
                if held is None:
                    chosen.append(person)
                elif held.revoked_at is not None:
                    problem = (f"{email}: {person.name}'s link to round {round_.number} was "
                               "revoked and cannot be given again in this round")
                else:
                    problem = (f"{email}: {person.name} already has an invitation to round "
                               f"{round_.number}; {resend}")
            if problem:
                problems.append(problem)
        if problems:
            raise RoundError("nobody was invited:\n  " + "\n  ".join(problems))
    else:
        chosen = [p for p in active_partners(session, coalition.id or 0)
                  if p.id not in invitations]
        if not chosen:
            raise RoundError(f"every active partner of {coalition.slug} already has an "
                             f"invitation to round {round_.number}: add people first, or "
                             f"{resend}")
    new = issue_invitations(session, secret_key, round_.id or 0, chosen)
    delivery_ids = ledger.ensure_rows(session, round_.id or 0, [p.id or 0 for p in new],
                                      EmailKind.INVITATION)
    return InviteResult(round_, coalition, new, delivery_ids)


@dataclass
class RevokeResult:
    """Whose link was ended, and whether their invitation email was stopped before it went."""

    round_: Round
    coalition: Coalition
    person: Person
    revoked_at: datetime
    email_stopped: bool


def live_invitation(session: Session, ref: str, email: str
                    ) -> tuple[Round, Coalition, Person, Invitation]:
    """Return an open round, its coalition, and one person's live invitation to it."""
    round_, coalition = open_for_changes(session, ref)
    person, _ = find_person(session, coalition, email)
    if person is None:
        raise RoundError(f"{email}: nobody in {coalition.slug} has this address "
                         f"(`cos people {coalition.slug}` lists them)")
    invitation = session.exec(select(Invitation).where(
        Invitation.round_id == round_.id, Invitation.person_id == person.id)).first()
    if invitation is None:
        raise RoundError(f"{email}: {person.name} has no invitation to round {round_.number} "
                         "(only active partners are invited; `cos campaign invite` invites "
                         "partners who joined after it opened)")
    if invitation.revoked_at is not None:
        raise RoundError(f"{email}: {person.name}'s link to round {round_.number} was already "
                         "revoked")
    return round_, coalition, person, invitation


def revoke_invitation(session: Session, ref: str, email: str) -> RevokeResult:
    """End one person's link to an open round; an invitation email not sent yet is not sent."""
    round_, coalition, person, invitation = live_invitation(session, ref, email)
    invitation.revoked_at = utcnow()
    session.add(invitation)
    # An email still waiting would carry a dead link: stop it (a sender claims only
    # sendable rows, so a queued job then skips it).
    delivery = session.exec(select(Delivery).where(
        Delivery.round_id == round_.id, Delivery.person_id == person.id,
        Delivery.kind == EmailKind.INVITATION)).first()
    stopped = delivery is not None and delivery.status in SENDABLE_STATUSES
    if delivery is not None and stopped:
        delivery.status = DeliveryStatus.REJECTED
        delivery.last_error = "not sent: the link was revoked"
        session.add(delivery)
    session.flush()
    return RevokeResult(round_, coalition, person, invitation.revoked_at, stopped)


def resend_invitation(session: Session, ref: str, email: str) -> tuple[Round, Person, int]:
    """Queue one person's invitation to an open round again (the same link); return the round,
    the person and the ledger row to send. The row records that it was sent before."""
    round_, _, person, _ = live_invitation(session, ref, email)
    delivery_id = ledger.ensure_rows(session, round_.id or 0, [person.id or 0],
                                     EmailKind.INVITATION)
    row = session.exec(select(Delivery).where(
        Delivery.round_id == round_.id, Delivery.person_id == person.id,
        Delivery.kind == EmailKind.INVITATION)).one()
    if not delivery_id:
        if row.status == DeliveryStatus.SENDING:
            raise RoundError(f"{email}: {person.name}'s invitation is being sent right now")
        before = f"sent before at {row.sent_at:%Y-%m-%d %H:%M} UTC; " if row.sent_at else ""
        row.status, row.retry_at = DeliveryStatus.QUEUED, None
        row.last_error = f"{before}sent again on request"
        session.add(row)
        session.flush()
    return round_, person, row.id or 0


@dataclass
class RoundStatus:
    """Where a round stands: who was invited, reached, who answered, and where people of one
    organisation answered differently (as of the last merge)."""

    round_: Round
    coalition: Coalition
    rows: list[dict[str, Any]]
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    # Answers the last merge could not read and left out: [{"name", "why"}].
    left_out: list[dict[str, str]] = field(default_factory=list)

    def count(self, key: str, value: Any = True) -> int:
        """Count the people whose row has this value."""
        return sum(1 for r in self.rows if r[key] == value)

    def counts(self) -> dict[str, int]:
        """Count invited, delivered, failed (bounced), answered, silent and revoked people."""
        excused = sum(1 for r in self.rows if r["not_this_week"] and not r["answered"])
        return {"invited": len(self.rows), "delivered": self.count("delivery", "sent"),
                "failed": sum(self.count("delivery", st)
                              for st in ("failed", "rejected", "bounced")),
                "answered": self.count("answered"),
                # Who said "not this week" is not silent.
                "silent": self.count("answered", False) - excused,
                "revoked": self.count("revoked")}

    def said(self) -> dict[str, int]:
        """Count those who said "not this week", whose address bounced, who opted out."""
        return {"not_this_week": sum(1 for r in self.rows
                                     if r["not_this_week"] and not r["answered"]),
                "bounced": self.count("bounced"), "opted_out": self.count("opted_out")}


def silent_people(status: RoundStatus) -> list[str]:
    """Return the addresses of those invited who have not answered and whose link still works."""
    return [r["email"] for r in status.rows if not r["answered"] and not r["revoked"]
            and not r["not_this_week"]]


def remind_silent(session: Session, round_id: int) -> list[int]:
    """Queue the invitation again (same link) for everyone silent in an open round; return the
    ledger rows to send. One who cannot be reminded (being sent right now) is skipped."""
    round_ = get_round(session, round_id)
    delivery_ids = []
    for email in silent_people(round_status(session, round_id)):
        try:
            delivery_ids.append(resend_invitation(session, str(round_.id), email)[2])
        except RoundError as exc:
            log.info("not reminded: %s", exc)
    return delivery_ids


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
    answered_at = dict(session.exec(
        select(Response.person_id, func.max(Response.submitted_at))
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
            "via": delivery.via if delivery else "",
            "attempts": delivery.attempts if delivery else 0,
            "retry_at": delivery.retry_at if delivery else None,
            "sent_at": delivery.sent_at if delivery else None,
            "answered": person.id in revisions, "revisions": revisions.get(person.id or 0, 0),
            "revoked": invitation.revoked_at is not None,
            "not_this_week": invitation.not_this_week_at is not None,
            "opted_out": person.opted_out_at is not None,
            "bounced": person.suppressed_at is not None,
            "answered_at": answered_at.get(person.id or 0),
        })
    board = session.exec(select(Scoreboard).where(Scoreboard.round_id == round_id)).first()
    left_out = list((board.data if board else {}).get("unmerged", []))
    return RoundStatus(round_, coalition, rows, round_conflicts(session, round_id), left_out)


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
    merge_problem: str = ""  # the merge failed: no digest was sent
    skipped: dict[str, str] = field(default_factory=dict)  # answers left out: name -> why


def finish_round(settings: Settings, round_id: int) -> CloseReport:
    """Close a round, merge what is left, and send the digest; safe to run again.

    The close that actually closes the round (a conditional UPDATE: one of two racing closes
    wins) tells the coalition's webhooks, once.
    """
    with session_scope(settings.database_url) as session:
        get_round(session, round_id)
        newly_closed = session.execute(
            update(Round).where(col(Round.id) == round_id, col(Round.closed_at).is_(None))
            .values(closed_at=utcnow())).rowcount == 1  # type: ignore[attr-defined]
    from pipeline.digest import DigestReport, send_digest

    try:
        merged = merge_round_at(settings.database_url, round_id)
    except Exception as exc:  # noqa: BLE001 - said to the admin; the round stays closed
        log.exception("closing round %s: the merge failed", round_id)
        report = CloseReport(round_id, 0, DigestReport(round_id), merge_problem=error_line(exc))
    else:
        report = CloseReport(round_id, merged.answers, send_digest(settings, round_id),
                             skipped=merged.skipped)
    if newly_closed:
        _announce_closed(settings, round_id)
    return report


def _announce_closed(settings: Settings, round_id: int) -> None:
    from pipeline import webhooks

    with session_scope(settings.database_url) as session:
        invited = session.exec(select(func.count()).select_from(Invitation).where(
            Invitation.round_id == round_id, col(Invitation.revoked_at).is_(None))).one()
        answered = session.exec(select(func.count(func.distinct(Response.person_id)))
                                .where(Response.round_id == round_id)).one()
        hooks = webhooks.announce_round_closed(session, round_id, invited=invited,
                                               answered=answered)
    webhooks.queue_quietly(settings, hooks)
