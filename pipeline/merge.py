"""Merging a round: apply the merge rules to the database.

The merge recomputes everything a round contributes from the latest revision of each person's
answers. Running it twice, or again after a crash halfway, therefore leaves the same state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from pipeline.core.merge import AnswerSet, RoundMerge, current_status, merge_answers
from pipeline.core.text import clean_text
from pipeline.cos_model import compute_snapshot, save_snapshot, store_echo_marks
from pipeline.history import load_history
from pipeline.logcontext import bound
from pipeline.models import (
    Blocker,
    Commitment,
    CommitmentUpdate,
    ConflictAnswer,
    HelpEdge,
    Metric,
    Person,
    Pulse,
    Reading,
    Response,
    Round,
    Win,
    utcnow,
)
from pipeline.scoreboard import build_scoreboard, save_scoreboard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MergeResult:
    """What a merge run did, for logs and the CLI."""

    round_id: int
    answers: int
    newly_merged: int
    # Answers that could not be read and were left out: person name -> why.
    skipped: dict[str, str] = field(default_factory=dict)


def latest_responses(session: Session, round_id: int) -> list[Response]:
    """Return the latest revision of each person's answers in a round."""
    newest = (
        select(Response.invitation_id, func.max(Response.revision).label("rev"))
        .where(Response.round_id == round_id)
        .group_by(col(Response.invitation_id))
        .subquery()
    )
    stmt = select(Response).join(
        newest,
        (col(Response.invitation_id) == newest.c.invitation_id)
        & (col(Response.revision) == newest.c.rev),
    )
    return list(session.exec(stmt).all())


def merge_round_at(database_url: str, round_id: int, *, pooled: bool = True) -> MergeResult:
    """Merge a round in its own sessions, holding the write lock only to write (what the
    worker, reconcile, the scheduler and a close run).

    SQLite has one write lock for the whole database, and a writing session takes it at its
    start (BEGIN IMMEDIATE): a merge that recomputed the scoreboard and the phase snapshot
    inside it held it for seconds at 100,000 people, and partners' answers meanwhile failed with
    "database is locked". So the merge runs in three steps:

    1. writing: the round's rows from the latest answers (what merge_round writes before its
       scoreboard), answers not yet marked merged;
    2. reading, no lock: the scoreboard and the phase snapshot from the rows step 1 committed;
    3. writing: check that no answer arrived since step 1, then store both and mark the answers
       merged.

    A merge that stops between the steps leaves its answers unmerged, so it is run again (the
    next merge job, `cos reconcile`, a worker's start-up), and every step recomputes from the
    latest answers. When an answer arrived after step 1, step 3 stores nothing: that answer's
    own merge (queued after it, or found unmerged by reconcile) writes the newer state.
    """
    from pipeline.db import session_scope

    with bound(round_id=round_id):
        with session_scope(database_url, pooled=pooled) as session:
            rows = _merge_rows(session, round_id)
        with session_scope(database_url, pooled=pooled, read_only=True) as session:
            board, snap = _derived(session, round_id, rows.skipped)
        with session_scope(database_url, pooled=pooled) as session:
            _lock_round(session, round_id)
            if _answers_seen(session, round_id) != rows.seen:
                log.info("round %s: an answer arrived during the merge; its own merge stores "
                         "the scoreboard and marks the answers", round_id)
                return rows.result(0)
            save_scoreboard(session, round_id, board)
            save_snapshot(session, round_id, snap)
            return rows.result(_mark_merged(session, round_id, rows.newest_id))


def merge_round(session: Session, round_id: int) -> MergeResult:
    """Apply a round's latest answers to the coalition's state and mark them merged, all in
    the caller's session (one transaction: it holds SQLite's write lock throughout)."""
    with bound(round_id=round_id):
        return _merge_round(session, round_id)


def _merge_round(session: Session, round_id: int) -> MergeResult:
    # All in the caller's one transaction (tests, the demo, benches).
    rows = _merge_rows(session, round_id)
    session.flush()
    board, snap = _derived(session, round_id, rows.skipped)
    save_scoreboard(session, round_id, board)
    save_snapshot(session, round_id, snap)
    return rows.result(_mark_merged(session, round_id, rows.newest_id))


