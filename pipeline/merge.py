"""Merging a round's answers: pure rules first, then the job that applies them to the database.

The merge recomputes everything a round contributes from the latest revision of each person's
answers, inside one transaction. Running it twice, or again after a crash halfway, therefore
leaves the same state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from pipeline.models import (
    COMMITMENT_STATUSES,
    Blocker,
    Campaign,
    Commitment,
    CommitmentUpdate,
    HelpEdge,
    Metric,
    Person,
    Pulse,
    Reading,
    Response,
    Win,
    utcnow,
)


@dataclass(frozen=True)
class AnswerSet:
    """The latest answers of one person in one round."""

    person_id: int
    organisation_id: int
    submitted_at: datetime
    answers: dict[str, Any]


@dataclass(frozen=True)
class StatusReport:
    """What one person said about one commitment."""

    status: str
    note: str
    person_id: int


@dataclass(frozen=True)
class NewCommitment:
    """A commitment a person added in their check-in."""

    organisation_id: int
    text: str
    due: date | None


@dataclass
class RoundMerge:
    """Everything a round's answers contribute, keyed so that each thing appears once."""

    status_reports: dict[int, StatusReport] = field(default_factory=dict)
    new_commitments: dict[int, NewCommitment] = field(default_factory=dict)  # by person
    readings: dict[int, tuple[float, int]] = field(default_factory=dict)  # metric -> value, person
    wins: dict[int, tuple[int, str]] = field(default_factory=dict)  # person -> org, text
    blockers: dict[int, tuple[int, str, bool]] = field(default_factory=dict)
    pulses: dict[int, int] = field(default_factory=dict)  # person -> 1..5
    help_edges: set[tuple[int, int, int]] = field(default_factory=set)  # helper, helped, reporter


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def merge_answers(
    latest: Iterable[AnswerSet],
    *,
    owned_commitments: dict[int, set[int]] | None = None,
    owned_metrics: dict[int, set[int]] | None = None,
) -> RoundMerge:
    """Combine the latest answers of a round; where two people report the same thing, the
    later submission wins. Commitments and metrics a person's organisation does not own are
    ignored when the ownership maps are given."""
    merged = RoundMerge()
    for answer in sorted(latest, key=lambda a: (a.submitted_at, a.person_id)):
        data, org, person = answer.answers, answer.organisation_id, answer.person_id
        for key, report in (data.get("commitments") or {}).items():
            cid = int(key)
            if owned_commitments is not None and cid not in owned_commitments.get(org, set()):
                continue
            status = _text(report.get("status"))
            if status in COMMITMENT_STATUSES:
                merged.status_reports[cid] = StatusReport(status, _text(report.get("note")), person)
        new = data.get("new_commitment") or {}
        if _text(new.get("text")):
            due = date.fromisoformat(new["due"]) if new.get("due") else None
            merged.new_commitments[person] = NewCommitment(org, _text(new["text"]), due)
        for key, value in (data.get("readings") or {}).items():
            mid = int(key)
            if value is None:
                continue
            if owned_metrics is not None and mid not in owned_metrics.get(org, set()):
                continue
            merged.readings[mid] = (float(value), person)
        if _text(data.get("win")):
            merged.wins[person] = (org, _text(data["win"]))
        if _text(data.get("blocker")):
            merged.blockers[person] = (org, _text(data["blocker"]), bool(data.get("help_wanted")))
        pulse = data.get("pulse")
        if isinstance(pulse, int) and 1 <= pulse <= 5:
            merged.pulses[person] = pulse
        for helper in data.get("helped_by") or []:
            if int(helper) != org:
                merged.help_edges.add((int(helper), org, person))
    return merged


def current_status(history: Iterable[tuple[int, str]]) -> str:
    """Return a commitment's status: the one reported in its latest round, else "open"."""
    latest = max(history, default=None)
    return latest[1] if latest else "open"


@dataclass(frozen=True)
class MergeResult:
    """What a merge run did, for logs and the CLI."""

    campaign_id: int
    answers: int
    newly_merged: int


