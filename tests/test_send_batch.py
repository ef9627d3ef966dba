"""Batched sending: one job and one SMTP connection for many ledger rows, claimed in one
statement, with each row's failure kept to that row."""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import replace
from typing import Any

import pytest
from sqlmodel import col, select

from emails import DeliveryError, Rendered, SMTPConnection, backend_from_url, build_message
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


@pytest.mark.parametrize("connections", [1, 2])
def test_a_round_goes_out_in_one_job_over_the_configured_connections(
        connections, settings, session, smtp_server, redis_conn, monkeypatch):
    """COS_MAIL_CONNECTIONS: one job opens that many connections (2 by default), each email
    going over one of them, once."""
    peers = count_connections(smtp_server, monkeypatch)
    load(settings)
    _, rows = open_round(settings)
    with queues.configured(settings.with_(mail_connections=connections)) as settings:
        assert queues.enqueue_sends(settings, rows) == 4
        assert redis_conn.llen(f"rq:queue:{queues.MAIL_QUEUE}") == 1
        work(settings)
    received = smtp_server.wait_for(4)
    assert len(received) == 4 and len({tuple(m.rcpt_tos) for m in received}) == 4
    assert len(set(peers)) == connections
    assert set(statuses(session).values()) == {("sent", 1)}
    assert all(d.message_id and d.via for d in session.exec(select(Delivery)))


def test_a_refused_and_a_deferred_address_stop_no_one_else(settings, session, smtp_server,
                                                          tmp_path, monkeypatch):
    peers = count_connections(smtp_server, monkeypatch)
    settings = settings.with_(mail_connections=1)  # one connection, for the jobs too
    monkeypatch.setattr(queues, "_settings", settings)
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


def test_batched_messages_arrive_as_valid_mime_each_with_its_own_headers(
        settings, session, smtp_server):
    """The send path writes the MIME bytes itself (no stdlib generator): what the server
    receives parses back into both parts, the right headers and one Message-ID per row."""
    load(settings)
    _, rows = open_round(settings)
    queues.enqueue_sends(settings, rows)
    work(settings)
    received = smtp_server.wait_for(4)
    sent = {d.message_id: d for d in session.exec(select(Delivery))}
    assert sorted(str(r.message["Message-ID"]) for r in received) == sorted(sent)
    for got in received:
        reparsed = email.message_from_bytes(got.raw, policy=email.policy.strict)
        assert b"\r\n" in got.raw or b"\n" in got.raw
        assert reparsed.get_content_type() == "multipart/alternative"
        assert reparsed["MIME-Version"] == "1.0"
        assert reparsed["Auto-Submitted"] == "auto-generated"
        assert reparsed["Date"].datetime is not None
        [to] = reparsed["To"].addresses
        assert got.rcpt_tos == [to.addr_spec]
        assert reparsed["From"].addresses[0].addr_spec == got.mail_from
        text, html = reparsed.iter_parts()
        assert text.get_content_type() == "text/plain"
        assert html.get_content_type() == "text/html"
        assert text.get_content_charset() == html.get_content_charset() == "utf-8"
        assert to.display_name.split()[0] in text.get_content()
        assert "<html" in html.get_content().lower()
        assert not reparsed.defects and not text.defects and not html.defects


def refuse_content_to_bad(smtp_server: Any, monkeypatch: Any) -> None:
    """Make the server refuse the content of any message to an address containing 'bad'."""
    handle = smtp_server.handler.handle_DATA

    async def picky(server: Any, session: Any, envelope: Any) -> str:
        if "bad" in envelope.rcpt_tos[0]:
            return "554 5.6.0 content refused"
        return await handle(server, session, envelope)

    monkeypatch.setattr(smtp_server.handler, "handle_DATA", picky)


def _message(to: str) -> Any:
    return build_message(Rendered("Hello", "Hi.\n.dot line\n", "<p>Hi</p>"),
                         sender="Harbour <cos@example.org>", to_name="Ann", to_addr=to,
                         message_id=f"<{to}>")


