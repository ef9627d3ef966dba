"""Data out: a coalition's people, commitments, answers and scoreboards as CSV or JSON.

Every CSV cell a spreadsheet could run as a formula is neutralised (core/text); JSON keeps
the values as they are, with times in UTC ISO 8601.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from pipeline.core.text import neutralise_row
from pipeline.merge import latest_responses
from pipeline.models import (
    Coalition,
    Commitment,
    Metric,
    Organisation,
    Person,
    Round,
    Scoreboard,
)

# One table: its column names, then its rows (each a list in that order).
Table = tuple[list[str], Iterator[list[Any]]]


def _people(session: Session, coalition: Coalition) -> Table:
    orgs = _organisation_names(session, coalition)
    rows = session.exec(select(Person).where(Person.coalition_id == coalition.id)
                        .order_by(col(Person.email)))
    return (["email", "name", "organisation", "role", "active", "source"],
            ([p.email, p.name, orgs.get(p.organisation_id, ""), p.role, p.active, p.source]
             for p in rows))


def _commitments(session: Session, coalition: Coalition) -> Table:
    orgs = _organisation_names(session, coalition)
    rows = session.exec(select(Commitment).where(Commitment.coalition_id == coalition.id)
                        .order_by(col(Commitment.id)))
    return (["organisation", "text", "due", "status", "active", "source"],
            ([orgs.get(c.organisation_id, ""), c.text, c.due, c.status, c.active,
              c.source_key] for c in rows))


def _answers(session: Session, coalition: Coalition) -> Table:
    """Each person's latest answers in each round, one row, the way they sent them."""
    orgs = _organisation_names(session, coalition)
    people = {p.id: p for p in session.exec(select(Person).where(
        Person.coalition_id == coalition.id))}
    commitments = {c.id: c.text for c in session.exec(select(Commitment).where(
        Commitment.coalition_id == coalition.id))}
    metrics = {m.id: m.name for m in session.exec(select(Metric).where(
        Metric.coalition_id == coalition.id))}
    rounds = session.exec(select(Round).where(Round.coalition_id == coalition.id)
                          .order_by(col(Round.number))).all()

    def rows() -> Iterator[list[Any]]:
        for round_ in rounds:
            for response in sorted(latest_responses(session, round_.id or 0),
                                   key=lambda r: (r.submitted_at, r.person_id)):
                person = people.get(response.person_id)
                given = response.answers if isinstance(response.answers, dict) else {}
                said = "; ".join(
                    f"{commitments.get(int(k), k)}: {v.get('status', '')}"
                    for k, v in (given.get("commitments") or {}).items() if isinstance(v, dict))
                read = "; ".join(f"{metrics.get(int(k), k)}: {v}"
                                 for k, v in (given.get("readings") or {}).items()
                                 if v is not None)
                helped = "; ".join(orgs.get(int(h), str(h)) for h in given.get("helped_by") or [])
                yield [round_.number, person.name if person else "", person.email if person
                       else "", orgs.get(person.organisation_id, "") if person else "",
                       response.revision, response.submitted_at, said, read,
                       given.get("win") or "", given.get("blocker") or "",
                       bool(given.get("help_wanted")), given.get("pulse"), helped]

    return (["round", "name", "email", "organisation", "revision", "submitted_at",
             "commitments", "readings", "win", "blocker", "help_wanted", "pulse", "helped_by"],
            rows())


def _scoreboard(session: Session, coalition: Coalition) -> Table:
    """Each round's metrics as the stored scoreboard shows them: one row per round and metric."""
    stored = session.exec(select(Round, Scoreboard).join(
        Scoreboard, col(Scoreboard.round_id) == col(Round.id))
        .where(Round.coalition_id == coalition.id).order_by(col(Round.number))).all()

    def rows() -> Iterator[list[Any]]:
        for round_, board in stored:
            for m in board.data.get("metrics", []):
                yield [round_.number, m.get("key"), m.get("name"), m.get("unit"),
                       m.get("owner"), m.get("baseline"), m.get("target"), m.get("value"),
                       m.get("progress")]

    return (["round", "metric", "name", "unit", "owner", "baseline", "target", "value",
             "progress_percent"], rows())


EXPORTS: dict[str, Callable[[Session, Coalition], Table]] = {
    "people": _people, "commitments": _commitments, "answers": _answers,
    "scoreboard": _scoreboard,
}


def _organisation_names(session: Session, coalition: Coalition) -> dict[int, str]:
    return {o.id or 0: o.name for o in session.exec(select(Organisation).where(
        Organisation.coalition_id == coalition.id))}


def _plain(value: Any) -> Any:
    """Make a value JSON-ready: times in UTC with a Z, dates as ISO dates."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def export(session: Session, coalition: Coalition, what: str, fmt: str) -> str:
    """Return one export of a coalition as CSV (formula-safe) or JSON text."""
    columns, rows = EXPORTS[what](session, coalition)
    if fmt == "json":
        records = [dict(zip(columns, map(_plain, row), strict=True)) for row in rows]
        return json.dumps({"coalition": coalition.slug, what: records}, indent=2,
                          ensure_ascii=False) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(neutralise_row([_plain(v) if not isinstance(v, str) else v
                                        for v in row]))
    return out.getvalue()
