"""`cos export`: a coalition's data as CSV a spreadsheet opens safely, or as JSON."""

from __future__ import annotations

import csv
import io
import json

import pytest

from pipeline.checkin import open_checkin, record_answers
from pipeline.db import session_scope
from tests.helpers import cos, link_for, load, open_round

HOSTILE = "=HYPERLINK(\"http://evil.example\",\"click\")"


@pytest.fixture
def answered(db_settings, session, tmp_path):
    """harbour-air with a round, a hostile name imported, and two answers stored."""
    load(db_settings)
    people = tmp_path / "people.csv"
    quoted = '"' + HOSTILE.replace('"', '""') + '"'
    people.write_text("email,name,organisation,role\n"
                      f"eve@clinic.example,{quoted},Harbour Clinic,partner\n", encoding="utf-8")
    assert cos(db_settings, "people", "import", "harbour-air", str(people)).exit_code == 0
    round_id, _ = open_round(db_settings)
    for email, win in [("raj@schools.example", "+Sensors live"), ("eve@clinic.example", "-3")]:
        token = link_for(db_settings, session, email, round_id).rsplit("/", 1)[1]
        with session_scope(db_settings.database_url) as s:
            record_answers(s, open_checkin(s, token), {"win": win, "pulse": 4})
    return db_settings


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_people_as_csv_neutralise_a_formula_in_a_name(answered):
    result = cos(answered, "export", "harbour-air", "--what", "people")
    assert result.exit_code == 0, result.output
    eve = next(r for r in rows_of(result.stdout) if r["email"] == "eve@clinic.example")
    assert eve["name"] == "'" + HOSTILE  # shown as text, never run
    assert eve["organisation"] == "Harbour Clinic" and eve["role"] == "partner"


def test_answers_as_csv_keep_numbers_as_numbers_and_quote_formulas(answered):
    result = cos(answered, "export", "harbour-air", "--what", "answers")
    wins = {r["email"]: r["win"] for r in rows_of(result.stdout)}
    assert wins == {"raj@schools.example": "'+Sensors live", "eve@clinic.example": "-3"}


def test_json_keeps_values_as_given_with_utc_times(answered, tmp_path):
    out = tmp_path / "answers.json"
    result = cos(answered, "export", "harbour-air", "--what", "answers", "--format", "json",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["coalition"] == "harbour-air"
    raj = next(a for a in data["answers"] if a["email"] == "raj@schools.example")
    assert raj["win"] == "+Sensors live" and raj["pulse"] == 4 and raj["round"] == 1
    assert raj["submitted_at"].endswith("Z")


def test_commitments_and_scoreboard_export_and_an_unknown_coalition_is_named(answered):
    commitments = rows_of(cos(answered, "export", "harbour-air", "--what", "commitments").stdout)
    assert {"Install air sensors at five school gates"} <= {c["text"] for c in commitments}
    board = cos(answered, "export", "harbour-air", "--what", "scoreboard")
    assert board.exit_code == 0 and board.stdout.startswith("round,metric,name,unit")
    missing = cos(answered, "export", "nowhere", "--what", "people")
    assert missing.exit_code == 1 and "no coalition 'nowhere'" in missing.output
