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


def silent_clinic_rounds(settings, rounds: int = 3) -> int:
    """Run rounds where everyone but Harbour Clinic answers and the sensors keep slipping."""
    load(settings)
    sensors = sensors_id(settings)
    round_id = 0
    for _ in range(rounds):
        answers = {email: {"pulse": 4} for email in
                   ("ana@harbourtrust.org", "raj@schools.example", "kim@cyclists.example")}
        answers["raj@schools.example"]["commitments"] = {
            sensors: {"status": "slipping", "note": ""}}
        round_id = run_round(settings, answers)
    return round_id


def test_cos_scoreboard_prints_phases_moves_and_metrics_and_a_stable_json_shape(settings):
    from tests.helpers import cos

    silent_clinic_rounds(settings)
    text = cos(settings, "scoreboard", "harbour-air")
    assert text.exit_code == 0, text.output
    assert "Harbour Clean Air Alliance: round 3 (checkin)" in text.output
    assert "Focus now: Ready." in text.output
    assert "Phone Harbour Clinic; don't email." in text.output
    assert "Car-free school streets (Harbour Cyclists)" in text.output

    import json
    data = json.loads(cos(settings, "scoreboard", "harbour-air", "--round", "2", "--json").stdout)
    assert data["round"] == 2 and data["coalition"]["slug"] == "harbour-air"
    assert list(data["phases"]) == ["ready", "win", "align", "score", "trust", "momentum"]
    assert {"score", "band", "passed", "exits"} <= set(data["phases"]["win"])
    assert all({"rank", "id", "phase", "move", "reason", "evidence", "concerns", "script"}
               <= set(m) for m in data["moves"])
    assert {"baseline", "latest", "target", "variance", "progress", "change", "trend",
            "trend_rounds", "band", "freshness", "story"} <= set(data["metrics"][0])
    missing = cos(settings, "scoreboard", "harbour-air", "--round", "9")
    assert missing.exit_code != 0 and "no round 9" in missing.output


def test_the_digest_opens_with_where_we_stand_and_the_next_right_moves(settings):
    from pipeline.digest import render_digest

    round_id = silent_clinic_rounds(settings)
    with session_scope(settings.database_url) as s:
        rendered = render_digest(s, settings, round_id)
    text = rendered.text
    assert text.index("Where we stand") < text.index("Next right moves") < text.index(
        "Who answered")
    assert "Focus now: Ready." in text
    assert "Phone Harbour Clinic; don't email." in text
    assert "Say: \"We haven't heard from you." in text
    assert "Next right moves" in rendered.html and "Phone Harbour Clinic" in rendered.html


def count_digest_queries(settings, tmp_path, partners: int) -> int:
    """Load a coalition of ``partners`` organisations, run two rounds, count the digest's SQL."""
    from sqlalchemy import event

    from pipeline import db
    from pipeline.coalitions import load_coalition
    from pipeline.digest import render_digest

    slug = f"big{partners}"
    lines = ['[coalition]', f'slug = "{slug}"', 'name = "Big"', 'win = "By 2030 more."',
             'lead_organisation = "Org 0"',
             '[[people]]', f'email = "lead@{slug}.example"', 'name = "Lead"',
             'organisation = "Org 0"', 'role = "lead"']
    for n in range(partners):
        lines += ['[[people]]', f'email = "p{n}@{slug}.example"', f'name = "P {n}"',
                  f'organisation = "Org {n}"', 'role = "partner"',
                  '[[metrics]]', f'key = "m{n}"', f'name = "M {n}"', 'baseline = 1',
                  'target = 9', f'owner = "Org {n}"',
                  '[[commitments]]', f'key = "c{n}"', f'owner = "Org {n}"', f'text = "Do {n}"']
    path = tmp_path / f"{slug}.toml"
    path.write_text("\n".join(lines) + "\n")
    with session_scope(settings.database_url) as s:
        load_coalition(s, path)
    for _ in range(2):
        round_id, _ = open_round(settings, slug)
        for n in range(partners):
            submit(settings, round_id, f"p{n}@{slug}.example", {"pulse": 4, "items": {"M2": 4}})
        with session_scope(settings.database_url) as s:
            merge_round(s, round_id)
            close_round(s, round_id)
    with session_scope(settings.database_url) as s:
        from pipeline.models import PhaseSnapshot, Scoreboard
        for table in (PhaseSnapshot, Scoreboard):  # make the digest compute everything
            for row in s.exec(select(table).where(table.round_id == round_id)):
                s.delete(row)
    engine = db.get_engine(settings.database_url)
    count = 0

    def counted(*_args: object) -> None:
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", counted)
    try:
        with session_scope(settings.database_url) as s:
            render_digest(s, settings, round_id)
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count


def test_the_digest_runs_as_many_queries_for_twelve_partners_as_for_three(settings, tmp_path):
    assert count_digest_queries(settings, tmp_path, 12) == count_digest_queries(
        settings, tmp_path, 3)


def test_a_coalition_file_threshold_changes_when_a_move_fires(settings, tmp_path):
    from pipeline.coalitions import load_coalition
    from tests.helpers import DATA

    path = tmp_path / "harbour.toml"
    path.write_text((DATA / "harbour.toml").read_text()
                    + "\n[model.thresholds]\nsilent_rounds = 2\n")
    with session_scope(settings.database_url) as s:
        load_coalition(s, path)
    round_id = 0
    for _ in range(2):
        round_id = run_round(settings, {"raj@schools.example": {"pulse": 4}})
    with session_scope(settings.database_url, read_only=True) as s:
        moves = {m["id"]: m for m in snapshot_for(s, round_id)["moves"]}
    assert "silent for 2 check-ins" in moves["silent-partner"]["evidence"]


def test_the_owners_story_behind_a_number_reaches_the_scoreboard_and_the_digest(settings):
    from pipeline.digest import render_digest
    from pipeline.models import Metric

    load(settings)
    with session_scope(settings.database_url, read_only=True) as s:
        no2 = str(s.exec(select(Metric.id).where(Metric.key == "no2")).one())
    round_id = run_round(settings, {"raj@schools.example": {
        "readings": {no2: 41.0}, "reading_notes": {no2: "Road works moved the traffic"}}})
    with session_scope(settings.database_url) as s:
        line = snapshot_for(s, round_id)["metrics"][0]
        rendered = render_digest(s, settings, round_id)
    assert (line["latest"], line["story"], line["freshness"]) == (
        41.0, "Road works moved the traffic", 0)
    assert "Story: Road works moved the traffic" in rendered.text
    assert "Road works moved the traffic" in rendered.html
