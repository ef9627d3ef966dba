"""Merging a round: apply the merge rules to the database, in one transaction.

The merge recomputes everything a round contributes from the latest revision of each person's
answers. Running it twice, or again after a crash halfway, therefore leaves the same state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from pipeline.core.merge import AnswerSet, RoundMerge, current_status, merge_answers
from pipeline.core.text import clean_text
from pipeline.cos_model import store_echo_marks, store_snapshot
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
from pipeline.scoreboard import store_scoreboard

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


def merge_round(session: Session, round_id: int) -> MergeResult:
    """Apply a round's latest answers to the coalition's state and mark them merged."""
    with bound(round_id=round_id):
        return _merge_round(session, round_id)


def _merge_round(session: Session, round_id: int) -> MergeResult:
    # Lock the round (PostgreSQL) so two workers merging it at once take turns; SQLite
    # transactions here are BEGIN IMMEDIATE, which serialises them anyway.
    round_ = session.exec(
        select(Round).where(Round.id == round_id).with_for_update()
    ).one()
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
    owned_commitments: dict[int, set[int]] = {}
    for c in session.exec(select(Commitment).where(Commitment.coalition_id == coalition_id,
                                                   col(Commitment.active).is_(True))):
        owned_commitments.setdefault(c.organisation_id, set()).add(c.id or 0)
    owned_metrics: dict[int, set[int]] = {}
    for m in session.exec(select(Metric).where(Metric.coalition_id == coalition_id)):
        owned_metrics.setdefault(m.owner_organisation_id, set()).add(m.id or 0)
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

    now = utcnow()
    newest_id = max((r.id or 0 for r in responses), default=0)
    unmerged = session.exec(
        select(Response).where(Response.round_id == round_id,
                               col(Response.merged_at).is_(None),
                               col(Response.id) <= newest_id)
    ).all()
    for response in unmerged:
        response.merged_at = now
        session.add(response)

    skipped = {people[pid].name if pid in people else f"person {pid}": why
               for pid, why in merged.skipped.items()}
    for name, why in skipped.items():
        log.warning("round %s: left out the answers of %s: %s", round_id, name, why)
    store_scoreboard(session, round_id,
                     [{"name": name, "why": why} for name, why in sorted(skipped.items())])
    # Win-echo rounds, and check-ins that carried the win from memory this time.
    store_echo_marks(session, round_, {r.person_id: r.answers for r in responses})
    session.flush()
    store_snapshot(session, round_id)
    return MergeResult(round_id, len(responses), len(unmerged), skipped)


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
    commitments = select(Commitment).where(Commitment.coalition_id == coalition_id)
    for commitment in session.exec(commitments):
        status = current_status(history.get(commitment.id or 0, []))
        if commitment.status != status:
            commitment.status = status
            session.add(commitment)


def unmerged_rounds(session: Session) -> list[int]:
    """Return the rounds that have answers not merged yet."""
    return sorted(set(session.exec(select(Response.round_id)
                                   .where(col(Response.merged_at).is_(None))).all()))
