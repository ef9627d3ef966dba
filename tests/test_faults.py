"""One bad record never stops the work for everyone else: merges, the sweep, a close, a worker."""

from __future__ import annotations

import pytest
from sqlmodel import select

from pipeline import rounds
from pipeline.checkin import open_checkin, record_answers
from pipeline.db import session_scope
from pipeline.merge import merge_round_at
from pipeline.models import Delivery, Metric, Win
from tests.helpers import cos, link_for, load, open_round, warnings_of


def store(settings, session, email: str, round_id: int, answers: dict) -> None:
    """Store answers as they might sit in the database, past any form's checks."""
    token = link_for(settings, session, email, round_id).rsplit("/", 1)[1]
    with session_scope(settings.database_url) as s:
        record_answers(s, open_checkin(s, token), answers)


def test_a_nul_in_a_stored_answer_merges_and_the_round_closes_with_its_digest(
        settings, session, smtp_server):
    load(settings)
    round_id, _ = open_round(settings)
    store(settings, session, "raj@schools.example", round_id, {"win": "before\x00after"})
    store(settings, session, "kim@cyclists.example", round_id, {"win": "Bike bus runs"})

    reconciled = cos(settings, "reconcile")
    assert reconciled.exit_code == 0, reconciled.output
    closed = cos(settings, "campaign", "close", str(round_id))
    assert closed.exit_code == 0, closed.output
    assert "2 answers merged" in closed.stdout and "digest sent to" in closed.stdout
    session.expire_all()
    assert sorted(w.text for w in session.exec(select(Win))) == ["Bike bus runs", "beforeafter"]


def test_an_unreadable_answer_is_left_out_and_named_while_the_rest_of_the_round_merges(
        settings, session):
    load(settings)
    round_id, _ = open_round(settings)
    metric = session.exec(select(Metric)).first()
    assert metric is not None
    store(settings, session, "raj@schools.example", round_id,
          {"readings": {str(metric.id): "lots"}, "win": "kept out"})
    store(settings, session, "kim@cyclists.example", round_id, {"win": "Bike bus runs"})

    reconciled = cos(settings, "reconcile")
    assert reconciled.exit_code == 0, reconciled.output
    assert "left out the answers of Raj Patel" in warnings_of(reconciled)
    session.expire_all()
    assert [w.text for w in session.exec(select(Win))] == ["Bike bus runs"]
    status = cos(settings, "campaign", "status", str(round_id))
    assert "answers left out of the merge: Raj Patel: unreadable answer" in status.stdout


def test_the_sweep_goes_on_past_a_round_whose_merge_fails_and_names_it(
        settings, session, monkeypatch, tmp_path):
    load(settings)
    first, _ = open_round(settings)
    store(settings, session, "raj@schools.example", first, {"win": "one"})
    with session_scope(settings.database_url) as s:
        rounds.close_round(s, first)
    second, _ = open_round(settings)
    store(settings, session, "kim@cyclists.example", second, {"win": "two"})

    import pipeline.reconcile

    def merge_or_break(url, round_id):  # type: ignore[no-untyped-def]
        if round_id == first:
            raise RuntimeError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        return merge_round_at(url, round_id)

    monkeypatch.setattr(pipeline.reconcile, "merge_round_at", merge_or_break)
    result = cos(settings, "reconcile")
    assert result.exit_code == 1
    assert f"round {first} (campaign {first}) could not be merged: RuntimeError" in result.output
    assert f"merged 1 round with unmerged answers: {second}" in result.stdout
    assert "queued 4 emails" in result.stdout  # the open round's invitations still queued
    session.expire_all()
    assert [w.text for w in session.exec(select(Win))] == ["two"]


def test_a_close_whose_merge_fails_says_what_to_do_and_sends_no_digest(
        settings, session, monkeypatch):
    load(settings)
    round_id, _ = open_round(settings)
    store(settings, session, "raj@schools.example", round_id, {"win": "kept"})

    def broken(_url, _round_id):  # type: ignore[no-untyped-def]
        raise RuntimeError("database went away")

    monkeypatch.setattr(rounds, "merge_round_at", broken)
    closed = cos(settings, "campaign", "close", str(round_id))
    assert closed.exit_code == 1
    assert "could not be merged" in closed.stdout
    assert "the merge failed (RuntimeError: database went away), so no digest was sent" in (
        closed.output)
    assert "`cos reconcile`" in closed.output
    session.expire_all()
    assert session.exec(select(Delivery).where(Delivery.kind == "digest")).all() == []


def test_a_worker_starts_and_works_even_when_its_start_up_sweep_fails(settings, monkeypatch):
    import pipeline.reconcile

    def broken(_settings):  # type: ignore[no-untyped-def]
        raise RuntimeError("sweep broke")

    load(settings)
    monkeypatch.setattr(pipeline.reconcile, "reconcile", broken)
    result = cos(settings, "worker", "--burst")
    assert result.exit_code == 0, result.output
    assert "the start-up reconcile failed (sweep broke); working the queues anyway" in (
        result.output)


@pytest.mark.parametrize("name", ["Nul\x00Name", "Bell\x07Ringer"])
def test_a_csv_with_control_characters_in_a_name_is_cleaned_not_a_traceback(
        db_settings, session, tmp_path, name):
    load(db_settings)
    people = tmp_path / "people.csv"
    people.write_text(f"email,name,organisation,role\nnew@clinic.example,{name},Harbour Clinic,"
                      "partner\n", encoding="utf-8")
    result = cos(db_settings, "people", "import", "harbour-air", str(people))
    assert result.exit_code == 0, result.output
    listed = cos(db_settings, "people", "harbour-air", "--json").stdout
    assert "\\u0000" not in listed and "\\u0007" not in listed
    assert name.replace("\x00", "").replace("\x07", "") in listed
