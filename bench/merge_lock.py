"""How long a merge holds SQLite's write lock, at a size (issue 9's growth follow-up).

    .venv/bin/python bench/merge_lock.py [--people 10000] [--answer-share 0.02] [--runs 3]

Builds the growth bench's coalition (`bench/growth.py`'s inputs, `cos load`, `cos people
import`, `cos campaign start`), answers for a share of the people as the form's POST does, then
merges the round in this process N times and prints, for each run, the merge's wall time and the
longest time it held a writing transaction (SQLite: BEGIN IMMEDIATE to COMMIT), which is how long
a partner's form POST would have to wait (the busy timeout is 5 s).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from bench._common import instance, smtp_server  # noqa: E402
from bench.growth import SLUG, answer, cos, write_inputs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--answer-share", type=float, default=0.02)
    parser.add_argument("--per-organisation", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cos-mergelock-") as scratch:
        tmp = Path(scratch)
        # No worker runs: the invitations wait in the queue, nothing is sent.
        with smtp_server() as (host, port, _), \
                instance(tmp, mail_url=f"smtp://{host}:{port}") as env:
            first, coalition, csv, orgs = write_inputs(tmp, args.people, args.per_organisation)
            for step in (["load", str(first)], ["people", "import", SLUG, str(csv)],
                         ["load", str(coalition)]):
                cos(env, *step)
            import json
            started = cos(env, "campaign", "start", SLUG, "--json")
            round_id = json.loads(started.stdout)["campaign"]
            os.environ.update(env)
            answered, locked = answer(env["COS_DATABASE_URL"], env["COS_REDIS_URL"],
                                      env["COS_SECRET_KEY"], round_id, args.answer_share)
            print(f"{args.people:,} people in {orgs:,} organisations; {answered:,} answers "
                  f"({locked} found the database locked: no merge ran meanwhile)", flush=True)
            measure(env["COS_DATABASE_URL"], round_id, args.runs)


def measure(url: str, round_id: int, runs: int) -> None:
    from pipeline.db import get_engine
    from pipeline.merge import merge_round_at

    engine = get_engine(url, pooled=False)
    held: list[float] = []
    opened: dict[int, float] = {}

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if not conn.get_execution_options().get("cos_read_only", False):
            opened[id(conn)] = time.perf_counter()

    def _end(conn: Any) -> None:
        if (start := opened.pop(id(conn), None)) is not None:
            held.append(time.perf_counter() - start)

    event.listen(engine, "commit", _end)
    event.listen(engine, "rollback", _end)
    for n in range(1, runs + 1):
        held.clear()
        start = time.perf_counter()
        result = merge_round_at(url, round_id, pooled=False)
        wall = time.perf_counter() - start
        print(f"run {n}: merge {wall:.2f} s ({result.answers:,} answers); write lock held "
              f"{max(held, default=0):.3f} s at most, {sum(held):.3f} s in all "
              f"({' + '.join(f'{h:.3f}' for h in held)} s), "
              f"{len(held)} writing transaction(s); load average {os.getloadavg()[0]:.1f}",
              flush=True)


if __name__ == "__main__":
    main()