@pytest.mark.parametrize("pipelining", [True, False])
def test_each_reply_is_judged_per_message_with_and_without_pipelining(smtp_server, monkeypatch,
                                                                     pipelining):
    """With a server that offers PIPELINING the envelope goes in one write; either way a
    refused address, a deferred one and refused content each fail their own message only,
    and the connection carries on (a line starting with a dot arrives whole)."""
    monkeypatch.setattr(smtp_server.handler, "pipelining", pipelining)
    refuse_content_to_bad(smtp_server, monkeypatch)

    connection = SMTPConnection(backend_from_url(smtp_server.url))  # type: ignore[arg-type]
    try:
        connection.send(_message("ann@example.org"))
        assert connection.last_reply.startswith("250 ")
        errors = []
        for to in ("sam.reject@example.org", "tia.defer@example.org", "bad@example.org"):
            with pytest.raises(DeliveryError) as caught:
                connection.send(_message(to))
            errors.append(caught.value)
        connection.send(_message("bo@example.org"))
        assert connection._client is not None
        assert connection._client.has_extn("pipelining") == pipelining
    finally:
        connection.close()
    refused, deferred, content = errors
    assert refused.recipient_refused and not refused.temporary and "550" in refused.reply
    assert deferred.recipient_refused and deferred.temporary and "451" in deferred.reply
    assert not content.temporary and content.code == 554 and not content.recipient_refused
    got = smtp_server.wait_for(2)
    assert [m.rcpt_tos for m in got] == [["ann@example.org"], ["bo@example.org"]]
    assert ".dot line" in got[0].message.get_body(("plain",)).get_content()


def test_the_next_envelope_rides_behind_each_message_and_each_reply_stays_its_own(
        smtp_server, monkeypatch):
    """Sending each message with the one after it announced (its envelope written behind the
    content): a refused address, a deferred one and refused content fail only their own
    message; one connection carries them all; an announced message that is not sent after
    all is never delivered."""
    refuse_content_to_bad(smtp_server, monkeypatch)
    peers = count_connections(smtp_server, monkeypatch)

    addresses = ["a@example.org", "sam.reject@example.org", "bad@example.org",
                 "tia.defer@example.org", "b@example.org", "c@example.org"]
    messages = [_message(to) for to in addresses]
    connection = SMTPConnection(backend_from_url(smtp_server.url))  # type: ignore[arg-type]
    failed = []
    try:
        for index, each in enumerate(messages):
            then = messages[index + 1] if index + 1 < len(messages) else _message("z@example.org")
            try:
                connection.send(each, then=then)
            except DeliveryError as exc:
                failed.append((addresses[index], exc.temporary, exc.recipient_refused))
    finally:
        connection.close()  # z@ was announced and never sent
    assert failed == [("sam.reject@example.org", False, True), ("bad@example.org", False, False),
                      ("tia.defer@example.org", True, True)]
    got = smtp_server.wait_for(3)
    assert [m.rcpt_tos for m in got] == [["a@example.org"], ["b@example.org"], ["c@example.org"]]
    assert all(".dot line" in m.message.get_body(("plain",)).get_content() for m in got)
    assert len(set(peers)) == 1

    # Announced, then something else sent instead: the announced one never arrives.
    smtp_server.clear()
    connection = SMTPConnection(backend_from_url(smtp_server.url))  # type: ignore[arg-type]
    try:
        connection.send(_message("d@example.org"), then=_message("never@example.org"))
        connection.send(_message("e@example.org"))
    finally:
        connection.close()
    got = smtp_server.wait_for(2)
    assert [m.rcpt_tos for m in got] == [["d@example.org"], ["e@example.org"]]


def test_a_chunk_loads_only_its_own_peoples_organisations(settings, smtp_server, tmp_path):
    """The send path's cost must not grow with the coalition: a chunk of emails loads its
    recipients' organisations and the lead's, not every organisation of the coalition (at
    10,000 organisations that was 10,000 rows read per 100 emails)."""
    from sqlalchemy import event

    from pipeline.models import Organisation

    load(settings)
    people = tmp_path / "people.csv"
    people.write_text("email,name,organisation,role\n" + "".join(
        f"p{n}@org{n}.example,Partner {n},Organisation {n},partner\n" for n in range(120)))
    assert cos(settings, "people", "import", "harbour-air", str(people)).exit_code == 0
    _, rows = open_round(settings)
    assert len(rows) > 120
    loaded: list[int] = []

    def on_load(target: Organisation, _context: Any) -> None:
        loaded.append(target.id or 0)

    event.listen(Organisation, "load", on_load)
    try:
        outcomes = send_batch(settings, rows[:5])
    finally:
        event.remove(Organisation, "load", on_load)
    assert [o.status for o in outcomes] == ["sent"] * 5
    from pipeline.models import Coalition

    with session_scope(settings.database_url, read_only=True) as s:
        wanted = {p.organisation_id for d, p in s.exec(
            select(Delivery, Person).where(Delivery.person_id == Person.id,
                                           col(Delivery.id).in_(rows[:5])))}
        wanted |= {c.lead_organisation_id for c in s.exec(select(Coalition))} - {None}
    assert sorted(loaded) == sorted(wanted)  # each once, and no other
