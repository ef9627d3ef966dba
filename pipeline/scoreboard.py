"""The round's one-page scoreboard: pure arithmetic over plain rows, and its storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from pipeline.models import (
    CLOSED_STATUSES,
    Blocker,
    Campaign,
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
    Scoreboard,
    Win,
    utcnow,
)

REPORTED_STATUSES = ("on_track", "slipping", "blocked", "done", "dropped")


@dataclass(frozen=True)
class InvitedPerson:
    """Someone asked to check in this round."""

    person_id: int
    name: str
    organisation: str


@dataclass(frozen=True)
class CommitmentRow:
    """A commitment as it stands in this round."""

    organisation: str
    text: str
    due: date | None
    status: str  # reported this round, or "no_update"
    note: str


@dataclass(frozen=True)
class MetricRow:
    """A metric with this round's reading and the one before it."""

    key: str
    name: str
    unit: str
    owner: str
    baseline: float
    target: float
    direction: str
    value: float | None
    previous: float | None


def progress(baseline: float, target: float, direction: str, value: float | None) -> int | None:
    """Return how far a value has come from baseline to target, in whole percent (0-100)."""
    if value is None or target == baseline:
        return None
    if direction == "down":
        share = (baseline - value) / (baseline - target)
    else:
        share = (value - baseline) / (target - baseline)
    return round(max(0.0, min(1.0, share)) * 100)


def compute_scoreboard(
    *,
    as_of: date,
    invited: list[InvitedPerson],
    answered: set[int],
    commitments: list[CommitmentRow],
    metrics: list[MetricRow],
    wins: list[tuple[str, str, str]],
    blockers: list[tuple[str, str, str, bool]],
    pulses: list[int],
    help_edges: list[tuple[str, str]],
) -> dict[str, Any]:
    """Build the scoreboard dict that the digest and pages show."""
    silent = sorted(
        ({"name": p.name, "organisation": p.organisation} for p in invited
         if p.person_id not in answered),
        key=lambda s: (s["organisation"], s["name"]),
    )
    invited_count = len(invited)
    answered_count = sum(1 for p in invited if p.person_id in answered)

    totals = {s: 0 for s in (*REPORTED_STATUSES, "no_update", "overdue")}
    by_org: dict[str, list[dict[str, Any]]] = {}
    for c in sorted(commitments, key=lambda c: (c.organisation, c.due or date.max, c.text)):
        overdue = c.due is not None and c.due < as_of and c.status not in CLOSED_STATUSES
        totals[c.status] += 1
        totals["overdue"] += overdue
        by_org.setdefault(c.organisation, []).append({
            "text": c.text, "due": c.due.isoformat() if c.due else None, "status": c.status,
            "note": c.note, "overdue": overdue,
        })

    metric_rows = []
    for m in metrics:
        change = None if m.value is None or m.previous is None else m.value - m.previous
        metric_rows.append({
            "key": m.key, "name": m.name, "unit": m.unit, "owner": m.owner,
            "baseline": m.baseline, "target": m.target, "direction": m.direction,
            "value": m.value, "previous": m.previous, "change": change,
            "progress": progress(m.baseline, m.target, m.direction, m.value),
            "reported": m.value is not None,
        })

    return {
        "as_of": as_of.isoformat(),
        "response": {
            "invited": invited_count,
            "answered": answered_count,
            "rate": answered_count / invited_count if invited_count else 0.0,
            "silent": silent,
        },
        "commitments": {
            "totals": totals,
            "by_organisation": [{"organisation": org, "items": items}
                                for org, items in sorted(by_org.items())],
        },
        "metrics": metric_rows,
        "wins": [{"organisation": o, "person": p, "text": t} for o, p, t in sorted(wins)],
        "blockers": [{"organisation": o, "person": p, "text": t, "help_wanted": h}
                     for o, p, t, h in sorted(blockers)],
        "pulse": {
            "average": round(sum(pulses) / len(pulses), 2) if pulses else None,
            "count": len(pulses),
        },
        "help": [{"helper": a, "helped": b} for a, b in sorted(set(help_edges))],
    }


