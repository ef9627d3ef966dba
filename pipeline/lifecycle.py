"""A round's life: scheduled, sending, open, closed or cancelled; paused and resumed; and the
partners' own say: "not this week", opt-out, and an admin restoring a bounced address."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from pipeline.config import Settings
from pipeline.core.vocab import SENDABLE_STATUSES, DeliveryStatus, Role, RoundState
from pipeline.db import session_scope
from pipeline.models import Coalition, Delivery, Invitation, Person, Round, utcnow
from pipeline.notices import notify, opt_out_notice, paused_notice
from pipeline.rounds import RoundError, resolve_round

log = logging.getLogger(__name__)


def round_state(session: Session, round_: Round) -> RoundState:
    """Say where a round is in its life."""
    if round_.cancelled_at is not None:
        return RoundState.CANCELLED
    if round_.closed_at is not None:
        return RoundState.CLOSED
    if round_.paused_at is not None:
        return RoundState.PAUSED
    waiting = dict(session.exec(
        select(Delivery.status, func.count()).where(
            Delivery.round_id == round_.id, Delivery.kind == "invitation")
        .group_by(col(Delivery.status))).all())
    if not waiting:
        return RoundState.SCHEDULED
    if any(waiting.get(s) for s in (*SENDABLE_STATUSES, DeliveryStatus.SENDING)):
        return RoundState.SENDING
    return RoundState.OPEN


def _name(session: Session, round_: Round) -> str:
    coalition = session.get(Coalition, round_.coalition_id)
    return f"{coalition.slug if coalition else '?'} round {round_.number} (campaign {round_.id})"


def pause_round(session: Session, ref: str) -> Round:
    """Hold a round's mail: nothing more of it is sent until it is resumed."""
    round_ = resolve_round(session, ref)
    if round_.cancelled_at is not None or round_.closed_at is not None:
        raise RoundError(f"{_name(session, round_)} is {round_state(session, round_)}: "
                         "there is nothing to pause")
    if round_.paused_at is None:
        round_.paused_at, round_.pause_reason = utcnow(), "paused by an admin"
        session.add(round_)
    return round_


def resume_round(session: Session, ref: str) -> tuple[Round, list[int]]:
    """Let a paused round's mail go again; return the ledger rows to queue."""
    round_ = resolve_round(session, ref)
    if round_.paused_at is None:
        raise RoundError(f"{_name(session, round_)} is not paused")
    round_.paused_at, round_.pause_reason, round_.failures_in_a_row = None, "", 0
    session.add(round_)
    waiting = session.exec(select(Delivery.id).where(
        Delivery.round_id == round_.id, col(Delivery.status).in_(SENDABLE_STATUSES))).all()
    return round_, [d for d in waiting if d is not None]


def cancel_round(session: Session, ref: str) -> tuple[Round, int]:
    """Cancel a round: its links stop working and nothing more of it is sent; return how many
    emails were stopped."""
    round_ = resolve_round(session, ref)
    if round_.cancelled_at is not None:
        raise RoundError(f"{_name(session, round_)} is already cancelled")
    now = utcnow()
    round_.cancelled_at = now
    round_.closed_at = round_.closed_at or now
    session.add(round_)
    stopped = session.execute(
        update(Delivery).where(col(Delivery.round_id) == round_.id,
                               col(Delivery.status).in_(SENDABLE_STATUSES))
        .values(status=DeliveryStatus.WITHHELD, retry_at=None,
                last_error="not sent: the round was cancelled"))
    return round_, int(stopped.rowcount)  # type: ignore[attr-defined]


def round_paused(settings: Settings, round_id: int) -> None:
    """Tell the admins that a round paused itself, and how to go on."""
    with session_scope(settings.database_url) as session:
        round_ = session.get(Round, round_id)
        if round_ is None:
            return
        coalition = session.get(Coalition, round_.coalition_id)
        assert coalition is not None
        last = session.exec(select(Delivery.last_error).where(
            Delivery.round_id == round_id, Delivery.last_error != "")
            .order_by(col(Delivery.claimed_at).desc())).first()
        log.error("%s paused itself: %s", _name(session, round_), round_.pause_reason)
        title, lines = paused_notice(coalition.name, round_.number, round_.id or 0,
                                     round_.pause_reason, last)
        notify(settings, session, coalition, title, lines, admins=True)


