"""`cos up`: the web app under gunicorn, two workers and the scheduler, as separate processes
against one Redis and one database, run a round that the scheduler opens on its cadence."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from datetime import timedelta

import requests
from sqlmodel import select

from cos.checkin_client import answer
from cos.local_redis import free_port
from cos.processes import settings_env
from pipeline.coalitions import load_coalition
from pipeline.db import session_scope
from pipeline.models import Coalition, Round, Win, utcnow
from tests.helpers import DATA, cos, links_in


def wait_until(check, timeout: float = 30.0, what: str = "it"):  # type: ignore[no-untyped-def]
    """Poll until check() is truthy; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def load_due_now(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Load harbour-air with a weekly cadence whose round opened a minute ago (in UTC)."""
    opened = utcnow() - timedelta(minutes=1)
    path = tmp_path / "coalition.toml"
    path.write_text((DATA / "harbour.toml").read_text() + f"""
[cadence]
timezone = "UTC"
open = "{opened:%A %H:%M}"
close_after = "2d"
reminders = ["24h"]
digest_after = "1h"
""")
    with session_scope(settings.database_url) as session:
        load_coalition(session, path)
        coalition = session.exec(select(Coalition)).one()
        coalition.cadence_since = opened - timedelta(minutes=10)  # scheduled before it was due
        session.add(coalition)


def test_cos_up_runs_a_scheduled_round_through_gunicorn_two_workers_and_the_scheduler(
        settings, session, smtp_server, tmp_path):
    port = free_port()
    s = settings.with_(base_url=f"http://127.0.0.1:{port}")
    load_due_now(s, tmp_path)
    up = subprocess.Popen([sys.executable, "-m", "cos.cli", "up", "--port", str(port),
                           "--workers", "2"], env={**settings_env(s),
                                                   "COS_METRICS_TOKEN": "scrape-me"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: ready(s.base_url), 60, "the web app becoming ready")
        # No `cos campaign start`: the scheduler's first tick opens the round that is due.
        links = links_in(smtp_server.wait_for(4, timeout=60))
        assert all(link.startswith(s.base_url) for link in links.values())
        session.expire_all()
        round_ = session.exec(select(Round)).one()
        assert round_.period_key and round_.closed_at is None
        for email, link in links.items():
            assert answer(link, {"win": f"win of {email}", "pulse": "4"}).status_code == 200

        def merged() -> bool:
            session.expire_all()
            return len(session.exec(select(Win)).all()) == 4

        wait_until(merged, 30, "the workers merging four answers")
        scrape = requests.get(f"{s.base_url}/metrics", timeout=10,
                              headers={"Authorization": "Bearer scrape-me"}).text
        assert "cos_workers 2.0" in scrape and "cos_answers 4.0" in scrape
        done = re.search(r'cos_worker_jobs\{outcome="done"\} (\d+)', scrape)
        assert done and int(done.group(1)) >= 2  # the sends and at least one merge
        closed = cos(s, "campaign", "close", "harbour-air")
        assert closed.exit_code == 0 and "4 answers merged" in closed.stdout
    finally:
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=60)
    assert up.returncode == 0, output
    assert output.count("started worker.") == 2 and "started web" in output
    assert "started scheduler" in output and "opened round 1" in output
    assert "stopping" in output and "scheduler: stopped" in output
    assert "killing it" not in output


def test_cos_up_no_scheduler_leaves_it_out(settings, tmp_path):
    port = free_port()
    s = settings.with_(base_url=f"http://127.0.0.1:{port}")
    up = subprocess.Popen([sys.executable, "-m", "cos.cli", "up", "--port", str(port),
                           "--workers", "1", "--web-workers", "1", "--no-scheduler"],
                          env=settings_env(s), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: ready(s.base_url), 60, "the web app becoming ready")
    finally:
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=60)
    assert up.returncode == 0, output
    assert "started worker.1" in output and "started scheduler" not in output
