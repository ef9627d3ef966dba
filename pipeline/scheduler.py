"""The scheduler's tick: find what each coalition's cadence says is due, and do it once.

`due_steps` (pure, in pipeline.core.cadence) says what is due at `now` given the last tick;
this module does each step by claiming it: it inserts the step's row in `schedulerstep`
(unique per coalition, period and step) in the same transaction as the work, so

- a tick run twice does nothing twice (the second insert finds the row and does nothing);
- two schedulers at once do everything once (the database lets one insert win; the other
  waits for it and finds the row);
- a step whose work fails rolls back with its claim, and the coalition's `scheduled_through`
  does not move past it, so the next tick tries again for as long as the step still means
  something (catch-up rules in `due_steps`: no reminder after the close, no round for a week
  already past).

Emails are queued after the commit; a dead Redis leaves them in the ledger, where the
worker's start-up reconcile (or `cos reconcile`) finds them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from pipeline import ledger, queues
from pipeline.coalitions import cadence_of
from pipeline.config import Settings
from pipeline.core.cadence import CLOSE, DIGEST, OPEN, REMIND, Cadence, Step, due_steps, period_at
from pipeline.core.display import error_line
from pipeline.core.vocab import EmailKind
from pipeline.db import session_scope
from pipeline.digest import queue_digest
from pipeline.logcontext import bound
from pipeline.merge import merge_round_at
from pipeline.models import Coalition, Round, SchedulerStep, utcnow
from pipeline.recipients import reminder_recipients
from pipeline.rounds import active_partner_ids, close_round, current_round, fan_out

log = logging.getLogger(__name__)

TICK_SECONDS = 60


@dataclass
class TickReport:
    """What one tick did, step by step: "harbour-air 2026-W48:open: opened round 3"."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # claimed elsewhere, or nothing to do
    failed: list[str] = field(default_factory=list)  # tried again next tick
    queued_emails: int = 0
    queue_problem: str = ""

    def lines(self) -> list[str]:
        """Return what an admin reads in the scheduler's log."""
        return ([f"done: {d}" for d in self.done] + [f"skipped: {s}" for s in self.skipped]
                + [f"FAILED: {f}" for f in self.failed]
                + ([f"emails not queued: {self.queue_problem}"] if self.queue_problem else []))


@dataclass
class _Done:
    detail: str
    round_id: int | None = None
    emails: list[int] = field(default_factory=list)
    merge_round: int | None = None
    skipped: bool = False


def tick(settings: Settings, now: datetime | None = None) -> TickReport:
    """Do every step due at `now` (the clock when not given) for every scheduled coalition."""
    now = now or utcnow()
    report = TickReport()
    # One read for every coalition: most ticks find nothing due and write nothing.
    with session_scope(settings.database_url, read_only=True) as session:
        coalitions = list(session.exec(select(Coalition)
                                       .where(col(Coalition.cadence).is_not(None))
                                       .order_by(col(Coalition.id))).all())
        opened: dict[int, set[str]] = {}
        for coalition_id, key in session.exec(select(Round.coalition_id, Round.period_key).where(
                col(Round.period_key).is_not(None))).all():
            opened.setdefault(coalition_id, set()).add(key or "")
    for coalition in coalitions:
        slug = coalition.slug
        try:
            with bound(coalition=slug):
                cadence = cadence_of(coalition)
                if cadence is None:
                    continue
                last = coalition.scheduled_through or coalition.cadence_since or now
                steps = due_steps(cadence, now, min(last, now),
                                  opened.get(coalition.id or 0, set()))
                if steps:
                    _do_steps(settings, coalition.id or 0, slug, cadence, steps, now, report)
        except Exception as exc:  # noqa: BLE001 - one coalition's problem never stops the rest
            log.exception("scheduler: %s failed", slug)
            report.failed.append(f"{slug}: {error_line(exc)}")
    return report


