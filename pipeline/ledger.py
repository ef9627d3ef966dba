"""The delivery ledger: one row per person, round and email kind, so each is sent at most once.

A sender claims a row with a conditional UPDATE before it sends, and records the outcome after.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, String, bindparam, func, insert, update
from sqlmodel import Session, col, select

from pipeline.core.vocab import SENDABLE_STATUSES, DeliveryStatus, EmailKind
from pipeline.email_kinds import batch_get
from pipeline.models import Coalition, Delivery, Person, Round, utcnow

# Waits between tries after a temporary failure (server down, a 4xx): they grow, then stay at
# the last one; an invitation is tried for as long as its round is open, other kinds for
# RETRY_WINDOW after they were queued.
RETRY_INTERVALS = (30, 120, 600, 1800, 3600)
RETRY_WINDOW = timedelta(days=2)
# Enough retries to cover a round of several weeks at the last interval.
MAX_RETRIES = 24 * 7 * 4
# A claim older than this belongs to a process that stopped mid-send. A live send is bounded
# well inside it: the SMTP transport waits at most 10 s for each of its few steps.
CLAIM_LEASE = timedelta(minutes=5)


def claimant() -> str:
    """Name the process that claims a row: "host:pid"."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_gone(claimed_by: str) -> bool:
    """Say whether a claim's process is known to be dead: it ran on this host and its pid is
    gone. A claim from another host (or an unreadable one) is never judged here."""
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return is_zombie(int(pid))


def is_zombie(pid: int) -> bool:
    """Say whether a process has ended but was not reaped yet (a killed RQ work horse whose
    parent died too stays a zombie under an init that does not reap): it sends nothing more."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):  # no /proc (macOS), or gone in between
        return False
    return state in (b"Z", b"X")


def abandoned(delivery: Delivery, now: datetime) -> bool:
    """Say whether a row in `sending` was left by a sender that is not coming back."""
    started = delivery.claimed_at or delivery.created_at
    return started < now - CLAIM_LEASE or process_gone(delivery.claimed_by)


class LedgerRow(Protocol):
    """What deciding on and composing a row's email reads of it: a Delivery, or the few
    columns of one read without building the ORM object (pipeline.sending reads a chunk so)."""

    @property
    def id(self) -> int | None: ...

    @property
    def round_id(self) -> int: ...

    @property
    def person_id(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True)
class Outcome:
    """What became of one ledger row's email."""

    status: str  # sent, rejected (refused for good), failed (will be retried), skipped
    detail: str

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


def ensure_rows(session: Session, round_id: int, person_ids: list[int],
                kind: EmailKind, *, reminder: int = 0) -> list[int]:
    """Create the ledger rows that do not exist yet; return the ids of those not sent yet.

    A reminder's rows carry its number (1, 2, ...): each reminder is its own email. The new
    rows go in with one multi-row INSERT (a round of 10,000 people is one statement, not
    10,000 objects), and the ids are read back in one query."""
    wanted = set(person_ids)
    mine = (Delivery.round_id == round_id, Delivery.kind == kind,
            Delivery.reminder == reminder)
    existing = {pid for pid in session.exec(select(Delivery.person_id).where(*mine))}
    new = [pid for pid in dict.fromkeys(person_ids) if pid not in existing]
    if new:
        now = utcnow()
        session.connection().execute(insert(_ledger), [
            {"round_id": round_id, "person_id": pid, "kind": kind, "reminder": reminder,
             "status": DeliveryStatus.QUEUED, "attempts": 0, "last_error": "",
             "message_id": "", "created_at": now, "via": "", "claimed_by": "",
             "smtp_reply": ""} for pid in new])
    return [row_id or 0 for row_id, pid in session.exec(
        select(Delivery.id, Delivery.person_id).where(
            *mine, col(Delivery.status).in_(SENDABLE_STATUSES)).order_by(col(Delivery.id)))
        if pid in wanted]


def _mine() -> dict[str, object]:
    """The values a claim writes: in `sending`, by this process, now, one more attempt."""
    return {"status": DeliveryStatus.SENDING, "claimed_at": utcnow(), "claimed_by": claimant(),
            "attempts": Delivery.attempts + 1}


def claim(session: Session, delivery_id: int) -> bool:
    """Claim a row for sending; False when it was sent or a live sender holds it.

    A claim left by a sender that died mid-send (its process is gone, or its lease ran out)
    is taken over at once, so a retried or re-queued job sends it without waiting for a sweep.
    """
    return bool(claim_many(session, [delivery_id]))


