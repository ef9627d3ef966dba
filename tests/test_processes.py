"""`cos up`: the web app under gunicorn and two workers as separate processes run a round."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import requests
from sqlmodel import select

from cos.checkin_client import answer
from cos.local_redis import free_port
from cos.processes import settings_env
from pipeline.models import Win
from tests.helpers import cos, links_in, load


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


def test_cos_up_runs_a_round_through_gunicorn_and_two_workers_then_stops_cleanly(
        settings, session, smtp_server):
    port = free_port()
    s = settings.with_(base_url=f"http://127.0.0.1:{port}")
    load(s)
    up = subprocess.Popen([sys.executable, "-m", "cos.cli", "up", "--port", str(port),
                           "--workers", "2"], env={**settings_env(s),
                                                   "COS_METRICS_TOKEN": "scrape-me"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: ready(s.base_url), 60, "the web app becoming ready")
        started = cos(s, "campaign", "start", "harbour-air")
        assert started.exit_code == 0, started.output
        links = links_in(smtp_server.wait_for(4, timeout=30))
        assert all(link.startswith(s.base_url) for link in links.values())
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
    assert "stopping" in output