def _do_steps(settings: Settings, coalition_id: int, slug: str, cadence: Cadence,
              steps: list[Step], now: datetime, report: TickReport) -> None:
    """Do a coalition's due steps in order; move its mark to now once all of them are done.

    With nothing due the mark stays where it is: the next tick asks about a slightly longer
    stretch of time, which costs nothing, instead of writing every minute.
    """
    all_done = True
    for step in steps:
        name = f"{slug} {step.key}"
        try:
            with bound(period=step.period, step=step.kind):
                done = _do_step(settings, coalition_id, cadence, step, now)
        except Exception as exc:  # noqa: BLE001 - recorded; the next tick tries again
            log.exception("scheduler: %s failed", name)
            report.failed.append(f"{name}: {error_line(exc)}")
            all_done = False
            continue
        if done is None:
            report.skipped.append(f"{name}: already done by another tick")
            continue
        (report.skipped if done.skipped else report.done).append(f"{name}: {done.detail}")
        if done.merge_round is not None:
            _merge_after_close(settings, done.merge_round, name, report)
        if done.emails:
            try:
                report.queued_emails += queues.enqueue_sends(settings, done.emails)
            except queues.QueueUnavailable as exc:
                report.queue_problem = (f"{exc}; they wait in the ledger: `cos reconcile` or "
                                        "a worker's start-up queues them")
    if all_done:
        _advance(settings, coalition_id, now)


def _merge_after_close(settings: Settings, round_id: int, name: str, report: TickReport) -> None:
    """Merge a closed round's answers; a failure is reported and left for reconcile."""
    try:
        merge_round_at(settings.database_url, round_id)
    except Exception as exc:  # noqa: BLE001 - the round stays closed; reconcile merges later
        log.exception("scheduler: merging round %s after %s failed", round_id, name)
        report.failed.append(f"{name}: closed, but the merge failed ({error_line(exc)}); "
                             "`cos reconcile` tries again")


def _advance(settings: Settings, coalition_id: int, now: datetime) -> None:
    """Record that every step up to now is done; never moves backwards (a slower scheduler)."""
    with session_scope(settings.database_url) as session:
        session.execute(
            update(Coalition)
            .where(col(Coalition.id) == coalition_id,
                   (col(Coalition.scheduled_through).is_(None))
                   | (col(Coalition.scheduled_through) < now))
            .values(scheduled_through=now))


