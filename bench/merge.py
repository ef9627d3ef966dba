"""Merging 10,000 answers into the coalition's state with one worker, against one RQ job per
answer, measured in the same run.

    .venv/bin/python bench/merge.py [--answers 10000] [--sample 30]

The product path: every answer queues a merge as the form does (enqueue_merge, coalesced per
round), and one `cos worker --burst` merges them in batches. The baseline: one merge job per
answer, the way a queue without coalescing runs them; each such job merges the round, so
`--sample` of them are run through the same worker and the time is scaled to the answers.
Goal (issue 9): >= 15x the one-job-per-answer path.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import COS, ROOT, cos, instance, machine  # noqa: E402


def populate(env: dict[str, str], answers: int) -> int:
    """Load the example, add partners and one answer each; return the round id."""
    from sqlalchemy import insert, update
    from sqlmodel import col, select

    from pipeline.config import Settings
    from pipeline.db import session_scope
    from pipeline.models import (
        Commitment,
        Delivery,
        Invitation,
        Metric,
        Organisation,
        Person,
        Response,
    )
    from pipeline.rounds import start_round

    cos(env, "load", str(ROOT / "examples" / "riverside-food.toml"))
    os.environ.update(env)
    s = Settings.from_env(require_secret=True)
    with session_scope(s.database_url) as session:
        orgs = session.exec(select(Organisation)).all()
        coalition_id = orgs[0].coalition_id
        session.execute(insert(Person), [
            {"coalition_id": coalition_id, "organisation_id": orgs[n % len(orgs)].id,
             "email": f"p{n}@example.org", "name": f"Partner {n}", "role": "partner",
             "active": True, "source": "csv"} for n in range(answers)])
    with session_scope(s.database_url) as session:
        round_, _ = start_round(session, s.secret_key, "riverside-food", timedelta(hours=72))
        round_id = round_.id or 0
    with session_scope(s.database_url) as session:  # no invitation goes out in this bench
        session.execute(update(Delivery).values(status="sent"))
    with session_scope(s.database_url) as session:
        commitments: dict[int, list[int]] = {}
        for c in session.exec(select(Commitment)):
            commitments.setdefault(c.organisation_id, []).append(c.id or 0)
        metrics: dict[int, list[int]] = {}
        for m in session.exec(select(Metric)):
            metrics.setdefault(m.owner_organisation_id, []).append(m.id or 0)
        rows = session.exec(select(Invitation, Person).where(
            Invitation.person_id == Person.id, Invitation.round_id == round_id)
            .order_by(col(Invitation.id))).all()
        rng = random.Random(9)
        session.execute(insert(Response), [{
            "invitation_id": inv.id, "round_id": round_id, "person_id": person.id,
            "revision": 1, "answers": {
                "commitments": {str(c): {"status": rng.choice(["on_track", "done", "slipping"]),
                                         "note": "ok"}
                                for c in commitments.get(person.organisation_id, [])},
                "readings": {str(m): rng.randint(1, 500)
                             for m in metrics.get(person.organisation_id, [])},
                "win": f"Win {person.id}" if rng.random() < 0.3 else "",
                "blocker": f"Blocker {person.id}" if rng.random() < 0.2 else "",
                "pulse": rng.randint(1, 5)}} for inv, person in rows[:answers]])
    return round_id


def unmerged(env: dict[str, str]) -> int:
    """Count the answers not merged yet."""
    from sqlmodel import col, func, select

    from pipeline.db import session_scope
    from pipeline.models import Response

    with session_scope(env["COS_DATABASE_URL"], read_only=True) as session:
        return int(session.exec(select(func.count()).select_from(Response).where(
            col(Response.merged_at).is_(None))).one())


def work(env: dict[str, str]) -> float:
    """Run one `cos worker --burst` until the queues are empty; return the seconds it took."""
    start = time.perf_counter()
    subprocess.run([*COS, "worker", "--burst", "-q"], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    """Print the product's merge time, the baseline's, and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=30)
    args = parser.parse_args()
    print(f"merge bench: {machine()}")
    with tempfile.TemporaryDirectory(prefix="cos-bench-") as scratch, \
            instance(Path(scratch), mail_url=(Path(scratch) / "outbox").as_uri()) as env:
        round_id = populate(env, args.answers)
        from pipeline import queues
        from pipeline.config import Settings

        s = Settings.from_env(require_secret=True)
        start = time.perf_counter()
        for _ in range(args.answers):  # each answer queues a merge, as the form does
            queues.enqueue_merge(s, round_id)
        queued = time.perf_counter() - start
        merged = queued + work(env)
        left = unmerged(env)
        assert left == 0, f"{left} answers left unmerged"

        conn = queues.connect(s)
        q = queues.queue(queues.MERGE_QUEUE, conn)
        for n in range(args.sample):  # one job per answer: no coalescing
            q.enqueue(queues.merge_job, round_id, job_id=f"per-answer-{n}")
        per_job = work(env) / args.sample
    baseline = per_job * args.answers
    print(f"  product: {args.answers} answers queued ({queued:.1f} s) and merged by one worker "
          f"in {merged:.1f} s = {args.answers / merged:,.0f} answers/s")
    print(f"  baseline one job per answer: {per_job * 1000:.0f} ms a job at this size "
          f"(mean of {args.sample}), {baseline:,.0f} s for {args.answers} answers")
    print(f"  ratio: {baseline / merged:,.0f}x   (goal >= 15x)")
    print(f"  load after: {machine()}")


if __name__ == "__main__":
    main()
