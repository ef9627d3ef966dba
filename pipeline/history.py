"""A coalition's history up to one round, as plain rows, in a fixed number of queries.

The scoreboard (pipeline.scoreboard) and the COS Model snapshot (pipeline.cos_model) of a round
read the same tables: organisations, people, invitations, commitments and their updates,
metrics and their readings, wins, pulses, help. `load_history` reads each table once with one
grouped query (never one per organisation or person) and returns the columns as tuples, not ORM
objects: building 10,000 objects for the readings of 500 metrics over 20 rounds cost more than
the rest of the digest. A merge loads it once for both figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from pipeline.models import (
    Blocker,
    Coalition,
    Commitment,
    CommitmentUpdate,
    HelpEdge,
    Invitation,
    Metric,
    Organisation,
    Person,
    Pulse,
    Reading,
    Response,
    Round,
    Win,
)


@dataclass
class History:
    """A round, its coalition, and the coalition's rows of every round up to this one.

    Each row is a SQLAlchemy ``Row`` read by column name (``row.organisation_id``); lists are
    in id order, so "the last one wins" reads the same as it did row by row.
    """

    round: Round
    coalition: Coalition
    rounds: list[Round]  # up to and including `round`, by number
    organisations: dict[int, Any]  # id -> (id, name, active)
    people: dict[int, Any]  # id -> (id, name, organisation_id, active, role)
    invitations: list[Any]  # (round_id, person_id), not revoked
    answered: list[Any]  # (round_id, person_id), each pair once
    commitments: list[Any]  # the coalition's, every one
    updates: list[Any]  # (commitment_id, round_id, status, note)
    metrics: list[Any]  # the coalition's, every one
    readings: list[Any]  # (metric_id, round_id, value, note)
    wins: list[Any]  # this round's: (organisation_id, person_id, text)
    win_counts: dict[int, int]  # round id -> wins logged, every round
    blockers: list[Any]  # this round's: (organisation_id, person_id, text, help_wanted)
    pulses: list[int]  # this round's scores
    pulse_totals: dict[int, tuple[int, int]]  # round id -> (sum of the scores, how many)
    help_edges: list[Any]  # (round_id, helper_organisation_id, helped_organisation_id)

    @property
    def org_name(self) -> dict[int, str]:
        """Each organisation's name by id."""
        return {oid: o.name for oid, o in self.organisations.items()}


def load_history(session: Session, round_id: int) -> History:
    """Load a round's history: 17 queries, however large the coalition and its past.

    The rounds are read through the session (which flushes what it holds first); the rest
    as plain rows on its connection, in the same transaction.
    """
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise LookupError(f"no round {round_id}")
    coalition = session.get(Coalition, round_.coalition_id)
    assert coalition is not None
    cid = coalition.id
    rounds = list(session.exec(select(Round).where(
        Round.coalition_id == cid, Round.number <= round_.number).order_by(col(Round.number))))
    ids = [r.id for r in rounds]
    connection = session.connection()

    def rows(*columns: Any, where: Any, order: Any = None, group: Any = None) -> list[Any]:
        query = select(*columns).where(*where)
        if group is not None:
            query = query.group_by(group)
        if order is not None:
            query = query.order_by(order)
        return list(connection.execute(query).all())

    organisations = {o.id: o for o in rows(
        Organisation.id, Organisation.name, Organisation.active,
        where=[Organisation.coalition_id == cid])}
    people = {p.id: p for p in rows(
        Person.id, Person.name, Person.organisation_id, Person.active, Person.role,
        where=[Person.coalition_id == cid])}
    return History(
        round=round_, coalition=coalition, rounds=rounds, organisations=organisations,
        people=people,
        invitations=rows(Invitation.round_id, Invitation.person_id,
                         where=[col(Invitation.round_id).in_(ids),
                                col(Invitation.revoked_at).is_(None)],
                         order=col(Invitation.id)),
        answered=list(connection.execute(select(Response.round_id, Response.person_id).where(
            col(Response.round_id).in_(ids)).distinct()).all()),
        commitments=rows(Commitment.id, Commitment.organisation_id, Commitment.text,
                         Commitment.due, Commitment.status, Commitment.active,
                         Commitment.created_round_id,
                         where=[Commitment.coalition_id == cid], order=col(Commitment.id)),
        updates=rows(CommitmentUpdate.commitment_id, CommitmentUpdate.round_id,
                     CommitmentUpdate.status, CommitmentUpdate.note,
                     where=[col(CommitmentUpdate.round_id).in_(ids)],
                     order=col(CommitmentUpdate.id)),
        metrics=rows(Metric.id, Metric.key, Metric.name, Metric.unit,
                     Metric.owner_organisation_id, Metric.baseline, Metric.target,
                     Metric.direction, Metric.active,
                     where=[Metric.coalition_id == cid], order=col(Metric.id)),
        readings=rows(Reading.metric_id, Reading.round_id, Reading.value, Reading.note,
                      where=[col(Reading.round_id).in_(ids)], order=col(Reading.id)),
        wins=rows(Win.organisation_id, Win.person_id, Win.text,
                  where=[Win.round_id == round_id], order=col(Win.id)),
        win_counts=dict(rows(Win.round_id, func.count(), where=[col(Win.round_id).in_(ids)],
                             group=col(Win.round_id))),
        blockers=rows(Blocker.organisation_id, Blocker.person_id, Blocker.text,
                      Blocker.help_wanted, where=[Blocker.round_id == round_id],
                      order=col(Blocker.id)),
        pulses=[p.score for p in rows(Pulse.score, where=[Pulse.round_id == round_id],
                                      order=col(Pulse.id))],
        pulse_totals={p.round_id: (int(p.total), p.count) for p in rows(
            Pulse.round_id, func.sum(Pulse.score).label("total"),
            func.count().label("count"), where=[col(Pulse.round_id).in_(ids)],
            group=col(Pulse.round_id))},
        help_edges=rows(HelpEdge.round_id, HelpEdge.helper_organisation_id,
                        HelpEdge.helped_organisation_id,
                        where=[col(HelpEdge.round_id).in_(ids)], order=col(HelpEdge.id)),
    )
