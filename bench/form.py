"""The partner form through gunicorn (2 sync workers): GET and POST of the real app (WTForms,
CSRF, SQLModel, the merge queued) against a bare Flask app (a GET, a POST with one SQLite
insert) under the same gunicorn, in the same run.

    .venv/bin/python bench/form.py [--seconds 8] [--clients 4] [--cpu-requests 300]

It also prints the CPU time per request of each side in this process (Flask's test client, no
gunicorn), the steadier figure when the machine is busy.

Goals (issue 9): POST >= 40% of the bare POST rate with a p99 within 3x of the bare p99;
GET >= 30% of the bare GET rate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import lxml.html
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, grow_example, instance, machine  # noqa: E402
from cos.local_redis import free_port  # noqa: E402

BARE = '''
import sqlite3, os
from flask import Flask, request, redirect
app = Flask(__name__)
DB = os.environ["BARE_DB"]
PAGE = "<!doctype html><title>bare</title><form method=post><input name=pulse></form>" * 20

@app.get("/c/<token>")
def show(token):
    return PAGE

@app.post("/c/<token>")
def submit(token):
    with sqlite3.connect(DB, timeout=5) as db:
        db.execute("insert into answer (token, pulse) values (?, ?)",
                   (token, request.form.get("pulse", "")))
    return redirect(f"/c/{token}/thanks", code=303)
'''


def gunicorn(app: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start gunicorn with 2 sync workers; return it and its base URL once it answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-k", "sync",
                             "-b", f"127.0.0.1:{port}", "--log-level", "warning", app],
                            env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/c/warm", timeout=5)
            return proc, base
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"gunicorn {app} did not start")


def hammer(request: Callable[[requests.Session, int], int], clients: int,
           seconds: float) -> tuple[float, float, int]:
    """Run `clients` threads sending requests for `seconds`; return (rate, p99 ms, errors)."""
    latencies: list[float] = []
    errors = [0]
    codes: dict[int, int] = {}
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client(number: int) -> None:
        http = requests.Session()
        mine, n = [], 0
        while time.monotonic() < stop:
            start = time.perf_counter()
            status = request(http, number * 1_000_000 + n)
            mine.append(time.perf_counter() - start)
            n += 1
            if status >= 400:
                errors[0] += 1
                codes[status] = codes.get(status, 0) + 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if codes:
        print(f"  (error statuses: {codes})")
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 100 else 0.0
    return len(latencies) / elapsed, p99, errors[0]


def main() -> None:
    """Print each figure, its baseline and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--cpu-requests", type=int, default=300,
                        help="requests per side for the in-process CPU figures")
    args = parser.parse_args()
    print(f"form bench: {machine()}")
    with tempfile.TemporaryDirectory(prefix="cos-bench-") as scratch:
        tmp = Path(scratch)
        import sqlite3

        bare_db = tmp / "bare.db"
        with sqlite3.connect(bare_db) as db:
            db.execute("pragma journal_mode=wal")
            db.execute("create table answer (id integer primary key, token text, pulse text)")
        (tmp / "bare_app.py").write_text(BARE)
        with instance(tmp, mail_url=(tmp / "outbox").as_uri()) as env:
            slug, _ = grow_example(env, tmp, 400)
            env["COS_BASE_URL"] = "http://127.0.0.1"  # session cookies not Secure-only: plain http
            # Every client is 127.0.0.1: at the default 60/minute per address nearly every
            # request would be a 429 page. A limit no run reaches keeps the limiter's Redis
            # round trip in every request without refusing any.
            env["COS_RATE_LIMIT"] = "1000000/minute"
            os.environ.update(env)
            from pipeline.config import Settings
            from pipeline.db import session_scope
            from pipeline.models import Invitation
            from pipeline.rounds import start_round
            from pipeline.tokens import checkin_link

            s = Settings.from_env(require_secret=True)
            with session_scope(s.database_url) as session:
                round_, _ = start_round(session, s.secret_key, slug, timedelta(hours=72))
                from sqlmodel import select
                salts = [i.salt for i in session.exec(
                    select(Invitation).where(Invitation.round_id == round_.id))]
            paths = [checkin_link("", s.secret_key, salt) for salt in salts]

            bare, bare_url = gunicorn("bare_app:app", {**env, "BARE_DB": str(bare_db)}, tmp)
            try:
                def bare_get(http: requests.Session, n: int) -> int:
                    return http.get(f"{bare_url}{paths[n % len(paths)]}", timeout=10).status_code

                def bare_post(http: requests.Session, n: int) -> int:
                    return http.post(f"{bare_url}{paths[n % len(paths)]}", data={"pulse": "4"},
                                     allow_redirects=False, timeout=10).status_code

                figures = {"bare GET": hammer(bare_get, args.clients, args.seconds),
                           "bare POST": hammer(bare_post, args.clients, args.seconds)}
            finally:
                bare.terminate()
                bare.wait()

            real, real_url = gunicorn("cos.wsgi:app", env, ROOT)
            forms: dict[tuple[int, int], str] = {}

            def token_for(http: requests.Session, n: int) -> str:
                """The CSRF token of this client's page (one GET per client and link, the
                first time: a few per run)."""
                key = (id(http), n % len(paths))
                if key not in forms:
                    page = http.get(f"{real_url}{paths[n % len(paths)]}", timeout=10)
                    forms[key] = str(lxml.html.fromstring(page.text).forms[0]
                                     .fields["csrf_token"])
                return forms[key]

            try:
                def real_get(http: requests.Session, n: int) -> int:
                    return http.get(f"{real_url}{paths[n % len(paths)]}", timeout=10).status_code

                def real_post(http: requests.Session, n: int) -> int:
                    # each client answers for its own 16 partners, again and again
                    n = (n // 1_000_000) * 16 + n % 16
                    return http.post(f"{real_url}{paths[n]}", allow_redirects=False, timeout=10,
                                     data={"csrf_token": token_for(http, n), "pulse": "4",
                                           "win": "We opened the Saturday pantry"}).status_code

                figures["app GET"] = hammer(real_get, args.clients, args.seconds)
                figures["app POST"] = hammer(real_post, args.clients, args.seconds)
            finally:
                real.terminate()
                real.wait()
            cpu = cpu_per_request(tmp, bare_db, paths, args.cpu_requests)
    for name, (rate, p99, errors) in figures.items():
        print(f"  {name:<10} {rate:8.0f} req/s   p99 {p99:7.1f} ms   errors {errors}")
    get_ratio = figures["app GET"][0] / figures["bare GET"][0]
    post_ratio = figures["app POST"][0] / figures["bare POST"][0]
    p99_ratio = figures["app POST"][1] / max(figures["bare POST"][1], 0.001)
    print(f"  GET  ratio {get_ratio:5.0%} of bare   (goal >= 30%)")
    print(f"  POST ratio {post_ratio:5.0%} of bare   (goal >= 40%), p99 {p99_ratio:.1f}x bare "
          "(goal <= 3x)")
    print(f"  CPU per request in-process (Flask test client, no gunicorn): app GET "
          f"{cpu['app GET']:.2f} ms vs bare {cpu['bare GET']:.2f} ms "
          f"({cpu['bare GET'] / cpu['app GET']:.0%}); app POST {cpu['app POST']:.2f} ms vs "
          f"bare {cpu['bare POST']:.2f} ms ({cpu['bare POST'] / cpu['app POST']:.0%})")
    print(f"  load after: {machine()}")


def cpu_per_request(tmp: Path, bare_db: Path, paths: list[str], requests_: int
                    ) -> dict[str, float]:
    """CPU milliseconds per request of each side through Flask's test client, in this process
    (steadier than the rates on a busy machine: no other process's time slices in it)."""
    import importlib.util
    import re

    os.environ["BARE_DB"] = str(bare_db)
    spec = importlib.util.spec_from_file_location("bare_app", tmp / "bare_app.py")
    assert spec is not None and spec.loader is not None
    bare_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bare_module)
    from forms import create_app

    bare, app = bare_module.app.test_client(), create_app().test_client()
    tokens = {p: re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                           app.get(p).get_data(as_text=True)).group(1)  # type: ignore[union-attr]
              for p in paths[:16]}

    def timed(send: Callable[[int], object]) -> float:
        for n in range(20):
            send(n)
        start = time.process_time()
        for n in range(requests_):
            send(n)
        return (time.process_time() - start) / requests_ * 1000

    return {
        "bare GET": timed(lambda n: bare.get(paths[n % len(paths)])),
        "bare POST": timed(lambda n: bare.post(paths[n % len(paths)], data={"pulse": "4"})),
        "app GET": timed(lambda n: app.get(paths[n % len(paths)])),
        "app POST": timed(lambda n: app.post(paths[n % 16], data={
            "csrf_token": tokens[paths[n % 16]], "pulse": "4",
            "win": "We opened the Saturday pantry"})),
    }


if __name__ == "__main__":
    main()