def _claim(session: Session, coalition_id: int, step: Step) -> int | None:
    """Insert the step's row; return its id, or None when another tick holds it."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (insert(SchedulerStep)
            .values(coalition_id=coalition_id, period_key=step.period, kind=step.kind,
                    due_at=step.due_at, claimed_at=utcnow(), claimed_by=ledger.claimant(),
                    outcome="claimed", detail="")
            .on_conflict_do_nothing(index_elements=["coalition_id", "period_key", "kind"])
            .returning(col(SchedulerStep.id)))
    found = session.execute(stmt).scalar()
    return int(found) if found is not None else None


def _do_step(settings: Settings, coalition_id: int, cadence: Cadence, step: Step,
             now: datetime) -> _Done | None:
    """Claim a step and do it in one transaction; None when it was claimed already."""
    with session_scope(settings.database_url) as session:
        claimed = _claim(session, coalition_id, step)
        if claimed is None:
            return None
        coalition = session.get(Coalition, coalition_id)
        assert coalition is not None
        kind = step.kind.split(":")[0]
        action: Callable[..., _Done] = {OPEN: _open, REMIND: _remind, CLOSE: _close,
                                        DIGEST: _digest}[kind]
        done = action(session, settings, coalition, cadence, step, now)
        row = session.get(SchedulerStep, claimed)
        assert row is not None
        row.round_id, row.done_at = done.round_id, utcnow()
        row.outcome, row.detail = ("skipped" if done.skipped else "done"), done.detail[:2000]
        session.add(row)
        return done


def _period_round(session: Session, coalition_id: int, period: str) -> Round | None:
    return session.exec(select(Round).where(Round.coalition_id == coalition_id,
                                            Round.period_key == period)).first()


def _open(session: Session, settings: Settings, coalition: Coalition, cadence: Cadence,
          step: Step, now: datetime) -> _Done:
    period = period_at(cadence, step.due_at)
    current = current_round(session, coalition)
    if current is not None and current.period_key is None and current.cancelled_at is None:
        # An admin started this week's round by hand: it is the period's round.
        current.period_key = step.period
        session.add(current)
        return _Done(f"round {current.number} (campaign {current.id}), started by hand, is "
                     "this period's round", current.id)
    if not active_partner_ids(session, coalition.id or 0):
        return _Done("no active partners to invite: no round opened", skipped=True)
    number = (session.exec(select(func.max(Round.number))
                           .where(Round.coalition_id == coalition.id)).one() or 0) + 1
    round_ = Round(coalition_id=coalition.id or 0, number=number, opened_at=now,
                   closes_at=period.closes_at, period_key=step.period)
    session.add(round_)
    session.flush()
    emails = fan_out(session, settings.secret_key, round_.id or 0)
    late = f", {int((now - step.due_at).total_seconds() // 60)} min late" if (
        now - step.due_at).total_seconds() >= 120 else ""
    return _Done(f"opened round {number} (campaign {round_.id}), {len(emails)} invitations"
                 f"{late}", round_.id, emails)


def _remind(session: Session, settings: Settings, coalition: Coalition, cadence: Cadence,
            step: Step, now: datetime) -> _Done:
    round_ = _period_round(session, coalition.id or 0, step.period)
    if round_ is None or round_.closed_at is not None or round_.cancelled_at is not None:
        return _Done("the round is closed or cancelled: no reminder", skipped=True)
    number = int(step.kind.split(":")[1])
    people = reminder_recipients(session, round_.id or 0)
    emails = ledger.ensure_rows(session, round_.id or 0, people, EmailKind.REMINDER,
                                reminder=number)
    return _Done(f"reminder {number} of round {round_.number} to {len(people)} silent "
                 f"{'person' if len(people) == 1 else 'people'}", round_.id, emails)


def _close(session: Session, settings: Settings, coalition: Coalition, cadence: Cadence,
           step: Step, now: datetime) -> _Done:
    round_ = _period_round(session, coalition.id or 0, step.period)
    if round_ is None:
        return _Done("no round to close", skipped=True)
    if round_.closed_at is not None:
        return _Done(f"round {round_.number} was already closed", round_.id, skipped=True)
    close_round(session, round_.id or 0)
    return _Done(f"closed round {round_.number}", round_.id, merge_round=round_.id)


def _digest(session: Session, settings: Settings, coalition: Coalition, cadence: Cadence,
            step: Step, now: datetime) -> _Done:
    round_ = _period_round(session, coalition.id or 0, step.period)
    if round_ is None or round_.cancelled_at is not None:
        return _Done("no round, or it was cancelled: no digest", skipped=True)
    emails = queue_digest(session, round_.id or 0)
    return _Done(f"digest of round {round_.number} queued for {len(emails)} "
                 f"{'lead' if len(emails) == 1 else 'leads'}", round_.id, emails)


def run_forever(settings: Settings, *, stop: threading.Event | None = None,
                on_tick: Callable[[TickReport], None] | None = None,
                seconds: float = TICK_SECONDS) -> None:
    """Tick every `seconds` until `stop` is set; a failing tick is logged, never fatal."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            report = tick(settings)
        except Exception:  # noqa: BLE001 - the database may be back next minute
            log.exception("scheduler tick failed")
        else:
            for line in report.lines():
                log.info("scheduler: %s", line)
            if on_tick is not None:
                on_tick(report)
        stop.wait(seconds - (utcnow().timestamp() % seconds))
