"""Merging answers: the pure rules, and the job that is safe to run twice or after a crash."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from pipeline.checkin import open_checkin, record_answers
from pipeline.db import session_scope
from pipeline.merge import merge_round
from pipeline.models import (
    Blocker,
    Commitment,
    CommitmentUpdate,
    ConflictAnswer,
    Delivery,
    HelpEdge,
    Invitation,
    Pulse,
    Reading,
    Scoreboard,
    Win,
)
from pipeline.rounds import fan_out
from pipeline.tokens import derive_token
from tests.helpers import (
    answer,
    commitment_field,
    cos,
    link_for,
    load,
    metric_field,
    open_round,
    work,
)


def derived_state(url: str) -> dict:
    """Everything the merge writes, as plain comparable values."""
    with session_scope(url, read_only=True) as s:
        return {
            "updates": sorted((u.commitment_id, u.status, u.note)
                              for u in s.exec(select(CommitmentUpdate))),
            "readings": sorted((r.metric_id, r.value) for r in s.exec(select(Reading))),
            "wins": sorted(w.text for w in s.exec(select(Win))),
            "blockers": sorted((b.text, b.help_wanted) for b in s.exec(select(Blocker))),
            "pulses": sorted(p.score for p in s.exec(select(Pulse))),
            "help": sorted((h.helper_organisation_id, h.helped_organisation_id)
                           for h in s.exec(select(HelpEdge))),
            "commitments": sorted((c.text, c.status, c.due) for c in s.exec(select(Commitment))),
            "scoreboard": [b.data for b in s.exec(select(Scoreboard))],
            "conflicts": sorted((c.kind, c.subject_id, c.person_id, c.status, c.value, c.kept)
                                for c in s.exec(select(ConflictAnswer))),
        }


def submit(settings, round_id: int, email: str, data: dict) -> None:
    """Store a revision of someone's answers, as the form does."""
    from pipeline.models import Person

    with session_scope(settings.database_url) as s:
        invitation = s.exec(select(Invitation).join(Person).where(
            Person.email == email, Invitation.round_id == round_id)).one()
        checkin = open_checkin(s, derive_token(settings.secret_key, invitation.salt))
        record_answers(s, checkin, data)


@pytest.fixture
def answered_round(settings, session):
    load(settings)
    round_id, _ = open_round(settings)
    sensors = session.exec(select(Commitment).where(Commitment.source_key == "file:sensors")).one()
    submit(settings, round_id, "raj@schools.example", {
        "commitments": {str(sensors.id): {"status": "slipping", "note": "first"}},
        "readings": {}, "win": "draft", "pulse": 2,
        "new_commitment": {"text": "Brief the head teachers", "due": "2027-01-10"}})
    submit(settings, round_id, "raj@schools.example", {
        "commitments": {str(sensors.id): {"status": "done", "note": "all five live"}},
        "win": "Sensors live", "pulse": 4, "helped_by": [],
        "new_commitment": {"text": "Brief the head teachers", "due": "2027-01-12"}})
    submit(settings, round_id, "kim@cyclists.example", {
        "blocker": "Council meeting moved", "help_wanted": True, "pulse": 3})
    return round_id


def test_merging_twice_gives_the_same_state_and_keeps_only_the_latest_revision(
        settings, answered_round):
    with session_scope(settings.database_url) as s:
        first = merge_round(s, answered_round)
    once = derived_state(settings.database_url)
    with session_scope(settings.database_url) as s:
        second = merge_round(s, answered_round)
    assert derived_state(settings.database_url) == once
    assert (first.answers, first.newly_merged) == (2, 3)
    assert (second.answers, second.newly_merged) == (2, 0)
    assert once["wins"] == ["Sensors live"]
    assert once["pulses"] == [3, 4]
    assert ("Brief the head teachers", "open", date(2027, 1, 12)) in once["commitments"]
    assert ("Install air sensors at five school gates", "done", date(2026, 12, 1)) in once[
        "commitments"]


def test_a_merge_that_crashes_halfway_leaves_nothing_behind_and_the_rerun_completes(
        settings, answered_round, monkeypatch):
    import pipeline.merge

    def crash(*_args, **_kwargs):
        raise RuntimeError("worker killed")

    with monkeypatch.context() as patched:
        patched.setattr(pipeline.merge, "save_scoreboard", crash)
        with pytest.raises(RuntimeError), session_scope(settings.database_url) as s:
            merge_round(s, answered_round)
    assert derived_state(settings.database_url)["wins"] == []

    with session_scope(settings.database_url) as s:
        merge_round(s, answered_round)
    after_crash = derived_state(settings.database_url)
    with session_scope(settings.database_url) as s:
        merge_round(s, answered_round)
    assert derived_state(settings.database_url) == after_crash
    assert after_crash["wins"] == ["Sensors live"]


