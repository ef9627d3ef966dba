"""What one poll of the admin status board costs, against the data `cos campaign status` reads.

    .venv/bin/python bench/status_board.py [--partners 300] [--runs 20]

A throwaway SQLite database gets a coalition of N partners, an open round and answers from half
of them. Figures are the median of R runs: round_status() (the CLI's status, the baseline),
status_board() (the same plus the board's words and local times), and GET status.json through
Flask's test client as a signed-in admin (what board.js fetches every 4 seconds). Ratios are
against the baseline, measured in the same process.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from forms import create_app
from pipeline.admins import create_admin
from pipeline.board import status_board
from pipeline.coalitions import load_coalition_text
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.models import Invitation, Response
from pipeline.rounds import round_status, start_round
from pipeline.schema import upgrade


def coalition_file(partners: int) -> str:
    """A coalition file with one lead and N partners in ten organisations."""
    people = ['[[people]]\nemail = "lead@bench.example"\nname = "Lead"\n'
              'organisation = "Org 0"\nrole = "lead"\n']
    people += [f'[[people]]\nemail = "p{n}@bench.example"\nname = "Partner {n}"\n'
               f'organisation = "Org {n % 10}"\n' for n in range(partners)]
    return ('[coalition]\nslug = "bench"\nname = "Bench"\nwin = "A win"\n'
            'timezone = "Europe/London"\n\n' + "\n".join(people))


def median_ms(run: Callable[[], object], runs: int) -> float:
    run()  # warm up: compiled queries, the engine's pool
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    """Print the median time of each way to read a round's status, and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=300)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{Path(folder) / 'cos.db'}"
        upgrade(database)
        settings = Settings(database_url=database, redis_url=None, mail_url="file:///dev/null",
                            mail_from="bench <b@example.org>", base_url="http://127.0.0.1:1",
                            secret_key=secrets.token_hex(32), instance=Path(folder))
        with session_scope(database) as db:
            load_coalition_text(db, coalition_file(args.partners), "bench.toml")
            round_, _ = start_round(db, settings.secret_key, "bench", timedelta(hours=72))
            round_id = round_.id or 0
            for n, inv in enumerate(db.exec(select(Invitation))):
                if n % 2 == 0:
                    db.add(Response(invitation_id=inv.id or 0, round_id=round_id,
                                    person_id=inv.person_id, revision=1, answers={}))
            create_admin(db, "admin@bench.example", "bench password 1")
        app = create_app(settings)
        app.config["WTF_CSRF_ENABLED"] = False
        client = app.test_client()
        client.post("/admin/sign-in", data={"email": "admin@bench.example",
                                            "password": "bench password 1"})

        def status() -> object:
            with session_scope(database, read_only=True) as db:
                return round_status(db, round_id)

        def board() -> object:
            with session_scope(database, read_only=True) as db:
                return status_board(db, round_id)

        def poll() -> object:
            response = client.get(f"/admin/rounds/{round_id}/status.json")
            assert response.status_code == 200, response.status_code
            return response

        baseline = median_ms(status, args.runs)
        print(f"{args.partners} partners, median of {args.runs} runs")
        print(f"round_status (cos campaign status) {baseline:8.2f} ms  1.00x")
        for name, run in (("status_board", board), ("GET status.json", poll)):
            took = median_ms(run, args.runs)
            print(f"{name:<34} {took:8.2f} ms  {took / baseline:.2f}x")


if __name__ == "__main__":
    main()
