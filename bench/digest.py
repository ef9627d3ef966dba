"""The leads' digest for a coalition of 500 organisations with 20 rounds of history, against
the same digest built with one query per organisation, in the same run.

    .venv/bin/python bench/digest.py [--organisations 500] [--rounds 20] [--leads 1] [--runs 5]

Each side does what the product does for a round, from the database to the digest accepted by
a loopback SMTP server:

1. the figures, as the merge job stores them: the round's scoreboard (``scoreboard``) and its
   COS Model snapshot (``phasesnapshot``), computed from the coalition's history;
2. the digest job, as a forking ``cos worker`` runs it: ``send_batch`` over the leads' ledger
   rows (claim, compose from the stored figures, render, inline, send, record), in a process
   whose inliner knows only what ``emails.render.warm`` taught it before the fork.

The product reads the history with ``pipeline.history.load_history`` (a fixed number of grouped
queries). The baseline reads the same rows the way a first version would: ORM objects, one
query per organisation for each table (people, invitations, answers, commitments, updates,
metrics, readings, wins, blockers, pulses, help), then computes, stores and sends exactly as
the product does (same pure core, same templates, same send path), so the ratio is the price
of the queries alone. The bench checks both sides store the same figures and send the same
email. Prints the time and SQL statement count of each, split into the two steps.
tests/test_digest_queries.py pins the product's count so it cannot grow with the coalition.
Goal (issue 9): >= 10x.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, delete, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pipeline.queues  # noqa: E402, F401 - registers every email kind, as a worker does
from bench._common import machine, smtp_server  # noqa: E402
from emails import inline  # noqa: E402
from emails.render import warm  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.cos_model import store_snapshot  # noqa: E402
from pipeline.db import session_scope  # noqa: E402
from pipeline.digest import queue_digest  # noqa: E402
from pipeline.history import History, load_history  # noqa: E402
from pipeline.models import (  # noqa: E402
    Blocker,
    Coalition,
    Commitment,
    CommitmentUpdate,
    Delivery,
    HelpEdge,
    Invitation,
    Metric,
    Organisation,
    Person,
    PhaseSnapshot,
    Pulse,
    Reading,
    Response,
    Round,
    Scoreboard,
    Win,
)
from pipeline.schema import upgrade  # noqa: E402
from pipeline.scoreboard import store_scoreboard  # noqa: E402
from pipeline.sending import send_batch  # noqa: E402
from tests.test_digest_queries import counting, grow  # noqa: E402


def per_organisation(session: Session, round_id: int) -> History:
    """Read a round's history as a first version would: ORM objects, one query per
    organisation for each table. Returns what load_history returns, row for row."""
    round_ = session.get(Round, round_id)
    assert round_ is not None
    coalition = session.get(Coalition, round_.coalition_id)
    assert coalition is not None
    rounds = list(session.exec(select(Round).where(
        Round.coalition_id == coalition.id, Round.number <= round_.number)
        .order_by(col(Round.number))))
    ids = [r.id for r in rounds]
    h = History(round=round_, coalition=coalition, rounds=rounds, organisations={}, people={},
                invitations=[], answered=[], commitments=[], updates=[], metrics=[],
                readings=[], wins=[], win_counts={}, blockers=[], pulses=[], pulse_totals={},
                help_edges=[])
    keyed: dict[str, list[tuple[int, Any]]] = {name: [] for name in (
        "invitations", "commitments", "updates", "metrics", "readings", "wins", "blockers",
        "pulses", "help_edges")}
    answered: set[tuple[int, int]] = set()
    for org in session.exec(select(Organisation).where(
            Organisation.coalition_id == coalition.id)):
        h.organisations[org.id or 0] = org
        people = list(session.exec(select(Person).where(Person.organisation_id == org.id)))
        h.people.update({p.id or 0: p for p in people})
        in_org = [p.id for p in people]
        keyed["invitations"] += [(i.id or 0, (i.round_id, i.person_id)) for i in session.exec(
            select(Invitation).where(col(Invitation.person_id).in_(in_org),
                                     col(Invitation.round_id).in_(ids),
                                     col(Invitation.revoked_at).is_(None)))]
        answered |= {(r.round_id, r.person_id) for r in session.exec(
            select(Response).where(col(Response.person_id).in_(in_org),
                                   col(Response.round_id).in_(ids)))}
        commitments = list(session.exec(select(Commitment).where(
            Commitment.organisation_id == org.id)))
        keyed["commitments"] += [(c.id or 0, c) for c in commitments]
        keyed["updates"] += [(u.id or 0, (u.commitment_id, u.round_id, u.status, u.note))
                             for u in session.exec(
            select(CommitmentUpdate).where(
                col(CommitmentUpdate.commitment_id).in_([c.id for c in commitments]),
                col(CommitmentUpdate.round_id).in_(ids)))]
        metrics = list(session.exec(select(Metric).where(
            Metric.owner_organisation_id == org.id)))
        keyed["metrics"] += [(m.id or 0, m) for m in metrics]
        keyed["readings"] += [(r.id or 0, (r.metric_id, r.round_id, r.value, r.note))
                              for r in session.exec(select(Reading).where(
            col(Reading.metric_id).in_([m.id for m in metrics]),
            col(Reading.round_id).in_(ids)))]
        keyed["wins"] += [(w.id or 0, w) for w in session.exec(select(Win).where(
            Win.organisation_id == org.id, col(Win.round_id).in_(ids)))]
        keyed["blockers"] += [(b.id or 0, b) for b in session.exec(select(Blocker).where(
            Blocker.organisation_id == org.id, Blocker.round_id == round_id))]
        keyed["pulses"] += [(p.id or 0, p) for p in session.exec(
            select(Pulse).where(col(Pulse.person_id).in_(in_org),
                                col(Pulse.round_id).in_(ids)))]
        keyed["help_edges"] += [(e.id or 0, e) for e in session.exec(select(HelpEdge).where(
            HelpEdge.helped_organisation_id == org.id, col(HelpEdge.round_id).in_(ids)))]
    for name, rows in keyed.items():
        setattr(h, name, [row for _, row in sorted(rows, key=lambda r: r[0])])
    h.answered = sorted(answered)
    wins, h.wins = h.wins, [w for w in h.wins if w.round_id == round_id]
    h.win_counts = dict(Counter(w.round_id for w in wins))
    pulses, h.pulses = h.pulses, [p.score for p in h.pulses if p.round_id == round_id]
    for p in pulses:
        total, count = h.pulse_totals.get(p.round_id, (0, 0))
        h.pulse_totals[p.round_id] = (total + p.score, count + 1)
    return h


def figures(loader: Callable[[Session, int], History]) -> Callable[[Settings, int], None]:
    """The merge job's last step: compute the round's scoreboard and snapshot and store them."""
    def step(settings: Settings, round_id: int) -> None:
        with session_scope(settings.database_url) as session:
            history = loader(session, round_id)
            store_scoreboard(session, round_id, history=history)
            store_snapshot(session, round_id, history)
    return step


def stored(settings: Settings, round_id: int) -> tuple[Any, Any]:
    """Return the figures stored for the round."""
    with session_scope(settings.database_url) as session:
        board = session.exec(select(Scoreboard).where(Scoreboard.round_id == round_id)).one()
        snap = session.exec(select(PhaseSnapshot)
                            .where(PhaseSnapshot.round_id == round_id)).one()
        return board.data, snap.data


def reset(settings: Settings, round_id: int, rows: list[int]) -> None:
    """Forget the stored figures and put the digest's rows back in the queue."""
    with session_scope(settings.database_url) as session:
        session.execute(delete(Scoreboard).where(col(Scoreboard.round_id) == round_id))
        session.execute(delete(PhaseSnapshot).where(col(PhaseSnapshot.round_id) == round_id))
        session.execute(update(Delivery).where(col(Delivery.id).in_(rows)).values(
            status="queued", claimed_at=None, sent_at=None, attempts=0, last_error="",
            claimed_by=""))
    inline.clear()  # a forked job knows only what the worker learned before the fork
    warm()