def test_taking_back_a_new_commitment_in_a_later_revision_removes_it(settings, answered_round):
    with session_scope(settings.database_url) as s:
        merge_round(s, answered_round)
    submit(settings, answered_round, "raj@schools.example", {"win": "Sensors live"})
    with session_scope(settings.database_url) as s:
        merge_round(s, answered_round)
    texts = [c[0] for c in derived_state(settings.database_url)["commitments"]]
    assert "Brief the head teachers" not in texts


def test_the_merge_job_through_redis_merges_once_for_many_submissions(
        settings, answered_round, redis_conn):
    from pipeline.queues import MERGE_QUEUE, enqueue_merge

    for _ in range(5):
        enqueue_merge(settings, answered_round)
    assert redis_conn.llen(f"rq:queue:{MERGE_QUEUE}") == 1  # coalesced per round
    work(settings)
    assert derived_state(settings.database_url)["wins"] == ["Sensors live"]


def test_a_merge_job_left_started_by_a_killed_worker_neither_blocks_nor_multiplies(
        settings, answered_round, redis_conn):
    from rq.job import Job, JobStatus

    from pipeline.queues import MERGE_QUEUE, connect, enqueue_merge, merge_job

    # What a SIGKILLed worker leaves: the round's merge job marked started, never finished.
    killed = Job.create(merge_job, args=(answered_round,), id=f"merge-{answered_round}",
                        connection=connect(settings))
    killed.set_status(JobStatus.STARTED)
    killed.save()
    for _ in range(6):  # six more answers come in
        enqueue_merge(settings, answered_round)
    assert redis_conn.llen(f"rq:queue:{MERGE_QUEUE}") == 1
    work(settings)
    assert derived_state(settings.database_url)["wins"] == ["Sensors live"]
    enqueue_merge(settings, answered_round)  # an answer after that merge started gets its own
    assert redis_conn.llen(f"rq:queue:{MERGE_QUEUE}") == 1


def test_fan_out_and_sending_twice_gives_each_partner_one_invitation(
        settings, session, smtp_server):
    from pipeline.queues import enqueue_sends

    load(settings)
    round_id, deliveries = open_round(settings)
    with session_scope(settings.database_url) as s:
        again = fan_out(s, settings.secret_key, round_id)
    assert sorted(again) == sorted(deliveries)
    for _ in range(2):
        enqueue_sends(settings, deliveries)
        work(settings)
    with session_scope(settings.database_url) as s:
        assert fan_out(s, settings.secret_key, round_id) == []  # all sent: nothing to queue
    enqueue_sends(settings, deliveries)
    work(settings)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "ana@harbourtrust.org", "dee@clinic.example", "kim@cyclists.example",
        "raj@schools.example"]
    assert len(session.exec(select(Invitation)).all()) == 4
    ledger = session.exec(select(Delivery)).all()
    assert {(d.status, d.attempts) for d in ledger} == {("sent", 1)}
    assert len({d.message_id for d in ledger}) == 4


def test_merges_running_at_the_same_time_take_turns_and_agree(settings, answered_round):
    from concurrent.futures import ThreadPoolExecutor

    def merge_once(_: int) -> int:
        with session_scope(settings.database_url) as s:
            return merge_round(s, answered_round).answers

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(merge_once, range(8))) == [2] * 8
    state = derived_state(settings.database_url)
    assert state["wins"] == ["Sensors live"] and state["pulses"] == [3, 4]


def second_schools_partner(settings, tmp_path) -> None:
    """Add a second partner at Harbour Schools, which owns the sensors and the NO2 reading."""
    people = tmp_path / "people.csv"
    people.write_text("email,name,organisation,role\n"
                      "mo@schools.example,Mo Reyes,Harbour Schools,partner\n")
    assert cos(settings, "people", "import", "harbour-air", str(people)).exit_code == 0


def test_two_partners_of_one_organisation_who_disagree_both_show_in_the_digest_and_status(
        settings, smtp_server, live_server, session, tmp_path):
    load(settings)
    second_schools_partner(settings, tmp_path)
    round_id, _ = open_round(settings)
    sensors, no2 = commitment_field(session, "sensors"), metric_field(session, "no2")

    raj = answer(live_server.url + link_for(settings, session, "raj@schools.example", round_id),
                 {sensors: "on_track", no2: "104", "pulse": "4"})
    mo = answer(live_server.url + link_for(settings, session, "mo@schools.example", round_id),
                {sensors: "done", no2: "98", "pulse": "4"})
    assert raj.status_code == mo.status_code == 200
    work(settings)

    status = cos(settings, "campaign", "status", str(round_id))
    assert status.exit_code == 0, status.output
    shown = status.output[status.output.index("partners disagree"):]
    for expected in ("Install air sensors at five school gates", "NO2 at school gates",
                     "Raj Patel", "On track", "104", "Mo Reyes", "Done", "98"):
        assert expected in shown, expected

    assert cos(settings, "campaign", "close", str(round_id)).exit_code == 0
    digest = smtp_server.wait_for(1)[0]
    assert digest.rcpt_tos == ["lee@harbourtrust.org"]
    text = digest.message.get_body(preferencelist=("plain",)).get_content()
    html = digest.message.get_body(preferencelist=("html",)).get_content()
    for part in (text, html):
        disagree = part[part.index("Partners disagree"):]
        for expected in ("Install air sensors at five school gates", "Raj Patel", "On track",
                         "Mo Reyes", "Done", "NO2 at school gates", "104 µg/m³", "98 µg/m³"):
            assert expected in disagree, expected
    # The scoreboard still shows one value: the latest submission's.
    assert "[DONE] Install air sensors" in text


