"""The digest asks the database a fixed number of questions, however many organisations and
rounds of history the coalition has (one grouped query per figure, never one per row)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from pipeline.db import get_engine, session_scope
from pipeline.digest import render_digest
from pipeline.models import (
    Blocker,
    Coalition,
    Commitment,
    CommitmentUpdate,
    Invitation,
    Metric,
    Organisation,
    Person,
    Pulse,
    Reading,
    Round,
    Win,
    utcnow,
)


def grow(session: Session, slug: str, organisations: int, rounds: int) -> int:
    """Make a coalition with this many organisations (a partner, a metric and a commitment
    each) and closed rounds of history; return the last round's id."""
    coalition = Coalition(slug=slug, name=f"Coalition {slug}", win="Clean air",
                          timezone="Europe/London")
    session.add(coalition)
    session.flush()
    cid = coalition.id or 0
    orgs = [Organisation(coalition_id=cid, name=f"Org {n}") for n in range(organisations)]
    session.add_all(orgs)
    session.flush()
    coalition.lead_organisation_id = orgs[0].id
    people = [Person(coalition_id=cid, organisation_id=o.id or 0, email=f"p{n}@{slug}.org",
                     name=f"Partner {n}") for n, o in enumerate(orgs)]
    people.append(Person(coalition_id=cid, organisation_id=orgs[0].id or 0,
                         email=f"lead@{slug}.org", name="Lead", role="lead"))
    metrics = [Metric(coalition_id=cid, key=f"m{n}", name=f"Metric {n}", baseline=0,
                      target=100, owner_organisation_id=o.id or 0) for n, o in enumerate(orgs)]
    commitments = [Commitment(coalition_id=cid, organisation_id=o.id or 0, text=f"Do {n}",
                              source_key=f"file:c{n}") for n, o in enumerate(orgs)]
    session.add_all([*people, *metrics, *commitments])
    session.flush()
    start = utcnow() - timedelta(days=7 * rounds)
    round_ = None
    for number in range(1, rounds + 1):
        opened = start + timedelta(days=7 * (number - 1))
        round_ = Round(coalition_id=cid, number=number, opened_at=opened,
                       closes_at=opened + timedelta(days=3), closed_at=opened + timedelta(days=3))
        session.add(round_)
        session.flush()
        rid = round_.id or 0
        for n, (person, metric, commitment) in enumerate(zip(people, metrics, commitments,
                                                             strict=False)):
            session.add_all([
                Invitation(round_id=rid, person_id=person.id or 0, salt=f"s{rid}-{n}",
                           token_hash=f"{slug}-{rid}-{n}"),
                Pulse(round_id=rid, person_id=person.id or 0, score=1 + n % 5),
                Reading(metric_id=metric.id or 0, round_id=rid, person_id=person.id or 0,
                        value=float(number * n)),
                CommitmentUpdate(commitment_id=commitment.id or 0, round_id=rid,
                                 person_id=person.id or 0, status="on_track", note="fine"),
                Win(round_id=rid, person_id=person.id or 0,
                    organisation_id=person.organisation_id, text=f"Win {n}"),
                Blocker(round_id=rid, person_id=person.id or 0,
                        organisation_id=person.organisation_id, text=f"Stuck {n}",
                        help_wanted=n % 2 == 0),
            ])
        session.flush()
    assert round_ is not None
    return round_.id or 0


@contextmanager
def counting(url: str) -> Iterator[list[str]]:
    """Collect the SQL statements run on this database's engine."""
    statements: list[str] = []
    engine = get_engine(url)

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def digest_queries(settings, slug: str, organisations: int, rounds: int) -> list[str]:
    """Build a coalition, then count the queries of rendering its last round's digest (the
    scoreboard computed afresh, as for a round never merged)."""
    with session_scope(settings.database_url) as session:
        round_id = grow(session, slug, organisations, rounds)
    with counting(settings.database_url) as statements, \
            session_scope(settings.database_url) as session:
        rendered = render_digest(session, settings, round_id)
    assert f"Org {organisations - 1}" in rendered.text  # the last organisation is in it
    return statements


def test_the_digest_asks_as_many_questions_for_100_organisations_as_for_3(db_settings):
    # (bench/digest.py runs 500 organisations and 20 rounds; this keeps the suite quick)
    small = digest_queries(db_settings, "small", organisations=3, rounds=2)
    large = digest_queries(db_settings, "large", organisations=100, rounds=5)
    assert len(large) == len(small)
    # One per figure, pinned so it cannot creep up (SQLite adds its BEGIN IMMEDIATE): the
    # round's history read once for both the scoreboard and the phase snapshot
    # (pipeline.history, 17), a few for the answers, marks and conflicts, and the two rows
    # stored. It was 41 when each figure read the history itself.
    assert len(large) <= 28, "\n".join(large)
