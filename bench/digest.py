"""The leads' digest for a coalition of 500 organisations with 20 rounds of history, against
the same figures gathered with one query per organisation, in the same run.

    .venv/bin/python bench/digest.py [--organisations 500] [--rounds 20] [--runs 5]

Prints the time and the number of SQL statements of each; tests/test_digest_queries.py pins
the product's count so it cannot grow with the coalition. Goal (issue 9): >= 10x.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import Session, col, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.db import session_scope  # noqa: E402
from pipeline.digest import render_digest  # noqa: E402
from pipeline.models import (  # noqa: E402
    Blocker,
    Commitment,
    CommitmentUpdate,
    Metric,
    Organisation,
    Reading,
    Round,
    Win,
)
from pipeline.schema import upgrade  # noqa: E402
from tests.test_digest_queries import counting, grow  # noqa: E402


def per_organisation(session: Session, round_id: int) -> int:
    """Gather the digest's figures one organisation at a time; return the rows read."""
    round_ = session.get(Round, round_id)
    assert round_ is not None
    rows = 0
    for org in session.exec(select(Organisation).where(
            Organisation.coalition_id == round_.coalition_id)).all():
        for c in session.exec(select(Commitment).where(Commitment.organisation_id == org.id)):
            rows += len(session.exec(select(CommitmentUpdate).where(
                CommitmentUpdate.commitment_id == c.id,
                CommitmentUpdate.round_id == round_id)).all())
        for m in session.exec(select(Metric).where(Metric.owner_organisation_id == org.id)):
            rows += len(session.exec(select(Reading).join(Round).where(
                Reading.metric_id == m.id, col(Round.number) <= round_.number)).all())
        rows += len(session.exec(select(Win).where(Win.round_id == round_id,
                                                   Win.organisation_id == org.id)).all())
        rows += len(session.exec(select(Blocker).where(
            Blocker.round_id == round_id, Blocker.organisation_id == org.id)).all())
    return rows


def timed(settings: Settings, runs: int, work) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Return the median seconds of `work(session)` and its statement count."""
    times, count = [], 0
    for _ in range(runs):
        with counting(settings.database_url) as statements, \
                session_scope(settings.database_url) as session:
            start = time.perf_counter()
            work(session)
            session.rollback()  # the scoreboard is computed afresh every run
            times.append(time.perf_counter() - start)
        count = len(statements)
    return statistics.median(times), count


def main() -> None:
    """Print both timings, their statement counts and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organisations", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"digest bench: {machine()}")
    with tempfile.TemporaryDirectory(prefix="cos-bench-") as scratch:
        settings = Settings(database_url=f"sqlite:///{scratch}/cos.db", redis_url=None,
                            mail_url=Path(scratch).as_uri(), mail_from="cos@example.org",
                            base_url="https://cos.example.org",
                            secret_key=secrets.token_hex(32), instance=Path(scratch))
        upgrade(settings.database_url)
        with session_scope(settings.database_url) as session:
            round_id = grow(session, "bench", args.organisations, args.rounds)
        product, product_count = timed(
            settings, args.runs, lambda s: render_digest(s, settings, round_id))

        def naive(session: Session) -> None:
            per_organisation(session, round_id)
            render_digest(session, settings, round_id)

        baseline, baseline_count = timed(settings, args.runs, naive)
    print(f"  {args.organisations} organisations, {args.rounds} rounds")
    print(f"  product digest:           {product * 1000:8.0f} ms, {product_count} statements")
    print(f"  one query per organisation: {baseline * 1000:6.0f} ms, {baseline_count} statements")
    print(f"  ratio: {baseline / product:.1f}x   (goal >= 10x)")


if __name__ == "__main__":
    main()