@dataclass
class Said:
    """What a person's "not this week" or opt-out changed."""

    person: Person
    changed: bool


def not_this_week(session: Session, invitation: Invitation) -> bool:
    """Record that the person has nothing to report this round; False if they said so already."""
    if invitation.not_this_week_at is not None:
        return False
    invitation.not_this_week_at = utcnow()
    session.add(invitation)
    return True


def opt_out(settings: Settings, person_id: int) -> Said | None:
    """Stop a person's recurring emails; None when there is no such person.

    A partner leaving is news for the leads: the caller tells them with
    `tell_leads_of_opt_out` (the web app through a queued job, never in the request).
    """
    with session_scope(settings.database_url) as session:
        person = session.get(Person, person_id)
        if person is None:
            return None
        if person.opted_out_at is not None:
            return Said(person, False)
        person.opted_out_at = utcnow()
        session.add(person)
    return Said(person, True)


def tell_leads_of_opt_out(settings: Settings, person_id: int) -> str:
    """Email the leads that a partner opted out of the check-ins; say whom it reached."""
    with session_scope(settings.database_url, read_only=True) as session:
        person = session.get(Person, person_id)
        if person is None or person.role != Role.PARTNER or person.opted_out_at is None:
            return "nothing to tell"
        coalition = session.get(Coalition, person.coalition_id)
        assert coalition is not None
        title, lines = opt_out_notice(coalition.name, person.name, person.email)
        reached = notify(settings, session, coalition, title, lines)
    return f"told {', '.join(reached) or 'nobody'}"


def restore_people(session: Session, email: str) -> list[Person]:
    """Let mail go again to an address that bounced (in every coalition that has it)."""
    people = list(session.exec(select(Person).where(
        func.lower(Person.email) == email.strip().lower())))
    if not people:
        raise RoundError(f"{email}: nobody has this address")
    suppressed = [p for p in people if p.suppressed_at is not None]
    if not suppressed:
        raise RoundError(f"{email} is not suppressed: mail to it goes out as usual")
    for person in suppressed:
        person.suppressed_at, person.suppressed_reason = None, ""
        session.add(person)
    return suppressed


@dataclass
class ReminderTally:
    """One reminder of a round: how many of its emails stand in each status."""

    reminder: int
    statuses: dict[str, int]


def reminder_summary(session: Session, round_id: int) -> list[ReminderTally]:
    """Return each reminder of a round with how many of its emails stand in each status."""
    found = session.exec(select(Delivery.reminder, Delivery.status, func.count())
                         .where(Delivery.round_id == round_id, Delivery.kind == "reminder")
                         .group_by(col(Delivery.reminder), col(Delivery.status))
                         .order_by(col(Delivery.reminder), col(Delivery.status))).all()
    summary: dict[int, dict[str, int]] = {}
    for number, status, count in found:
        summary.setdefault(number, {})[status] = count
    return [ReminderTally(n, statuses) for n, statuses in summary.items()]


@dataclass
class SteppedBack:
    """Who in a coalition is not being asked: opted out, bounced, or not this week."""

    opted_out: list[Person]
    suppressed: list[Person]
    not_this_week: list[Person]
    round_number: int | None


def stepped_back(session: Session, coalition: Coalition) -> SteppedBack:
    """List who opted out, whose address is suppressed (bounced), and who said "not this week"
    in the coalition's latest round."""
    people = list(session.exec(select(Person).where(Person.coalition_id == coalition.id)
                               .order_by(col(Person.name))))
    latest = session.exec(select(Round).where(Round.coalition_id == coalition.id)
                          .order_by(col(Round.number).desc())).first()
    skipped: list[Person] = []
    if latest is not None:
        skipped = list(session.exec(
            select(Person).join(Invitation, col(Invitation.person_id) == col(Person.id))
            .where(Invitation.round_id == latest.id,
                   col(Invitation.not_this_week_at).is_not(None))
            .order_by(col(Person.name))))
    return SteppedBack(opted_out=[p for p in people if p.opted_out_at is not None],
                       suppressed=[p for p in people if p.suppressed_at is not None],
                       not_this_week=skipped,
                       round_number=latest.number if latest else None)