@dataclass(frozen=True)
class _Rows:
    """What the merge's writing step did, for the steps after it."""

    round_id: int
    answers: int
    newest_id: int  # the newest answer (Response id) the rows were computed from
    seen: tuple[int, int]  # the round's answers then: (newest id, how many)
    skipped: dict[str, str]

    def result(self, newly_merged: int) -> MergeResult:
        return MergeResult(self.round_id, self.answers, newly_merged, self.skipped)


def _lock_round(session: Session, round_id: int) -> Round:
    # Lock the round (PostgreSQL) so two workers merging it at once take turns; SQLite
    # writing transactions here are BEGIN IMMEDIATE, which serialises them anyway.
    return session.exec(select(Round).where(Round.id == round_id).with_for_update()).one()


def _answers_seen(session: Session, round_id: int) -> tuple[int, int]:
    newest, count = session.execute(
        select(func.max(Response.id), func.count()).where(Response.round_id == round_id)).one()
    return (newest or 0, count)


def _mark_merged(session: Session, round_id: int, newest_id: int) -> int:
    """Mark the round's answers up to newest_id merged; return how many were not yet."""
    now = utcnow()
    unmerged = session.exec(
        select(Response).where(Response.round_id == round_id,
                               col(Response.merged_at).is_(None),
                               col(Response.id) <= newest_id)
    ).all()
    for response in unmerged:
        response.merged_at = now
        session.add(response)
    return len(unmerged)