def claim_many(session: Session, delivery_ids: list[int]) -> list[int]:
    """Claim several rows in one statement (UPDATE ... RETURNING, on SQLite and PostgreSQL);
    return the ids claimed, in the order given: the others were sent or are held elsewhere.

    As in `claim`, a row whose sender died mid-send (process gone, or lease run out) is taken
    over at once, each with a compare and swap on the dead claim, so two workers taking it
    over cannot both win."""
    if not delivery_ids:
        return []
    claimed = set(session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(delivery_ids), col(Delivery.status).in_(SENDABLE_STATUSES))
        .values(**_mine())
        .returning(col(Delivery.id))
    ).scalars())
    if rest := [d for d in delivery_ids if d not in claimed]:
        claimed.update(_take_over(session, rest))
    return [d for d in delivery_ids if d in claimed]


def _take_over(session: Session, delivery_ids: list[int]) -> list[int]:
    """Claim those of the rows in `sending` whose sender is not coming back; return them."""
    now = utcnow()
    held = session.exec(select(Delivery).where(
        col(Delivery.id).in_(delivery_ids),
        col(Delivery.status) == DeliveryStatus.SENDING)).all()
    taken = []
    for row in held:
        if not abandoned(row, now):
            continue
        swapped = session.execute(
            update(Delivery)
            .where(col(Delivery.id) == row.id, col(Delivery.status) == DeliveryStatus.SENDING,
                   col(Delivery.claimed_by) == row.claimed_by,
                   col(Delivery.claimed_at) == row.claimed_at)
            .values(**_mine())
            .execution_options(synchronize_session=False)
        )
        if swapped.rowcount:  # type: ignore[attr-defined]
            taken.append(row.id or 0)
    for row in held:
        session.expire(row)
    return taken


def retry_delay(attempts: int) -> timedelta:
    """Return how long to wait after the given number of tries before the next one."""
    return timedelta(seconds=RETRY_INTERVALS[min(max(attempts, 1), len(RETRY_INTERVALS)) - 1])


def reason_not_to_send(session: Session, delivery: LedgerRow) -> str:
    """Return why a row should no longer be sent ('' while it should): a closed round's
    invitation leads to a dead link; any other email is stale after RETRY_WINDOW."""
    if delivery.kind in (EmailKind.INVITATION, EmailKind.REMINDER):
        round_ = batch_get(session, Round, delivery.round_id)
        if round_ is None or round_.closed_at is not None or round_.closes_at <= utcnow():
            return "the round closed before it could be sent"
    elif delivery.created_at < utcnow() - RETRY_WINDOW:
        return f"not sent within {RETRY_WINDOW.days} days of being queued"
    return ""


def record(session: Session, delivery_id: int, status: DeliveryStatus, error: str = "",
           *, message_id: str = "", via: str = "", smtp_reply: str = "",
           count_failures: bool = True) -> bool:
    """Write down what became of a claimed row; a temporary failure gets its retry time.

    A bounce suppresses the address. Return True when this outcome paused the round: it was
    the coalition's pause_after_failures-th delivery failure in a row (the caller tells the
    admins). A caller recording many rows may pass count_failures=False for a sent row when
    the round's count was already reset in this transaction with no failure since (the reset
    is then a no-op: a statement per row saved).
    """
    delivery = session.get(Delivery, delivery_id)
    assert delivery is not None
    delivery.status, delivery.last_error = status, error[:2000]
    delivery.via = via[:300] or delivery.via
    delivery.smtp_reply = smtp_reply[:500] or delivery.smtp_reply
    delivery.retry_at = None
    if status == DeliveryStatus.BOUNCED:
        suppress(session, delivery.person_id, smtp_reply or error)
    if status == DeliveryStatus.SENT:
        delivery.sent_at, delivery.message_id = utcnow(), message_id
    elif status == DeliveryStatus.FAILED:
        if stale := reason_not_to_send(session, delivery):
            delivery.status = DeliveryStatus.EXPIRED
            delivery.last_error = f"{error[:1000]}; gave up: {stale}"
        else:
            delivery.retry_at = utcnow() + retry_delay(delivery.attempts)
    session.add(delivery)
    if not count_failures and status == DeliveryStatus.SENT:
        return False
    return _count_failures(session, delivery.round_id, status)


