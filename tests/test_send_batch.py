"""Batched sending: one job and one SMTP connection for many ledger rows, claimed in one
statement, with each row's failure kept to that row."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from sqlmodel import select

from emails import SMTPConnection
from pipeline import ledger, queues
from pipeline.db import session_scope
from pipeline.models import Delivery, Person
from pipeline.sending import send_batch
from tests.conftest_smtp import free_port
from tests.helpers import cos, load, open_round, work


def count_connections(smtp_server, monkeypatch) -> list[Any]:
    """Record the client address of each message the server accepts (one per connection)."""
    peers: list[Any] = []
    handle = smtp_server.handler.handle_DATA

    async def recording(server: Any, session: Any, envelope: Any) -> str:
        peers.append(session.peer)
        return await handle(server, session, envelope)

    monkeypatch.setattr(smtp_server.handler, "handle_DATA", recording)
    return peers


def statuses(session) -> dict[str, tuple[str, int]]:
    """Map each recipient to their row's status and number of tries."""
    session.expire_all()
    return {p.email: (d.status, d.attempts) for d, p in session.exec(
        select(Delivery, Person).where(Delivery.person_id == Person.id))}


def test_a_round_goes_out_in_one_job_over_one_connection(settings, session, smtp_server,
                                                         redis_conn, monkeypatch):
    peers = count_connections(smtp_server, monkeypatch)
    load(settings)
    _, rows = open_round(settings)
    assert queues.enqueue_sends(settings, rows) == 4
    assert redis_conn.llen(f"rq:queue:{queues.MAIL_QUEUE}") == 1
    work(settings)
    assert len(smtp_server.wait_for(4)) == 4
    assert len(set(peers)) == 1
    assert set(statuses(session).values()) == {("sent", 1)}
    assert all(d.message_id and d.via for d in session.exec(select(Delivery)))


def test_a_refused_and_a_deferred_address_stop_no_one_else(settings, session, smtp_server,
                                                          tmp_path, monkeypatch):
    peers = count_connections(smtp_server, monkeypatch)
    load(settings)
    people = tmp_path / "people.csv"
    people.write_text("email,name,organisation,role\n"
                      "sam.reject@clinic.example,Sam Gone,Harbour Clinic,partner\n"
                      "tia.defer@clinic.example,Tia Later,Harbour Clinic,partner\n")
    assert cos(settings, "people", "import", "harbour-air", str(people)).exit_code == 0
    assert cos(settings, "campaign", "start", "harbour-air").exit_code == 0
    work(settings)
    assert len(smtp_server.wait_for(4)) == 4
    assert len(set(peers)) == 1  # a refusal leaves the connection usable
    got = statuses(session)
    assert got.pop("sam.reject@clinic.example") == ("bounced", 1)  # and suppressed
    assert got.pop("tia.defer@clinic.example") == ("failed", 1)
    assert set(got.values()) == {("sent", 1)}
    deferred = session.exec(select(Delivery).where(Delivery.status == "failed")).one()
    assert deferred.retry_at is not None and "451" in deferred.last_error

    # The retry of the batch sends only what is left: here it is still deferred.
    outcomes = send_batch(settings, [d.id or 0 for d in session.exec(select(Delivery))])
    assert sorted(o.status for o in outcomes) == ["failed"] + ["skipped"] * 5
    assert len(smtp_server.messages) == 4


def test_two_senders_given_the_same_rows_send_each_once(db_settings, session, smtp_server):
    mailing = replace(db_settings, mail_url=smtp_server.url)
    load(mailing)
    _, rows = open_round(mailing)
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(
        [o.status for o in send_batch(mailing, rows + rows)])) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(s for r in results for s in r).count("sent") == 8  # each row listed twice
    smtp_server.wait_for(4)
    assert len(smtp_server.messages) == 4
    assert set(statuses(session).values()) == {("sent", 1)}


def test_claim_many_takes_only_rows_free_to_send(db_settings):
    load(db_settings)
    _, rows = open_round(db_settings)
    with session_scope(db_settings.database_url) as s:
        assert ledger.claim_many(s, rows[:2]) == rows[:2]
    with session_scope(db_settings.database_url) as s:
        assert ledger.claim_many(s, list(reversed(rows))) == list(reversed(rows[2:]))
        assert ledger.claim_many(s, rows) == []


def test_an_unreachable_server_fails_the_batch_fast_and_keeps_every_row(db_settings, session):
    closed = replace(db_settings, mail_url=f"smtp://127.0.0.1:{free_port()}")
    load(closed)
    _, rows = open_round(closed)
    outcomes = send_batch(closed, rows)
    assert [o.status for o in outcomes] == ["failed"] * 4
    assert all("could not connect" in o.detail for o in outcomes)
    session.expire_all()
    for delivery in session.exec(select(Delivery)):
        assert delivery.status == "failed" and delivery.retry_at is not None
    # Nothing was lost: the rows are sent once the server is back (reconcile re-queues them).
    with session_scope(closed.database_url) as s:
        assert sorted(ledger.pending_rows(s)) == sorted(rows)


def test_a_connection_is_renewed_after_its_message_limit(settings, session, smtp_server,
                                                          monkeypatch):
    peers = count_connections(smtp_server, monkeypatch)
    monkeypatch.setattr(SMTPConnection, "MAX_MESSAGES", 3)
    load(settings)
    _, rows = open_round(settings)
    assert [o.status for o in send_batch(settings, rows)] == ["sent"] * 4
    assert len(smtp_server.wait_for(4)) == 4
    assert len(set(peers)) == 2