def _derived(session: Session, round_id: int,
             skipped: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compute (store nothing) the round's scoreboard, with the answers the merge had to
    leave out, and its phase snapshot, from the round's history loaded once."""
    history = load_history(session, round_id)
    board = build_scoreboard(session, round_id, history)
    board["unmerged"] = [{"name": name, "why": why} for name, why in sorted(skipped.items())]
    return board, compute_snapshot(session, round_id, history)


def _merge_rows(session: Session, round_id: int) -> _Rows:
    round_ = _lock_round(session, round_id)
    seen = _answers_seen(session, round_id)
    coalition_id = round_.coalition_id
    responses = latest_responses(session, round_id)
    # Only those who answered, and only the columns used: a merge costs the answers, not the
    # coalition (100,000 people loaded as objects took seconds per merge).
    people = {
        p.id: p for p in session.execute(
            select(Person.id, Person.organisation_id, Person.name).where(
                col(Person.id).in_(select(Response.person_id).where(
                    Response.round_id == round_id))))
    }
    # Columns, not objects: this runs under the write lock (10,000 commitments at 100,000 people).
    owned_commitments: dict[int, set[int]] = {}
    for cid, org in session.execute(
            select(Commitment.id, Commitment.organisation_id).where(
                Commitment.coalition_id == coalition_id, col(Commitment.active).is_(True))):
        owned_commitments.setdefault(org, set()).add(cid or 0)
    owned_metrics: dict[int, set[int]] = {}
    for mid, org in session.execute(select(Metric.id, Metric.owner_organisation_id).where(
            Metric.coalition_id == coalition_id)):
        owned_metrics.setdefault(org, set()).add(mid or 0)
    merged = merge_answers(
        (
            AnswerSet(r.person_id, people[r.person_id].organisation_id, r.submitted_at, r.answers)
            for r in responses
        ),
        owned_commitments=owned_commitments,
        owned_metrics=owned_metrics,
    )

    for table in (CommitmentUpdate, Reading, Win, Blocker, Pulse, HelpEdge, ConflictAnswer):
        session.execute(delete(table).where(col(table.round_id) == round_id))
    _apply_new_commitments(session, round_, merged)
    for cid, report in merged.status_reports.items():
        session.add(CommitmentUpdate(commitment_id=cid, round_id=round_id,
                                     person_id=report.person_id, status=report.status,
                                     note=report.note))
    notes = {r.person_id: r.answers.get("reading_notes") for r in responses
             if isinstance(r.answers, dict)}
    for mid, (value, person) in merged.readings.items():
        said = notes.get(person)
        note = clean_text(str(said.get(str(mid)) or ""), 2000) if isinstance(said, dict) else ""
        session.add(Reading(metric_id=mid, round_id=round_id, person_id=person, value=value,
                            note=note))
    for person, (org, text) in merged.wins.items():
        session.add(Win(round_id=round_id, person_id=person, organisation_id=org, text=text))
    for person, (org, text, help_wanted) in merged.blockers.items():
        session.add(Blocker(round_id=round_id, person_id=person, organisation_id=org,
                            text=text, help_wanted=help_wanted))
    for person, score in merged.pulses.items():
        session.add(Pulse(round_id=round_id, person_id=person, score=score))
    for helper, helped, reporter in merged.help_edges:
        session.add(HelpEdge(round_id=round_id, helper_organisation_id=helper,
                             helped_organisation_id=helped, reported_by_person_id=reporter))
    for conflict in merged.conflicts:
        for said in conflict.answers:
            given = said.value
            session.add(ConflictAnswer(
                round_id=round_id, kind=conflict.kind, subject_id=conflict.subject_id,
                person_id=said.person_id, organisation_id=said.organisation_id,
                status=given if isinstance(given, str) else "",
                value=given if isinstance(given, float) else None,
                submitted_at=said.submitted_at, kept=said is conflict.kept))
    session.flush()
    refresh_commitment_statuses(session, coalition_id)

    newest_id = max((r.id or 0 for r in responses), default=0)
    skipped = {people[pid].name if pid in people else f"person {pid}": why
               for pid, why in merged.skipped.items()}
    for name, why in skipped.items():
        log.warning("round %s: left out the answers of %s: %s", round_id, name, why)
    # Win-echo rounds, and check-ins that carried the win from memory this time.
    store_echo_marks(session, round_, {r.person_id: r.answers for r in responses})
    return _Rows(round_id, len(responses), newest_id, seen, skipped)


def _apply_new_commitments(session: Session, round_: Round, merged: RoundMerge) -> None:
    prefix = f"checkin:{round_.id}:"
    existing = {
        c.source_key: c
        for c in session.exec(
            select(Commitment).where(Commitment.coalition_id == round_.coalition_id,
                                     col(Commitment.source_key).startswith(prefix))
        )
    }
    for person, new in merged.new_commitments.items():
        key = f"{prefix}{person}"
        row = existing.pop(key, None) or Commitment(
            coalition_id=round_.coalition_id, organisation_id=new.organisation_id, text="",
            source_key=key, created_round_id=round_.id,
        )
        row.organisation_id, row.text, row.due = new.organisation_id, new.text, new.due
        session.add(row)
    # A person who took back the new commitment in a later revision: remove it, unless a
    # later round already reported on it.
    for row in existing.values():
        has_history = session.exec(
            select(CommitmentUpdate.id).where(CommitmentUpdate.commitment_id == row.id)
        ).first()
        if not has_history:
            session.delete(row)


def refresh_commitment_statuses(session: Session, coalition_id: int) -> None:
    """Set each commitment's status from its latest reported round."""
    history: dict[int, list[tuple[int, str]]] = {}
    rows = session.exec(
        select(CommitmentUpdate.commitment_id, Round.number, CommitmentUpdate.status)
        .join(Round, col(Round.id) == col(CommitmentUpdate.round_id))
        .where(Round.coalition_id == coalition_id)
    )
    for cid, number, status in rows:
        history.setdefault(cid, []).append((number, status))
    # Read (id, status) pairs and load as objects only the commitments whose status changes.
    statuses = session.execute(select(Commitment.id, Commitment.status).where(
        Commitment.coalition_id == coalition_id))
    changed = {cid: status for cid, was in statuses
               if (status := current_status(history.get(cid or 0, []))) != was}
    for cid, status in changed.items():
        commitment = session.get(Commitment, cid)
        assert commitment is not None
        commitment.status = status
        session.add(commitment)


def unmerged_rounds(session: Session) -> list[int]:
    """Return the rounds that have answers not merged yet."""
    return sorted(set(session.exec(select(Response.round_id)
                                   .where(col(Response.merged_at).is_(None))).all()))
