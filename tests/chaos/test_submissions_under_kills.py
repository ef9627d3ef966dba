"""1,000 submissions while workers are SIGKILLed at random: once a worker is back, the
scoreboard equals the one a single merge computes from the saved answers alone."""

from __future__ import annotations

import random

import pytest
from sqlmodel import select

from pipeline import queues
from pipeline.checkin import open_checkin, record_answers
from pipeline.db import session_scope
from pipeline.merge import merge_round
from pipeline.models import Commitment, Invitation, Metric, Person, Response
from pipeline.schema import upgrade
from pipeline.tokens import derive_token
from tests.chaos.conftest import queues_idle, wait_until
from tests.helpers import load, open_round
from tests.test_merge import derived_state

pytestmark = pytest.mark.chaos

SUBMISSIONS = 1000
KILLS = 8


def set_up(settings) -> int:
    """Harbour (four partners, one organisation each, commitments and metrics to report on),
    with a round open; return its id."""
    load(settings)
    round_id, _ = open_round(settings)
    return round_id


def random_answers(rng: random.Random, commitments: list[int], metrics: list[int],
                   organisations: list[int], n: int) -> dict:
    statuses = ["on_track", "slipping", "blocked", "done"]
    return {
        "commitments": {str(c): {"status": rng.choice(statuses), "note": f"note {n}"}
                        for c in commitments if rng.random() < 0.7},
        "readings": {str(m): float(rng.randint(0, 200)) for m in metrics if rng.random() < 0.5},
        "new_commitment": None,
        "win": rng.choice(["", f"win {n}"]),
        "blocker": rng.choice(["", f"blocker {n}"]),
        "help_wanted": rng.random() < 0.3,
        "pulse": rng.choice([None, 1, 2, 3, 4, 5]),
        "helped_by": sorted(rng.sample(organisations, rng.randint(0, 2))),
    }


def test_a_thousand_submissions_with_workers_killed_at_random_score_as_the_answers_say(
        chaos, chaos_smtp, workers, tmp_path):
    rng = random.Random(7)
    chaos_smtp.start()  # the workers' sweeps send the invitations meanwhile
    round_id = set_up(chaos)
    with session_scope(chaos.database_url, read_only=True) as s:
        tokens = {inv.person_id: derive_token(chaos.secret_key, inv.salt)
                  for inv in s.exec(select(Invitation).where(Invitation.round_id == round_id))}
        people = {p.id: p for p in s.exec(select(Person))}
        owned = {}
        for c in s.exec(select(Commitment)):
            owned.setdefault(("c", c.organisation_id), []).append(c.id)
        for m in s.exec(select(Metric)):
            owned.setdefault(("m", m.owner_organisation_id), []).append(m.id)
        organisations = sorted({p.organisation_id for p in people.values()})

    # Each person's check-in, opened once (opening is the slow part, and it changes nothing).
    with session_scope(chaos.database_url, read_only=True) as s:
        checkins = {pid: open_checkin(s, token) for pid, token in tokens.items()}
    running = [workers.start(), workers.start()]
    kill_at = set(rng.sample(range(50, SUBMISSIONS), KILLS))
    for n in range(SUBMISSIONS):
        person_id = rng.choice(sorted(tokens))
        org = people[person_id].organisation_id
        answers = random_answers(rng, owned.get(("c", org), []), owned.get(("m", org), []),
                                 [o for o in organisations if o != org], n)
        with session_scope(chaos.database_url) as s:  # what the form's POST does
            record_answers(s, checkins[person_id], answers)
        queues.enqueue_merge(chaos, round_id)
        if n in kill_at:
            victim = running.pop(rng.randrange(len(running)))
            workers.kill(victim)
            running.append(workers.start())

    # The process manager restarts what was killed; a last restart happens after the last
    # answer (its start-up sweep merges what a killed merge left).
    for proc in running:
        workers.kill(proc)
    workers.start()

    def all_merged() -> bool:
        with session_scope(chaos.database_url, read_only=True) as s:
            return all(r.merged_at is not None for r in s.exec(select(Response)))

    wait_until(all_merged, 90, "every answer being merged")
    wait_until(lambda: queues_idle(chaos), 60, "the queues emptying")
    with session_scope(chaos.database_url, read_only=True) as s:
        saved = [(r.id, r.invitation_id, r.round_id, r.person_id, r.revision, r.answers,
                  r.submitted_at) for r in s.exec(select(Response))]
    assert len(saved) == SUBMISSIONS
    after_chaos = derived_state(chaos.database_url)

    # The same coalition in a fresh database, given only the saved answers, merged once.
    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(fresh_url)
    fresh = chaos.with_(database_url=fresh_url)
    assert set_up(fresh) == round_id
    with session_scope(fresh_url) as s:
        for rid, inv, rnd, person, revision, answers, submitted in saved:
            s.add(Response(id=rid, invitation_id=inv, round_id=rnd, person_id=person,
                           revision=revision, answers=answers, submitted_at=submitted))
    with session_scope(fresh_url) as s:
        merge_round(s, round_id)
    from_answers_alone = derived_state(fresh_url)

    assert after_chaos["scoreboard"] == from_answers_alone["scoreboard"]
    assert after_chaos == from_answers_alone
    everyone = sorted(p.email for p in people.values() if p.role == "partner")
    # Every invitation was sent; one arrives twice only when a kill caught it in flight (the
    # server had it, the ledger not yet), so at most one a kill, each time the same message.
    sent_to = chaos_smtp.recipients()
    assert sorted(set(sent_to)) == everyone
    assert len(sent_to) - len(everyone) <= KILLS + 2, sent_to  # and the last two workers
    for address in set(sent_to):
        copies = {m.message["Message-ID"] for m in chaos_smtp.messages if address in m.rcpt_tos}
        assert len(copies) == 1, (address, copies)
