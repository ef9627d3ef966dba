"""The database locked (SQLite busy) or unreachable for a moment (PostgreSQL backends
terminated, or nothing listening): partners get a clear 503 page with Retry-After instead of
a 500, nothing is half-written, and jobs that met the outage run again."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import requests
from rq.registry import ScheduledJobRegistry
from sqlalchemy import text
from sqlmodel import select

from cos.checkin_client import CheckinPage
from cos.local_redis import free_port
from forms import create_app
from pipeline import db, queues
from pipeline.db import session_scope
from pipeline.models import Delivery, Response, Win
from tests.chaos.conftest import wait_until
from tests.chaos.test_killed_workers import PARTNERS
from tests.chaos.test_redis_outages import links, served  # noqa: F401 - a fixture
from tests.helpers import load, open_round
from tests.test_merge import submit

pytestmark = pytest.mark.chaos


@contextmanager
def write_locked(database_url: str) -> Iterator[sqlite3.Connection]:
    """Hold SQLite's write lock from another connection, as a long import or backup would."""
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield holder
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def responses(settings) -> list[Response]:
    with session_scope(settings.database_url, read_only=True) as s:
        return list(s.exec(select(Response)))


def assert_busy_page(page: requests.Response) -> None:
    assert page.status_code == 503
    assert page.headers["Retry-After"].isdigit()
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Busy for a moment" in page.text and "nothing was saved" in page.text
    assert "Traceback" not in page.text and "sqlite" not in page.text.lower()


def test_a_locked_sqlite_database_gives_a_503_page_and_writes_nothing(served):  # noqa: F811
    load(served)
    round_id, _ = open_round(served)
    link = links(served, round_id)[PARTNERS[0]]
    page = CheckinPage.open(link)  # the partner has the form open

    with write_locked(served.database_url):
        assert_busy_page(page.submit({"win": "kept for later", "pulse": "4"}))
        assert requests.get(link, timeout=30).status_code == 200  # readers are not blocked
    assert responses(served) == []  # nothing half-written

    page = CheckinPage.open(link)
    saved = page.submit({"win": "kept for later", "pulse": "4"})
    assert saved.status_code == 200 and "/thanks" in saved.url
    assert [r.answers["win"] for r in responses(served)] == ["kept for later"]


def test_an_unreachable_postgresql_gives_a_503_page(chaos):
    app = create_app(chaos.with_(
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/test"))
    page = app.test_client().get("/c/" + "A" * 43)
    assert page.status_code == 503
    assert page.headers["Retry-After"].isdigit()
    assert "Busy for a moment" in page.get_data(as_text=True)


def test_postgresql_backends_terminated_under_the_app_are_replaced_without_an_error(
        pg_schema_url, chaos, tmp_path: Path):
    from tests.conftest import _truncate_all

    _truncate_all(pg_schema_url)
    settings = chaos.with_(database_url=pg_schema_url)
    load(settings)
    round_id, _ = open_round(settings)
    with session_scope(settings.database_url, read_only=True) as s:
        from tests.helpers import link_for

        path = link_for(settings, s, PARTNERS[0], round_id)
    client = create_app(settings).test_client()
    assert client.get(path).status_code == 200
    with db.get_engine(pg_schema_url).connect() as conn:  # the pooled connection the app uses
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = db.get_engine(pg_schema_url, pooled=False)
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    assert client.get(path).status_code == 200  # a new connection, no error page


def test_jobs_that_meet_a_locked_database_run_again_and_half_write_nothing(
        chaos, chaos_smtp, workers):
    chaos_smtp.start()
    load(chaos)
    round_id, ids = open_round(chaos)
    workers.start()  # its start-up sweep sends the round's invitations
    wait_until(lambda: len(chaos_smtp.messages) == 4, 30, "the invitations being sent")
    wait_until(lambda: "Listening on" in workers.log(), 30, "the worker listening")
    for email in PARTNERS:
        submit(chaos, round_id, email, {"win": f"win of {email}"})
    conn = redis.Redis.from_url(chaos.redis_url)
    merges = ScheduledJobRegistry(queue=queues.queue(queues.MERGE_QUEUE, conn))

    with write_locked(chaos.database_url):
        queues.enqueue_merge(chaos, round_id)
        # At least one merge met the lock and waits for its retry (a merge the answers queued
        # may meet it too, so more than one may be waiting).
        wait_until(lambda: merges.count >= 1, 60, "the merge failing and waiting for a retry")
        assert all(r.merged_at is None for r in responses(chaos))

    def merged() -> bool:
        with session_scope(chaos.database_url, read_only=True) as s:
            return len(s.exec(select(Win)).all()) == 4 and all(
                r.merged_at for r in s.exec(select(Response)))

    wait_until(merged, 60, "the retried merge")
    assert "database is locked" in workers.log()
    with session_scope(chaos.database_url, read_only=True) as s:
        assert {d.status for d in s.exec(select(Delivery))} == {"sent"}, workers.log()
    assert len(chaos_smtp.messages) == 4


def test_a_worker_started_while_the_database_is_locked_starts_and_works_once_it_is_free(
        chaos, chaos_smtp, workers):
    chaos_smtp.start()
    load(chaos)
    round_id, _ = open_round(chaos)
    submit(chaos, round_id, PARTNERS[0], {"win": "saved before the lock"})
    with write_locked(chaos.database_url):
        worker = workers.start()
        wait_until(lambda: "Listening on" in workers.log() or worker.poll() is not None, 60,
                   "the worker starting")
        assert worker.poll() is None, workers.log()
        assert "the start-up reconcile failed" in workers.log()  # told, and working anyway
    queues.enqueue_merge(chaos, round_id)
    wait_until(lambda: all(r.merged_at for r in responses(chaos)), 30, "the merge")
    wait_until(lambda: len(chaos_smtp.messages) == 4, 30, "the invitations sent")