def local_date(moment: datetime, timezone: str) -> date:
    """Return the calendar date of a UTC moment in the coalition's time zone."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def readings_before(session: Session, campaign: Campaign) -> dict[int, float]:
    """Return each metric's latest reading from the coalition's rounds before this one."""
    latest: dict[int, float] = {}
    for metric_id, value in session.exec(
            select(Reading.metric_id, Reading.value)
            .join(Campaign, col(Campaign.id) == col(Reading.campaign_id))
            .where(Campaign.coalition_id == campaign.coalition_id,
                   Campaign.number < campaign.number)
            .order_by(col(Campaign.number))):
        latest[metric_id] = value  # ordered by round: the last one written wins
    return latest


def build_scoreboard(session: Session, campaign_id: int) -> dict[str, Any]:
    """Gather a round's rows from the database and compute its scoreboard."""
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    coalition = session.get(Coalition, campaign.coalition_id)
    assert coalition is not None
    orgs = {o.id: o.name for o in session.exec(
        select(Organisation).where(Organisation.coalition_id == coalition.id))}
    people = {p.id: p for p in session.exec(
        select(Person).where(Person.coalition_id == coalition.id))}

    invited = [
        InvitedPerson(i.person_id, people[i.person_id].name,
                      orgs[people[i.person_id].organisation_id])
        for i in session.exec(select(Invitation).where(Invitation.campaign_id == campaign_id,
                                                       col(Invitation.revoked_at).is_(None)))
    ]
    answered = set(session.exec(
        select(Response.person_id).where(Response.campaign_id == campaign_id)).all())

    updates = {u.commitment_id: u for u in session.exec(
        select(CommitmentUpdate).where(CommitmentUpdate.campaign_id == campaign_id))}
    commitment_rows = []
    for c in session.exec(select(Commitment).where(Commitment.coalition_id == coalition.id)):
        update = updates.get(c.id or 0)
        # Closed in an earlier round, or retired from the file: not part of this round's picture.
        if update is None and (c.status in CLOSED_STATUSES or not c.active):
            continue
        if c.created_campaign_id == campaign_id:
            continue  # made this round: it starts counting next round
        commitment_rows.append(CommitmentRow(
            orgs[c.organisation_id], c.text, c.due,
            update.status if update else "no_update", update.note if update else ""))

    metric_rows = []
    previous = readings_before(session, campaign)
    current = {r.metric_id: r.value for r in session.exec(
        select(Reading).where(Reading.campaign_id == campaign_id))}
    for m in session.exec(select(Metric).where(Metric.coalition_id == coalition.id,
                                               col(Metric.active).is_(True))):
        mid = m.id or 0
        metric_rows.append(MetricRow(
            m.key, m.name, m.unit, orgs[m.owner_organisation_id], m.baseline, m.target,
            m.direction, current.get(mid), previous.get(mid)))

    def person_name(pid: int) -> str:
        return people[pid].name

    wins = [(orgs[w.organisation_id], person_name(w.person_id), w.text) for w in session.exec(
        select(Win).where(Win.campaign_id == campaign_id))]
    blockers = [(orgs[b.organisation_id], person_name(b.person_id), b.text, b.help_wanted)
                for b in session.exec(select(Blocker).where(Blocker.campaign_id == campaign_id))]
    pulses = list(session.exec(select(Pulse.score).where(Pulse.campaign_id == campaign_id)).all())
    help_edges = [(orgs[h.helper_organisation_id], orgs[h.helped_organisation_id]) for h in
                  session.exec(select(HelpEdge).where(HelpEdge.campaign_id == campaign_id))]

    as_of = local_date(campaign.closed_at or utcnow(), coalition.timezone)
    return compute_scoreboard(as_of=as_of, invited=invited, answered=answered,
                              commitments=commitment_rows, metrics=metric_rows, wins=wins,
                              blockers=blockers, pulses=pulses, help_edges=help_edges)


def store_scoreboard(session: Session, campaign_id: int) -> dict[str, Any]:
    """Recompute a round's scoreboard and save it (one row per round)."""
    data = build_scoreboard(session, campaign_id)
    row = session.exec(select(Scoreboard).where(Scoreboard.campaign_id == campaign_id)).first()
    if row is None:
        row = Scoreboard(campaign_id=campaign_id, data=data)
    else:
        row.data, row.computed_at = data, utcnow()
    session.add(row)
    return data