class Side:
    """One way of building the digest, and what its runs measured."""

    def __init__(self, step: Callable[[Settings, int], None]) -> None:
        self.step = step
        self.figures: list[float] = []
        self.job: list[float] = []
        self.cpu: list[float] = []  # CPU seconds of both steps (this process, every thread)
        self.counts = (0, 0)
        self.inliner: dict[str, int] = {}
        self.stored: tuple[Any, Any] = ({}, {})

    def run(self, settings: Settings, round_id: int, rows: list[int]) -> None:
        """Build and send the digest once, from nothing stored."""
        reset(settings, round_id, rows)
        cpu = time.process_time()
        with counting(settings.database_url) as made:
            start = time.perf_counter()
            self.step(settings, round_id)
            self.figures.append(time.perf_counter() - start)
        with counting(settings.database_url) as sent:
            start = time.perf_counter()
            outcomes = send_batch(settings, rows)
            self.job.append(time.perf_counter() - start)
        self.cpu.append(time.process_time() - cpu)
        assert all(o.status == "sent" for o in outcomes), outcomes
        self.counts = (len(made), len(sent))
        self.inliner = inline.stats()
        self.stored = stored(settings, round_id)

    def median(self) -> tuple[float, float]:
        """Return the median seconds of the figures and of the digest job."""
        return statistics.median(self.figures), statistics.median(self.job)


