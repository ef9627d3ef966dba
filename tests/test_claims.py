"""A sender that dies mid-send is replaced promptly; a live one is never doubled."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from pipeline import ledger
from pipeline.db import session_scope
from pipeline.models import Delivery, utcnow
from tests.helpers import cos, load, open_round


def dead_pid() -> int:
    """Return the pid of a process that has just ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def claim_as(settings, delivery_id: int, claimed_by: str, age: timedelta) -> None:
    """Put a row in `sending` as if this claimant took it `age` ago."""
    with session_scope(settings.database_url) as s:
        s.execute(update(Delivery).where(col(Delivery.id) == delivery_id).values(
            status="sending", claimed_by=claimed_by, claimed_at=utcnow() - age, attempts=1))


def test_only_claims_of_dead_or_expired_senders_are_taken_back(db_settings, session):
    load(db_settings)
    _, rows = open_round(db_settings)
    host = socket.gethostname()
    dead, live, other_recent, other_old = rows
    claim_as(db_settings, dead, f"{host}:{dead_pid()}", timedelta(seconds=5))
    claim_as(db_settings, live, ledger.claimant(), timedelta(seconds=5))  # a slow, live send
    claim_as(db_settings, other_recent, "elsewhere:123", timedelta(minutes=1))
    claim_as(db_settings, other_old, "elsewhere:123", ledger.CLAIM_LEASE + timedelta(minutes=1))

    with session_scope(db_settings.database_url) as s:
        pending = ledger.pending_rows(s)

    assert sorted(pending) == sorted([dead, other_old])
    session.expire_all()
    states = {d.id: d.status for d in session.exec(select(Delivery))}
    assert states[live] == "sending" and states[other_recent] == "sending"


def test_a_restarted_workers_sweep_sends_what_a_killed_sender_left_at_once(
        settings, session, smtp_server):
    load(settings)
    _, rows = open_round(settings)
    with session_scope(settings.database_url) as s:
        for delivery_id in rows:
            ledger.claim(s, delivery_id)
    host = socket.gethostname()
    for delivery_id in rows:  # claimed a moment ago by a process that is now gone
        claim_as(settings, delivery_id, f"{host}:{dead_pid()}", timedelta(seconds=1))

    result = cos(settings, "worker", "--burst")
    assert result.exit_code == 0, result.output
    assert len(smtp_server.wait_for(4)) == 4
    session.expire_all()
    assert {d.status for d in session.exec(select(Delivery))} == {"sent"}


def test_a_batch_claim_takes_over_only_the_claims_of_dead_or_expired_senders(db_settings,
                                                                              session):
    load(db_settings)
    _, rows = open_round(db_settings)
    host = socket.gethostname()
    dead, live, other_recent, other_old = rows
    claim_as(db_settings, dead, f"{host}:{dead_pid()}", timedelta(seconds=5))
    claim_as(db_settings, live, "elsewhere:1", timedelta(seconds=5))  # a slow, live send
    claim_as(db_settings, other_recent, "elsewhere:123", timedelta(minutes=1))
    claim_as(db_settings, other_old, "elsewhere:123", ledger.CLAIM_LEASE + timedelta(minutes=1))

    with session_scope(db_settings.database_url) as s:
        assert ledger.claim_many(s, rows) == [dead, other_old]
    with session_scope(db_settings.database_url) as s:  # now held by a live sender: this one
        assert ledger.claim_many(s, rows) == []

    session.expire_all()
    by = {d.id: (d.claimed_by, d.attempts) for d in session.exec(select(Delivery))}
    assert by[dead] == (ledger.claimant(), 2) and by[other_old] == (ledger.claimant(), 2)
    assert by[live] == ("elsewhere:1", 1) and by[other_recent] == ("elsewhere:123", 1)
