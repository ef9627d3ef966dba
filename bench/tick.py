"""What a scheduler tick costs per coalition, against the pure calendar alone, in one run.

    .venv/bin/python bench/tick.py [--coalitions 50] [--ticks 20]

A scheduler ticks every minute for every coalition with a cadence. Most ticks find nothing
due; this measures such a tick (one read for all coalitions, `due_steps` for each) on a
SQLite file, and the ratio against `due_steps` alone for the same coalitions and minutes.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from pipeline.coalitions import cadence_of
from pipeline.config import Settings
from pipeline.core.cadence import Cadence, due_steps
from pipeline.db import session_scope
from pipeline.models import Coalition
from pipeline.scheduler import tick
from pipeline.schema import upgrade

START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # a Monday: nothing due for hours


def main() -> None:
    """Print the median time of a tick with nothing due, per coalition, and the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--coalitions", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        cadence = Cadence.from_mapping({"open": "Tuesday 09:00", "timezone": "Europe/London"})
        with session_scope(url) as session:
            for n in range(args.coalitions):
                session.add(Coalition(slug=f"c{n}", name=f"C {n}", win="w",
                                      cadence=cadence.to_mapping(), cadence_since=START))
        settings = Settings(database_url=url, redis_url=None, mail_url=Path(tmp).as_uri(),
                            mail_from="b <b@example.org>", base_url="http://127.0.0.1",
                            secret_key=secrets.token_hex(16), instance=Path(tmp))
        with session_scope(url, read_only=True) as session:
            cadences = [cadence_of(c) for c in session.exec(select(Coalition))]
        pure, full = [], []
        for k in range(1, args.ticks + 1):
            now, last = START + timedelta(minutes=k), START + timedelta(minutes=k - 1)
            began = time.perf_counter()
            for c in cadences:
                assert c is not None
                due_steps(c, now, last, ())
            pure.append(time.perf_counter() - began)
            began = time.perf_counter()
            report = tick(settings, now)
            full.append(time.perf_counter() - began)
            assert not report.done and not report.failed
    per = 1000 / args.coalitions
    p, f = statistics.median(pure) * per, statistics.median(full) * per
    print(f"coalitions {args.coalitions}, ticks {args.ticks} (nothing due), SQLite")
    print(f"  baseline: due_steps alone      {p:8.3f} ms per coalition")
    print(f"  tick (one read, due_steps)     {f:8.3f} ms per coalition  ({f / p:.0f}x baseline)")
    print(f"  a whole tick                   {statistics.median(full) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