def main() -> None:
    """Print both timings, their statement counts and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organisations", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--leads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"digest bench: {machine()}")
    with tempfile.TemporaryDirectory(prefix="cos-bench-") as scratch, \
            smtp_server() as (host, port, handler):
        settings = Settings(database_url=f"sqlite:///{scratch}/cos.db", redis_url=None,
                            mail_url=f"smtp://{host}:{port}", mail_from="cos@example.org",
                            base_url="https://cos.example.org",
                            secret_key=secrets.token_hex(32), instance=Path(scratch))
        upgrade(settings.database_url)
        with session_scope(settings.database_url) as session:
            round_id = grow(session, "bench", args.organisations, args.rounds)
            coalition_id = session.exec(select(Round.coalition_id)
                                        .where(Round.id == round_id)).one()
            lead_org = session.exec(select(Organisation.id).where(
                Organisation.coalition_id == coalition_id)).first()
            session.add_all([Person(coalition_id=coalition_id, organisation_id=lead_org or 0,
                                    email=f"lead{n}@bench.org", name=f"Lead {n}", role="lead")
                             for n in range(1, args.leads)])
        with session_scope(settings.database_url) as session:
            rows = queue_digest(session, round_id)
        product, naive = Side(figures(load_history)), Side(figures(per_organisation))
        for _ in range(args.runs):  # taking turns, so a change in the load hits both sides
            product.run(settings, round_id, rows)
            naive.run(settings, round_id, rows)
        same = product.stored == naive.stored
        assert handler.count == 2 * args.runs * len(rows)
    print(f"  {args.organisations} organisations, {args.rounds} rounds, {len(rows)} lead(s), "
          f"median of {args.runs} runs each; both sides store the same figures: {same}")
    for name, side in (("product", product), ("one query per organisation", naive)):
        made, sent = side.median()
        print(f"  {name + ':':28} {(made + sent) * 1000:6.0f} ms, {sum(side.counts):5} statements"
              f"  (figures {made * 1000:.0f} ms / {side.counts[0]}; digest job"
              f" {sent * 1000:.0f} ms / {side.counts[1]})")
    print(f"  product's inliner in its last digest job: {product.inliner}")
    cpu = statistics.median(naive.cpu) / statistics.median(product.cpu)
    print(f"  CPU time (less sensitive to a shared machine's load): product "
          f"{statistics.median(product.cpu) * 1000:.0f} ms, one query per organisation "
          f"{statistics.median(naive.cpu) * 1000:.0f} ms, ratio {cpu:.1f}x")
    ratio = sum(naive.median()) / sum(product.median())
    print(f"  ratio: {ratio:.1f}x   (goal >= 10x); figures alone "
          f"{naive.median()[0] / product.median()[0]:.1f}x")
    if not same:
        sys.exit("the two sides stored different figures")


if __name__ == "__main__":
    main()
