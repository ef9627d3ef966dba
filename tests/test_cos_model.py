"""The COS Model wired in: the merge stores each round's phase snapshot, the same every time."""

from __future__ import annotations

from sqlmodel import select

from pipeline.cos_model import compute_snapshot, snapshot_for
from pipeline.db import session_scope
from pipeline.merge import merge_round
from pipeline.models import Commitment, PhaseSnapshot
from pipeline.rounds import close_round
from tests.helpers import load, open_round
from tests.test_merge import submit


def run_round(settings, answers_by_email: dict[str, dict]) -> int:
    round_id, _ = open_round(settings)
    for email, data in answers_by_email.items():
        submit(settings, round_id, email, data)
    with session_scope(settings.database_url) as s:
        merge_round(s, round_id)
        close_round(s, round_id)
    return round_id


def sensors_id(settings) -> str:
    with session_scope(settings.database_url, read_only=True) as s:
        return str(s.exec(select(Commitment.id).where(Commitment.source_key == "file:sensors"))
                   .one())


def test_the_merge_stores_a_snapshot_and_recomputing_gives_the_same_one(settings):
    load(settings)
    sensors = sensors_id(settings)
    round_id = run_round(settings, {
        "raj@schools.example": {"commitments": {sensors: {"status": "slipping", "note": ""}},
                                "items": {"R1": 4, "R2": 5, "M2": 2}, "pulse": 4},
        "kim@cyclists.example": {"items": {"R1": 2, "R2": "not_sure"}, "pulse": 3},
    })
    with session_scope(settings.database_url) as s:
        stored = s.exec(select(PhaseSnapshot).where(PhaseSnapshot.round_id == round_id)).one()
        first = stored.data
        assert compute_snapshot(s, round_id) == first
        merge_round(s, round_id)
    with session_scope(settings.database_url, read_only=True) as s:
        assert snapshot_for(s, round_id) == first
    assert set(first["phases"]) == {"ready", "win", "align", "score", "trust", "momentum"}
    assert first["stage"] == "launch" and first["focus"] in ("ready", "win")
    ready = first["phases"]["ready"]
    assert {e["name"] for e in ready["exits"]} and all("detail" in e for e in ready["exits"])
    moves = {m["id"]: m for m in first["moves"]}
    assert moves["value-talk"]["concerns"] == ["Harbour Schools"]
    assert all(m["reason"] and m["script"] for m in first["moves"])
    assert [m["key"] for m in first["metrics"]] == ["no2", "car_free"]
    assert first["slipped"] == []


def test_a_partner_silent_three_rounds_and_a_commitment_slipping_twice_fire_moves(settings):
    load(settings)
    sensors = sensors_id(settings)
    everyone = ["ana@harbourtrust.org", "raj@schools.example", "kim@cyclists.example"]
    snapshots = []
    for n in range(3):
        answers = {email: {"pulse": 4} for email in everyone}
        answers["raj@schools.example"]["commitments"] = {sensors: {"status": "slipping",
                                                                   "note": ""}}
        answers["raj@schools.example"]["readings"] = {} if n else {}
        round_id = run_round(settings, answers)
        with session_scope(settings.database_url, read_only=True) as s:
            snapshots.append(snapshot_for(s, round_id))
    moves = {m["id"]: m for m in snapshots[-1]["moves"]}
    assert moves["silent-partner"]["concerns"] == ["Harbour Clinic"]
    assert "Harbour Clinic silent for 3 check-ins" in moves["silent-partner"]["evidence"]
    assert "resize-commitment" in moves
    assert "3 rounds in a row" in moves["resize-commitment"]["evidence"]
    assert moves["stale-metric"]["concerns"] == ["Car-free school streets", "NO2 at school gates"]
    assert len(snapshots[-1]["moves"]) <= 5