def record_sent(connection: Connection, delivery_id: int, *, message_id: str, via: str,
                smtp_reply: str, reset_round: int | None) -> None:
    """Write down, in one statement, that the server accepted a claimed row's email: what
    `record` writes for a sent row, without loading it. With reset_round, the round's count of
    failures in a row goes back to zero too (a caller recording a run of sent rows resets it
    once). The caller commits."""
    connection.execute(_SENT, {"b_id": delivery_id, "b_sent_at": utcnow(),
                               "b_message_id": message_id, "b_via": via[:300],
                               "b_reply": smtp_reply[:500]})
    if reset_round is not None:
        connection.execute(_RESET, {"b_round": reset_round})


_ledger, _rounds = Delivery.__table__, Round.__table__  # type: ignore[attr-defined]
# Built once: the statements every sent email runs (an empty via or reply keeps the old one).
_SENT = update(_ledger).where(_ledger.c.id == bindparam("b_id")).values(
    status=DeliveryStatus.SENT, last_error="", retry_at=None,
    sent_at=bindparam("b_sent_at"), message_id=bindparam("b_message_id"),
    via=func.coalesce(func.nullif(bindparam("b_via", type_=String), ""), _ledger.c.via),
    smtp_reply=func.coalesce(func.nullif(bindparam("b_reply", type_=String), ""),
                             _ledger.c.smtp_reply))
_RESET = update(_rounds).where(_rounds.c.id == bindparam("b_round"),
                               _rounds.c.failures_in_a_row > 0).values(failures_in_a_row=0)


FAILURES = (DeliveryStatus.FAILED, DeliveryStatus.REJECTED, DeliveryStatus.BOUNCED)


def _count_failures(session: Session, round_id: int, status: DeliveryStatus) -> bool:
    """Keep the round's count of failures in a row; pause it at the coalition's threshold."""
    if status == DeliveryStatus.SENT:
        session.execute(update(Round).where(col(Round.id) == round_id,
                                            col(Round.failures_in_a_row) > 0)
                        .values(failures_in_a_row=0))
        return False
    if status not in FAILURES:
        return False
    session.execute(update(Round).where(col(Round.id) == round_id)
                    .values(failures_in_a_row=Round.failures_in_a_row + 1))
    limit = session.exec(select(Coalition.pause_after_failures).join(
        Round, col(Round.coalition_id) == col(Coalition.id)).where(Round.id == round_id)).one()
    # Conditional: of all the senders failing at once, exactly one pauses the round.
    paused = session.execute(
        update(Round)
        .where(col(Round.id) == round_id, col(Round.paused_at).is_(None),
               col(Round.closed_at).is_(None), col(Round.failures_in_a_row) >= limit)
        .values(paused_at=utcnow(),
                pause_reason=f"paused itself after {limit} delivery failures in a row"))
    return bool(paused.rowcount)  # type: ignore[attr-defined]


def suppress(session: Session, person_id: int, reason: str) -> None:
    """Stop all mail to a person's address: the server refused it for good."""
    person = session.get(Person, person_id)
    if person is not None and person.suppressed_at is None:
        person.suppressed_at, person.suppressed_reason = utcnow(), reason[:500]
        session.add(person)


def release(session: Session, delivery_id: int, why: str) -> None:
    """Put a claimed row back to queued without a try: its round is paused."""
    session.execute(update(Delivery).where(col(Delivery.id) == delivery_id)
                    .values(status=DeliveryStatus.QUEUED, claimed_by="",
                            attempts=Delivery.attempts - 1, last_error=f"held: {why}"[:2000]))


def sent_count(session: Session, round_id: int, kind: EmailKind) -> int:
    """Count the round's rows of this kind that were sent."""
    return len(session.exec(select(Delivery.id).where(
        Delivery.round_id == round_id, Delivery.kind == kind,
        Delivery.status == DeliveryStatus.SENT)).all())


def pending_rows(session: Session) -> list[int]:
    """Return rows still to send, releasing the claims of senders that died mid-send."""
    now = utcnow()
    for stuck in session.exec(select(Delivery).where(Delivery.status == DeliveryStatus.SENDING)):
        if abandoned(stuck, now):
            stuck.status, stuck.claimed_by = DeliveryStatus.FAILED, ""
            stuck.last_error = "the sending process stopped before it finished; sending again"
            session.add(stuck)
    session.flush()
    pending = []
    for row in session.exec(select(Delivery).where(col(Delivery.status).in_(SENDABLE_STATUSES))):
        if stale := reason_not_to_send(session, row):
            row.status, row.retry_at = DeliveryStatus.EXPIRED, None
            row.last_error = f"{row.last_error}; gave up: {stale}".lstrip("; ")
            session.add(row)
        else:
            pending.append(row.id or 0)
    session.flush()
    return pending
