"""Redis stopped while partners submit, and restarted empty mid-round: answers are saved and
thanked, and the queued work is rebuilt from the database (the worker's sweep, `cos reconcile`),
by a worker that lives through the outage."""

from __future__ import annotations

import pytest
from sqlmodel import select

from cos.checkin_client import answer
from cos.processes import web_server
from forms import create_app
from pipeline import queues
from pipeline.db import session_scope
from pipeline.models import Response, Win
from tests.chaos.conftest import queues_idle, wait_until
from tests.chaos.test_killed_workers import PARTNERS, all_sent
from tests.helpers import cos, link_for, load, open_round

pytestmark = pytest.mark.chaos


def links(settings, round_id: int) -> dict[str, str]:
    with session_scope(settings.database_url, read_only=True) as s:
        return {e: settings.base_url + link_for(settings, s, e, round_id) for e in PARTNERS}


def wins(settings) -> list[str]:
    with session_scope(settings.database_url, read_only=True) as s:
        return sorted(w.text for w in s.exec(select(Win)))


def unmerged(settings) -> int:
    with session_scope(settings.database_url, read_only=True) as s:
        return sum(r.merged_at is None for r in s.exec(select(Response)))


@pytest.fixture
def served(chaos):  # type: ignore[no-untyped-def]
    from urllib.parse import urlsplit

    with web_server(create_app(chaos), "127.0.0.1", urlsplit(chaos.base_url).port or 80):
        yield chaos


def test_answers_sent_while_redis_is_down_are_thanked_and_merged_once_it_is_back(
        served, chaos_redis, workers):
    load(served)
    round_id, _ = open_round(served)
    chaos_redis.stop()

    for email, link in links(served, round_id).items():
        thanked = answer(link, {"win": f"win of {email}"})
        assert thanked.status_code == 200 and "/thanks" in thanked.url
        assert f"win of {email}" in thanked.text
    assert unmerged(served) == 4 and wins(served) == []

    chaos_redis.start()  # empty: no merge was ever queued
    workers.start()
    wait_until(lambda: unmerged(served) == 0, 60, "the start-up sweep merging the answers")
    assert wins(served) == [f"win of {e}" for e in PARTNERS]


def test_queued_invitations_lost_with_an_emptied_redis_are_queued_again_by_reconcile(
        chaos, chaos_redis, chaos_smtp, workers):
    chaos_smtp.start()
    load(chaos)
    _, ids = open_round(chaos)
    assert queues.enqueue_sends(chaos, ids) == 4
    chaos_redis.restart_empty()  # the queued jobs are gone; the ledger still has the rows

    reconciled = cos(chaos, "reconcile")
    assert reconciled.exit_code == 0, reconciled.output
    assert "queued 4 emails" in reconciled.stdout
    assert cos(chaos, "worker", "--burst").exit_code == 0
    assert chaos_smtp.recipients() == PARTNERS
    assert all_sent(chaos)


def test_a_running_worker_lives_through_a_redis_restart_and_rebuilds_the_lost_work(
        served, chaos_redis, chaos_smtp, workers):
    from datetime import timedelta

    from pipeline.rounds import start_round

    chaos_smtp.start()
    load(served)
    round_id, _ = open_round(served)
    worker = workers.start()  # its start-up sweep queues the round's invitations
    wait_until(lambda: all_sent(served) and queues_idle(served), 30, "the invitations sent")
    first, *others = links(served, round_id).items()
    assert answer(first[1], {"win": f"win of {first[0]}"}).status_code == 200
    wait_until(lambda: unmerged(served) == 0 and wins(served), 30, "the first merge")

    chaos_redis.stop()
    # While Redis is down: answers are saved (and thanked), a new round's invitations go
    # into the ledger only.
    for email, link in others:
        assert answer(link, {"win": f"win of {email}"}).status_code == 200
    with session_scope(served.database_url) as s:
        start_round(s, served.secret_key, "harbour-air", timedelta(hours=72), force=True)
    chaos_redis.restart_empty()

    wait_until(lambda: unmerged(served) == 0 and len(wins(served)) == 4, 60,
               "the worker merging what was answered while Redis was away")
    wait_until(lambda: all_sent(served) and queues_idle(served), 60,
               "the worker sending the invitations the ledger holds")
    assert worker.poll() is None, workers.log()
    assert wins(served) == [f"win of {e}" for e in PARTNERS]
    assert chaos_smtp.recipients() == sorted(PARTNERS * 2)  # each round's, once
    # Either RQ's loop ended and the worker waited for Redis, or RQ reconnected by itself
    # and the heartbeat saw a new Redis: both rebuild the work.
    assert "Redis answers again" in workers.log() or "Redis restarted" in workers.log()