def latest_responses(session: Session, campaign_id: int) -> list[Response]:
    """Return the latest revision of each person's answers in a round."""
    newest = (
        select(Response.invitation_id, func.max(Response.revision).label("rev"))
        .where(Response.campaign_id == campaign_id)
        .group_by(col(Response.invitation_id))
        .subquery()
    )
    stmt = select(Response).join(
        newest,
        (col(Response.invitation_id) == newest.c.invitation_id)
        & (col(Response.revision) == newest.c.rev),
    )
    return list(session.exec(stmt).all())


def merge_campaign(session: Session, campaign_id: int) -> MergeResult:
    """Apply a round's latest answers to the coalition's state and mark them merged."""
    # Lock the round (PostgreSQL) so two workers merging it at once take turns; SQLite
    # transactions here are BEGIN IMMEDIATE, which serialises them anyway.
    campaign = session.exec(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    ).one()
    coalition_id = campaign.coalition_id
    responses = latest_responses(session, campaign_id)
    people = {
        p.id: p for p in session.exec(select(Person).where(Person.coalition_id == coalition_id))
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

    for table in (CommitmentUpdate, Reading, Win, Blocker, Pulse, HelpEdge):
        session.execute(delete(table).where(col(table.campaign_id) == campaign_id))
    _apply_new_commitments(session, campaign, merged)
    for cid, report in merged.status_reports.items():
        session.add(CommitmentUpdate(commitment_id=cid, campaign_id=campaign_id,
                                     person_id=report.person_id, status=report.status,
                                     note=report.note))
    for mid, (value, person) in merged.readings.items():
        session.add(Reading(metric_id=mid, campaign_id=campaign_id, person_id=person, value=value))
    for person, (org, text) in merged.wins.items():
        session.add(Win(campaign_id=campaign_id, person_id=person, organisation_id=org, text=text))
    for person, (org, text, help_wanted) in merged.blockers.items():
        session.add(Blocker(campaign_id=campaign_id, person_id=person, organisation_id=org,
                            text=text, help_wanted=help_wanted))
    for person, score in merged.pulses.items():
        session.add(Pulse(campaign_id=campaign_id, person_id=person, score=score))
    for helper, helped, reporter in merged.help_edges:
        session.add(HelpEdge(campaign_id=campaign_id, helper_organisation_id=helper,
                             helped_organisation_id=helped, reported_by_person_id=reporter))
    session.flush()
    refresh_commitment_statuses(session, coalition_id)

    now = utcnow()
    newest_id = max((r.id or 0 for r in responses), default=0)
    unmerged = session.exec(
        select(Response).where(Response.campaign_id == campaign_id,
                               col(Response.merged_at).is_(None),
                               col(Response.id) <= newest_id)
    ).all()
    for response in unmerged:
        response.merged_at = now
        session.add(response)

    from pipeline.scoreboard import store_scoreboard  # scoreboard reads what the merge wrote

    store_scoreboard(session, campaign_id)
    return MergeResult(campaign_id, len(responses), len(unmerged))


def _apply_new_commitments(session: Session, campaign: Campaign, merged: RoundMerge) -> None:
    prefix = f"checkin:{campaign.id}:"
    existing = {
        c.source_key: c
        for c in session.exec(
            select(Commitment).where(Commitment.coalition_id == campaign.coalition_id,
                                     col(Commitment.source_key).startswith(prefix))
        )
    }
    for person, new in merged.new_commitments.items():
        key = f"{prefix}{person}"
        row = existing.pop(key, None) or Commitment(
            coalition_id=campaign.coalition_id, organisation_id=new.organisation_id, text="",
            source_key=key, created_campaign_id=campaign.id,
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
        select(CommitmentUpdate.commitment_id, Campaign.number, CommitmentUpdate.status)
        .join(Campaign, col(Campaign.id) == col(CommitmentUpdate.campaign_id))
        .where(Campaign.coalition_id == coalition_id)
    )
    for cid, number, status in rows:
        history.setdefault(cid, []).append((number, status))
    commitments = select(Commitment).where(Commitment.coalition_id == coalition_id)
    for commitment in session.exec(commitments):
        status = current_status(history.get(commitment.id or 0, []))
        if commitment.status != status:
            commitment.status = status
            session.add(commitment)
