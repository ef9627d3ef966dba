"""What the COS Model adds to each merge: the phase snapshot's time and queries, by size.

    .venv/bin/python bench/snapshot.py [--partners 10 100] [--rounds 8] [--runs 5]

For each coalition size it loads a coalition (one partner and one metric per organisation),
runs the rounds with every partner answering, then times, on the last round, the round's
scoreboard (the baseline: what every merge already did) and the phase snapshot, each the median
of N runs in the same process, and counts each one's SQL statements (the snapshot's count must
not grow with the coalition).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlmodel import select

from pipeline import db
from pipeline.coalitions import load_coalition
from pipeline.cos_model import compute_snapshot
from pipeline.db import session_scope
from pipeline.merge import merge_round
from pipeline.models import Invitation, Person, Response
from pipeline.rounds import close_round, start_round
from pipeline.schema import upgrade
from pipeline.scoreboard import build_scoreboard


def coalition_file(path: Path, partners: int) -> None:
    lines = ['[coalition]', 'slug = "bench"', 'name = "Bench"', 'stage = "growth"',
             'win = "By 2030 Bench families will get 500 more meals a week."',
             'lead_organisation = "Org 0"', '[[people]]', 'email = "lead@bench.example"',
             'name = "Lead"', 'organisation = "Org 0"', 'role = "lead"']
    for n in range(partners):
        lines += ['[[people]]', f'email = "p{n}@bench.example"', f'name = "P {n}"',
                  f'organisation = "Org {n}"', 'role = "partner"',
                  '[[metrics]]', f'key = "m{n}"', f'name = "M {n}"', 'baseline = 10',
                  'target = 90', f'owner = "Org {n}"',
                  '[[commitments]]', f'key = "c{n}"', f'owner = "Org {n}"', f'text = "Do {n}"']
    path.write_text("\n".join(lines) + "\n")


def build(url: str, partners: int, rounds: int) -> int:
    """Load the coalition and run the rounds; return the last round's id."""
    path = Path(tempfile.mkdtemp()) / "bench.toml"
    coalition_file(path, partners)
    with session_scope(url) as s:
        load_coalition(s, path)
    round_id = 0
    for r in range(rounds):
        with session_scope(url) as s:
            round_, _ = start_round(s, "x" * 32, "bench", timedelta(hours=72))
            round_id = round_.id or 0
            for inv, person in s.exec(select(Invitation, Person).join(
                    Person, Person.id == Invitation.person_id).where(
                    Invitation.round_id == round_id)):
                n = int(person.email[1:].split("@")[0])
                s.add(Response(invitation_id=inv.id, round_id=round_id, person_id=person.id,
                               revision=1, answers={
                                   "pulse": 2 + (n + r) % 4, "win": "w" if n % 5 == 0 else "",
                                   "items": {"M2": 2 + (n + r) % 4, "A2": 4, "A3": 3},
                                   "helped_by": [], "readings": {}}))
            s.flush()
            # Rounds a week apart, as in life: the 4-week window holds the last four.
            weeks = timedelta(weeks=rounds - r - 1)
            round_.opened_at -= weeks
            round_.closes_at -= weeks
            for response in s.exec(select(Response).where(Response.round_id == round_id)):
                response.submitted_at -= weeks
            s.flush()
            merge_round(s, round_id)
            close_round(s, round_id)
    return round_id


def measure(url: str, work: Callable[[Any], object], runs: int) -> tuple[float, int]:
    """Return (median seconds, SQL statements) of work(session)."""
    engine = db.get_engine(url)
    count = 0

    def counted(*_args: object) -> None:
        nonlocal count
        count += 1

    times = []
    for i in range(runs):
        with session_scope(url, read_only=True) as s:
            if i == 0:
                event.listen(engine, "before_cursor_execute", counted)
            start = time.perf_counter()
            work(s)
            times.append(time.perf_counter() - start)
            if i == 0:
                event.remove(engine, "before_cursor_execute", counted)
    return statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"per round, after {args.rounds} rounds, median of {args.runs} runs (SQLite)")
    for partners in args.partners:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        upgrade(url)
        round_id = build(url, partners, args.rounds)
        base, base_q = measure(url, lambda s, r=round_id: build_scoreboard(s, r), args.runs)
        snap, snap_q = measure(url, lambda s, r=round_id: compute_snapshot(s, r), args.runs)
        print(f"  {partners:>4} partners: scoreboard (baseline) {base * 1000:7.1f} ms "
              f"{base_q:3d} queries | snapshot {snap * 1000:7.1f} ms {snap_q:3d} queries "
              f"| {snap / base:4.1f}x baseline")
        db.dispose_all()


if __name__ == "__main__":
    main()