def test_conflicts_are_stored_once_per_merge_and_go_when_the_partners_agree(
        settings, session, tmp_path):
    load(settings)
    second_schools_partner(settings, tmp_path)
    round_id, _ = open_round(settings)
    sensors = session.exec(select(Commitment).where(Commitment.source_key == "file:sensors")).one()
    submit(settings, round_id, "raj@schools.example", {
        "commitments": {str(sensors.id): {"status": "on_track", "note": ""}},
        "readings": {}})
    submit(settings, round_id, "mo@schools.example", {
        "commitments": {str(sensors.id): {"status": "done", "note": ""}},
        "readings": {}})
    with session_scope(settings.database_url) as s:
        merge_round(s, round_id)
    once = derived_state(settings.database_url)
    with session_scope(settings.database_url) as s:
        merge_round(s, round_id)
    assert derived_state(settings.database_url) == once
    assert [(kind, status, kept) for kind, _, _, status, _, kept in once["conflicts"]] == [
        ("commitment", "on_track", False), ("commitment", "done", True)]

    submit(settings, round_id, "raj@schools.example", {
        "commitments": {str(sensors.id): {"status": "done", "note": "agreed with Mo"}}})
    with session_scope(settings.database_url) as s:
        merge_round(s, round_id)
    assert derived_state(settings.database_url)["conflicts"] == []
    assert derived_state(settings.database_url)["scoreboard"][0]["conflicts"] == []


def test_a_partners_post_while_a_merge_computes_is_saved_and_merged_by_the_next_merge(
        settings, session, app, answered_round, monkeypatch):
    """SQLite has one write lock; a merge used to hold it while it recomputed the scoreboard
    and the snapshot (seconds at 100,000 people), so a form POST meanwhile got "Busy for a
    moment" (503). The POST is made from inside the merge's computation."""
    import pipeline.merge
    from pipeline.merge import merge_round_at, unmerged_rounds
    from tests.test_checkin_pages import post

    client = app.test_client()
    link = link_for(settings, session, "kim@cyclists.example", answered_round)
    posted = []
    compute = pipeline.merge.build_scoreboard

    def post_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not posted:
            posted.append(post(client, link, {"win": "Council said yes", "pulse": "5"}))
        return compute(*args, **kwargs)

    monkeypatch.setattr(pipeline.merge, "build_scoreboard", post_meanwhile)
    first = merge_round_at(settings.database_url, answered_round)
    assert posted[0].status_code == 303, posted[0].get_data(as_text=True)
    # The answer came after the merge read the answers: this merge marks nothing and stores
    # no scoreboard from the older answers; the answer's own merge does both.
    assert (first.answers, first.newly_merged) == (2, 0)
    with session_scope(settings.database_url, read_only=True) as s:
        assert unmerged_rounds(s) == [answered_round]
        assert s.exec(select(Scoreboard)).all() == []

    second = merge_round_at(settings.database_url, answered_round)
    assert (second.answers, second.newly_merged) == (2, 4)
    split = derived_state(settings.database_url)
    assert "Council said yes" in split["wins"]
    with session_scope(settings.database_url) as s:  # all in one transaction: the same state
        merge_round(s, answered_round)
    assert derived_state(settings.database_url) == split


def test_a_merge_that_stops_after_writing_the_rows_is_run_again_from_the_unmerged_answers(
        settings, answered_round, monkeypatch):
    import pipeline.merge
    from pipeline.merge import merge_round_at, unmerged_rounds

    def crash(*_args, **_kwargs):
        raise RuntimeError("worker killed")

    with monkeypatch.context() as patched:
        patched.setattr(pipeline.merge, "compute_snapshot", crash)
        with pytest.raises(RuntimeError):
            merge_round_at(settings.database_url, answered_round)
    with session_scope(settings.database_url, read_only=True) as s:
        assert unmerged_rounds(s) == [answered_round]  # so reconcile and the next job merge it
    assert cos(settings, "reconcile").exit_code == 0
    with session_scope(settings.database_url, read_only=True) as s:
        assert unmerged_rounds(s) == []
    after = derived_state(settings.database_url)
    assert after["wins"] == ["Sensors live"] and len(after["scoreboard"]) == 1
    with session_scope(settings.database_url) as s:
        merge_round(s, answered_round)
    assert derived_state(settings.database_url) == after
