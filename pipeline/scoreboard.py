"""The round's scoreboard: gather its rows from the database, compute it, store it."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from pipeline.core.display import format_local, local_date
from pipeline.core.scoreboard import CommitmentRow, InvitedPerson, MetricRow, compute_scoreboard
from pipeline.core.vocab import CLOSED_STATUSES, ConflictKind
from pipeline.history import History, load_history
from pipeline.models import (
    ConflictAnswer,
    Person,
    Reading,
    Round,
    Scoreboard,
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


def build_scoreboard(session: Session, round_id: int,
                     history: History | None = None) -> dict[str, Any]:
    """Gather a round's rows from the database (or the history already loaded) and compute
    its scoreboard."""
    h = history or load_history(session, round_id)
    round_, coalition, people = h.round, h.coalition, h.people
    orgs = h.org_name

    invited = [InvitedPerson(pid, people[pid].name, orgs[people[pid].organisation_id])
               for rid, pid in h.invitations if rid == round_id]
    answered = {pid for rid, pid in h.answered if rid == round_id}

    # (the hot loops unpack rows: a tuple's items are cheaper than a Row's names)
    updates = {cid: (status, note) for cid, rid, status, note in h.updates if rid == round_id}
    commitment_rows = []
    for c in h.commitments:
        update = updates.get(c.id)
        # Closed in an earlier round, or retired from the file: not part of this round's picture.
        if update is None and (c.status in CLOSED_STATUSES or not c.active):
            continue
        if c.created_round_id == round_id:
            continue  # made this round: it starts counting next round
        status, note = update or ("no_update", "")
        commitment_rows.append(CommitmentRow(orgs[c.organisation_id], c.text, c.due, status,
                                             note))

    metric_rows = []
    number = {r.id: r.number for r in h.rounds}
    current: dict[int, float] = {}
    latest: dict[int, tuple[int, float]] = {}  # metric -> (round number, value)
    for mid, rid, value, _ in h.readings:
        if rid == round_id:
            current[mid] = value
        elif mid not in latest or number[rid] > latest[mid][0]:
            latest[mid] = (number[rid], value)
    previous = {mid: value for mid, (_, value) in latest.items()}
    for m in h.metrics:
        if not m.active:
            continue
        metric_rows.append(MetricRow(
            m.key, m.name, m.unit, orgs[m.owner_organisation_id], m.baseline, m.target,
            m.direction, current.get(m.id), previous.get(m.id)))

    wins = [(orgs[w.organisation_id], people[w.person_id].name, w.text) for w in h.wins]
    blockers = [(orgs[b.organisation_id], people[b.person_id].name, b.text, b.help_wanted)
                for b in h.blockers]
    pulses = h.pulses
    help_edges = [(orgs[e.helper_organisation_id], orgs[e.helped_organisation_id])
                  for e in h.help_edges if e.round_id == round_id]

    as_of = local_date(round_.closed_at or utcnow(), coalition.timezone)
    data = compute_scoreboard(as_of=as_of, invited=invited, answered=answered,
                              commitments=commitment_rows, metrics=metric_rows, wins=wins,
                              blockers=blockers, pulses=pulses, help_edges=help_edges)
    data["conflicts"] = round_conflicts(session, round_id, h)
    return data


def round_conflicts(session: Session, round_id: int,
                    history: History | None = None) -> list[dict[str, Any]]:
    """Return what people of one organisation answered differently in a round, by name.

    Each conflict names its commitment or metric and owner, and lists every answer with the
    person, their organisation, the status or value, when it was sent (in the coalition's
    time zone) and whether it is the one kept (the latest). As of the round's last merge.
    """
    rows = session.exec(
        select(ConflictAnswer, Person).join(Person, col(Person.id) == col(ConflictAnswer.person_id))
        .where(ConflictAnswer.round_id == round_id)
        .order_by(col(ConflictAnswer.submitted_at), col(ConflictAnswer.person_id))).all()
    if not rows:
        return []  # the usual case: nothing else to read
    h = history or load_history(session, round_id)
    coalition, orgs = h.coalition, h.org_name
    commitments = {c.id: c for c in h.commitments}
    metrics = {m.id: m for m in h.metrics}
    grouped: dict[tuple[str, int], dict[str, Any]] = {}
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
                     unmerged: list[dict[str, str]] | None = None,
                     history: History | None = None) -> dict[str, Any]:
    """Recompute a round's scoreboard and save it (one row per round), with the answers the
    merge had to leave out (name and why), so status and the digest can say so."""
    data = build_scoreboard(session, round_id, history)
    data["unmerged"] = unmerged or []
    save_scoreboard(session, round_id, data)
    return data


def save_scoreboard(session: Session, round_id: int, data: dict[str, Any]) -> None:
    """Save a round's scoreboard computed before (one row per round)."""
    row = session.exec(select(Scoreboard).where(Scoreboard.round_id == round_id)).first()
    if row is None:
        row = Scoreboard(round_id=round_id, data=data)
    else:
        row.data, row.computed_at = data, utcnow()
    session.add(row)
