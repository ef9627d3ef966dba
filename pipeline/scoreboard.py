"""The round's scoreboard: gather its rows from the database, compute it, store it."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from pipeline.core.display import format_local, local_date
from pipeline.core.scoreboard import CommitmentRow, InvitedPerson, MetricRow, compute_scoreboard
from pipeline.core.vocab import CLOSED_STATUSES, ConflictKind
from pipeline.models import (
    Blocker,
    Coalition,
    Commitment,
    CommitmentUpdate,
    ConflictAnswer,
    HelpEdge,
    Invitation,
    Metric,
    Organisation,
    Person,
    Pulse,
    Reading,
    Response,
    Round,
    Scoreboard,
    Win,
    utcnow,
)


def readings_before(session: Session, round_: Round) -> dict[int, float]:
    """Return each metric's latest reading from the coalition's rounds before this one."""
    latest: dict[int, float] = {}
    for metric_id, value in session.exec(
            select(Reading.metric_id, Reading.value)
            .join(Round, col(Round.id) == col(Reading.round_id))
            .where(Round.coalition_id == round_.coalition_id,
                   Round.number < round_.number)
            .order_by(col(Round.number))):
        latest[metric_id] = value  # ordered by round: the last one written wins
    return latest


def _round_context(session: Session, round_id: int
                   ) -> tuple[Round, Coalition, dict[int | None, str]]:
    """Return a round, its coalition and the coalition's organisation names by id."""
    round_ = session.get(Round, round_id)
    assert round_ is not None
    coalition = session.get(Coalition, round_.coalition_id)
    assert coalition is not None
    orgs = {o.id: o.name for o in session.exec(
        select(Organisation).where(Organisation.coalition_id == coalition.id))}
    return round_, coalition, orgs


def build_scoreboard(session: Session, round_id: int) -> dict[str, Any]:
    """Gather a round's rows from the database and compute its scoreboard."""
    round_, coalition, orgs = _round_context(session, round_id)
    # Rows of the columns used, not objects: a round may invite 100,000 people.
    people = {p.id: p for p in session.execute(
        select(Person.id, Person.name, Person.organisation_id)
        .where(Person.coalition_id == coalition.id))}

    invited = [
        InvitedPerson(pid, people[pid].name, orgs[people[pid].organisation_id])
        for pid in session.exec(select(Invitation.person_id).where(
            Invitation.round_id == round_id, col(Invitation.revoked_at).is_(None)))
    ]
    answered = set(session.exec(
        select(Response.person_id).where(Response.round_id == round_id)).all())

    updates = {u.commitment_id: u for u in session.exec(
        select(CommitmentUpdate).where(CommitmentUpdate.round_id == round_id))}
    commitment_rows = []
    for c in session.exec(select(Commitment).where(Commitment.coalition_id == coalition.id)):
        update = updates.get(c.id or 0)
        # Closed in an earlier round, or retired from the file: not part of this round's picture.
        if update is None and (c.status in CLOSED_STATUSES or not c.active):
            continue
        if c.created_round_id == round_id:
            continue  # made this round: it starts counting next round
        commitment_rows.append(CommitmentRow(
            orgs[c.organisation_id], c.text, c.due,
            update.status if update else "no_update", update.note if update else ""))

    metric_rows = []
    previous = readings_before(session, round_)
    current = {r.metric_id: r.value for r in session.exec(
        select(Reading).where(Reading.round_id == round_id))}
    for m in session.exec(select(Metric).where(Metric.coalition_id == coalition.id,
                                               col(Metric.active).is_(True))):
        mid = m.id or 0
        metric_rows.append(MetricRow(
            m.key, m.name, m.unit, orgs[m.owner_organisation_id], m.baseline, m.target,
            m.direction, current.get(mid), previous.get(mid)))

    def person_name(pid: int) -> str:
        return people[pid].name

    wins = [(orgs[w.organisation_id], person_name(w.person_id), w.text) for w in session.exec(
        select(Win).where(Win.round_id == round_id))]
    blockers = [(orgs[b.organisation_id], person_name(b.person_id), b.text, b.help_wanted)
                for b in session.exec(select(Blocker).where(Blocker.round_id == round_id))]
    pulses = list(session.exec(select(Pulse.score).where(Pulse.round_id == round_id)).all())
    help_edges = [(orgs[h.helper_organisation_id], orgs[h.helped_organisation_id]) for h in
                  session.exec(select(HelpEdge).where(HelpEdge.round_id == round_id))]

    as_of = local_date(round_.closed_at or utcnow(), coalition.timezone)
    data = compute_scoreboard(as_of=as_of, invited=invited, answered=answered,
                              commitments=commitment_rows, metrics=metric_rows, wins=wins,
                              blockers=blockers, pulses=pulses, help_edges=help_edges)
    data["conflicts"] = round_conflicts(session, round_id)
    return data


def round_conflicts(session: Session, round_id: int) -> list[dict[str, Any]]:
    """Return what people of one organisation answered differently in a round, by name.

    Each conflict names its commitment or metric and owner, and lists every answer with the
    person, their organisation, the status or value, when it was sent (in the coalition's
    time zone) and whether it is the one kept (the latest). As of the round's last merge.
    """
    round_, coalition, orgs = _round_context(session, round_id)
    commitments = {c.id: c for c in session.exec(
        select(Commitment).where(Commitment.coalition_id == coalition.id))}
    metrics = {m.id: m for m in session.exec(
        select(Metric).where(Metric.coalition_id == coalition.id))}
    grouped: dict[tuple[str, int], dict[str, Any]] = {}
    rows = session.exec(
        select(ConflictAnswer, Person).join(Person, col(Person.id) == col(ConflictAnswer.person_id))
        .where(ConflictAnswer.round_id == round_id)
        .order_by(col(ConflictAnswer.submitted_at), col(ConflictAnswer.person_id)))
    for said, person in rows:
        entry = grouped.get((said.kind, said.subject_id))
        if entry is None:
            if said.kind == ConflictKind.COMMITMENT:
                c = commitments.get(said.subject_id)
                subject, owner, unit = (c.text, orgs[c.organisation_id], "") if c else (
                    f"commitment {said.subject_id}", orgs[said.organisation_id], "")
            else:
                m = metrics.get(said.subject_id)
                subject, owner, unit = (m.name, orgs[m.owner_organisation_id], m.unit) if m else (
                    f"metric {said.subject_id}", orgs[said.organisation_id], "")
            entry = grouped[(said.kind, said.subject_id)] = {
                "kind": said.kind, "subject": subject, "owner": owner, "unit": unit,
                "answers": []}
        entry["answers"].append({
            "person": person.name, "organisation": orgs[said.organisation_id],
            "status": said.status or None, "value": said.value,
            "submitted_at": format_local(said.submitted_at, coalition.timezone),
            "kept": said.kept,
        })
    # Commitments before numbers, as in the digest; then by owner and name.
    return sorted(grouped.values(), key=lambda c: (c["kind"] != ConflictKind.COMMITMENT,
                                                   c["owner"], c["subject"]))


def store_scoreboard(session: Session, round_id: int,
                     unmerged: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Recompute a round's scoreboard and save it (one row per round), with the answers the
    merge had to leave out (name and why), so status and the digest can say so."""
    data = build_scoreboard(session, round_id)
    data["unmerged"] = unmerged or []
    row = session.exec(select(Scoreboard).where(Scoreboard.round_id == round_id)).first()
    if row is None:
        row = Scoreboard(round_id=round_id, data=data)
    else:
        row.data, row.computed_at = data, utcnow()
    session.add(row)
    return data
