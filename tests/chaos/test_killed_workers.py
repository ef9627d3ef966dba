"""A worker SIGKILLed in the middle of a send, a fan-out and a merge: after a restart every
invitation is sent exactly once (counted at the SMTP server) and every answer is merged."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlmodel import col, select

from pipeline import ledger, queues
from pipeline.db import session_scope
from pipeline.models import Delivery, Person, Response, Win
from tests.chaos.conftest import queues_idle, wait_until
from tests.helpers import cos, load, open_round
from tests.test_merge import submit

pytestmark = pytest.mark.chaos

PARTNERS = sorted(["ana@harbourtrust.org", "raj@schools.example", "kim@cyclists.example",
                   "dee@clinic.example"])


def rows(settings) -> list[Delivery]:
    with session_scope(settings.database_url, read_only=True) as s:
        return list(s.exec(select(Delivery).order_by(col(Delivery.id))))


def all_sent(settings) -> bool:
    return all(d.status == "sent" for d in rows(settings))


def test_a_killed_work_horse_left_unreaped_counts_as_dead():
    # A work horse whose worker was killed too is re-parented to init; an init that does not
    # reap leaves it a zombie, which kill(pid, 0) still finds.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child.send_signal(signal.SIGKILL)
    wait_until(lambda: ledger.is_zombie(child.pid), 10, "the child becoming a zombie")
    try:
        assert ledger.process_gone(f"{socket.gethostname()}:{child.pid}")
    finally:
        child.wait()


def test_a_job_run_again_takes_over_the_claim_of_a_dead_sender_at_once(chaos, chaos_smtp):
    from pipeline.sending import send_delivery

    chaos_smtp.start()
    load(chaos)
    _, ids = open_round(chaos)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with session_scope(chaos.database_url) as s:
        ledger.claim(s, ids[0])
        row = s.get(Delivery, ids[0])
        assert row is not None
        row.claimed_by = f"{socket.gethostname()}:{child.pid}"
        s.add(row)

    outcome = send_delivery(chaos, ids[0])  # RQ retrying the killed job, or a re-queued one

    assert outcome.status == "sent"
    assert len(chaos_smtp.messages) == 1
    live = ids[1]
    with session_scope(chaos.database_url) as s:
        assert ledger.claim(s, live)  # this process holds it now: a live, slow send
    assert send_delivery(chaos, live).status == "skipped"
    assert len(chaos_smtp.messages) == 1


def kill_mid_send(chaos, chaos_smtp, workers, ids: list[int], after: int, *,
                  accepted: bool = False) -> None:
    """Let `after` emails through, hold the next one mid-send (at RCPT TO; with `accepted`,
    after the server kept it and before it said so), SIGKILL the worker and restart it. Every
    row is then sent; none arrives twice but the one in flight at the kill, and only when the
    server had it already, then with the same Message-ID. One SMTP connection, so the emails
    go in order (two connections: see the test after)."""
    workers.settings = chaos.with_(mail_connections=1)
    chaos_smtp.handler.hold_at = after + 1
    chaos_smtp.handler.accept_then_hold = accepted
    chaos_smtp.start()
    queues.enqueue_sends(chaos, ids)
    first = workers.start()
    wait_until(chaos_smtp.handler.held.is_set, 60, "an email held mid-send")
    # Each email the server accepted before the one in flight is in the ledger (at once: with
    # PIPELINING the held envelope may reach the server just before the sender writes down
    # the email before it; the sender then sends nothing more until the held one is answered).
    wait_until(lambda: [d.status for d in rows(chaos)].count("sent") == after, 10,
               "the emails before the held one being recorded")
    states = [d.status for d in rows(chaos)]
    assert states.count("sent") == after, states
    assert len(chaos_smtp.messages) == after + accepted
    kill_and_restart(chaos, chaos_smtp, workers, first, ids,
                     resent=[chaos_smtp.handler.held_rcpt] if accepted else [])


def kill_and_restart(chaos, chaos_smtp, workers, first, ids: list[int], *,
                     resent: list[str]) -> None:
    """SIGKILL the worker holding an email mid-send, let the server go on, start a worker
    again: every row is then sent, and only the `resent` addresses got an email twice, the
    same Message-ID both times."""
    workers.kill(first)
    chaos_smtp.handler.gate.set()
    workers.start()

    wait_until(lambda: all_sent(chaos) and queues_idle(chaos), 60, "every email being sent")
    sent_to = chaos_smtp.recipients()
    assert len(set(sent_to)) == len(ids), sent_to
    twice = sorted({r for r in sent_to if sent_to.count(r) > 1})
    assert twice == resent, (twice, resent)
    for address in twice:
        copies = [m for m in chaos_smtp.messages if address in m.rcpt_tos]
        assert len(copies) == 2
        assert copies[0].message["Message-ID"] == copies[1].message["Message-ID"]
    assert all(d.status == "sent" for d in rows(chaos))


def test_a_worker_killed_as_the_server_takes_an_email_resends_only_that_one(
        chaos, chaos_smtp, workers):
    load(chaos)
    _, ids = open_round(chaos)
    # Killed as the server kept the second email: that one alone arrives twice.
    kill_mid_send(chaos, chaos_smtp, workers, ids, after=1, accepted=True)
    assert sorted(set(chaos_smtp.recipients())) == PARTNERS


def test_with_two_connections_a_killed_worker_resends_only_the_email_in_flight(
        chaos, chaos_smtp, workers, tmp_path):
    """COS_MAIL_CONNECTIONS=2: one connection's email is held after the server kept it; the
    other connection's emails go on and are written down; the kill then resends that one
    email only, with the same Message-ID."""
    load(chaos)
    add_partners(chaos, tmp_path, 16)
    _, ids = open_round(chaos)
    workers.settings = chaos.with_(mail_connections=2)
    chaos_smtp.handler.hold_at, chaos_smtp.handler.accept_then_hold = 6, True
    chaos_smtp.start()
    queues.enqueue_sends(chaos, ids)
    first = workers.start()
    wait_until(chaos_smtp.handler.held.is_set, 60, "an email held mid-send")
    # The other connection finishes its part of the chunk: every email the server has, but
    # the held one, is in the ledger, and the server gets no more (for two seconds on end).
    def settled() -> tuple[int, int]:
        return [d.status for d in rows(chaos)].count("sent"), len(chaos_smtp.messages)

    def other_connection_done() -> bool:
        before = settled()
        time.sleep(2)
        return before == settled() and before[0] == before[1] - 1 >= 6

    wait_until(other_connection_done, 30, "the other connection's emails")
    kill_and_restart(chaos, chaos_smtp, workers, first, ids,
                     resent=[chaos_smtp.handler.held_rcpt])


def add_partners(chaos, tmp_path, count: int) -> None:
    people = tmp_path / "people.csv"
    people.write_text("email,name,organisation,role\n" + "".join(
        f"p{n}@clinic.example,Partner {n},Harbour Clinic,partner\n" for n in range(count)))
    assert cos(chaos, "people", "import", "harbour-air", str(people)).exit_code == 0


def test_a_worker_killed_mid_fan_out_sends_each_invitation_once_after_a_restart(
        chaos, chaos_smtp, workers, tmp_path):
    load(chaos)
    add_partners(chaos, tmp_path, 16)
    _, ids = open_round(chaos)
    assert len(ids) == 20
    # Killed halfway through the second claim chunk, with its ninth email not yet accepted.
    kill_mid_send(chaos, chaos_smtp, workers, ids, after=8)
    with session_scope(chaos.database_url, read_only=True) as s:
        everyone = sorted(p.email for p in s.exec(select(Person).where(Person.role == "partner")))
    assert chaos_smtp.recipients() == everyone


def test_a_worker_killed_mid_merge_merges_every_answer_after_a_restart(
        chaos, chaos_redis, workers, tmp_path):
    import sqlite3

    load(chaos)
    round_id, _ = open_round(chaos)
    for email in PARTNERS[:2]:
        submit(chaos, round_id, email, {"win": f"win of {email}"})
    first = workers.start()
    wait_until(lambda: "Listening on" in workers.log(), 30, "the worker listening")
    # Another connection holds the write lock, so the merge stops in its first statement.
    holder = sqlite3.connect(str(tmp_path / "cos.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    queues.enqueue_merge(chaos, round_id)
    mark = queues.MERGE_PENDING.format(round_id=round_id)
    wait_until(lambda: not chaos_redis_client(chaos).exists(mark), 30, "the merge starting")
    workers.kill(first)
    holder.execute("ROLLBACK")
    holder.close()

    # New answers after the kill are merged by the restarted worker, the old ones by its sweep.
    for email in PARTNERS[2:]:
        submit(chaos, round_id, email, {"win": f"win of {email}"})
        queues.enqueue_merge(chaos, round_id)
    workers.start()

    def merged() -> bool:
        with session_scope(chaos.database_url, read_only=True) as s:
            return all(r.merged_at for r in s.exec(select(Response))) and len(
                s.exec(select(Win)).all()) == 4

    wait_until(merged, 60, "every answer being merged")
    with session_scope(chaos.database_url, read_only=True) as s:
        assert sorted(w.text for w in s.exec(select(Win))) == [f"win of {e}" for e in PARTNERS]


def chaos_redis_client(settings):  # type: ignore[no-untyped-def]
    import redis

    return redis.Redis.from_url(settings.redis_url)


def test_claims_expire_on_their_lease_for_other_hosts():
    row = Delivery(round_id=1, person_id=1, kind="invitation", status="sending",
                   claimed_by="elsewhere:1", claimed_at=ledger.utcnow() - timedelta(minutes=1))
    assert not ledger.abandoned(row, ledger.utcnow())
    assert ledger.abandoned(row, ledger.utcnow() + ledger.CLAIM_LEASE)
