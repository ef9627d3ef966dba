"""Checking a coalition file's content, without a database: parse_coalition_file is pure."""

from __future__ import annotations

import tomllib
from datetime import date

from pipeline.coalitions import Elsewhere, FileLines, commitment_key, parse_coalition_file
from tests.helpers import DATA

MINIMAL = {"coalition": {"slug": "tide", "name": "Tide Table", "win": "Cleaner beaches by June"}}


def test_a_minimal_file_gets_the_documented_defaults():
    data, problems = parse_coalition_file(MINIMAL)
    assert problems == []
    assert data["coalition"]["timezone"] == "UTC"
    assert data["coalition"]["stage"] == "launch"
    assert (data["people"], data["metrics"], data["commitments"]) == ([], [], [])


def test_organisations_are_gathered_from_people_owners_and_the_lead_once_each():
    raw = {**MINIMAL, "people": [
        {"email": "a@x.example", "name": "A", "organisation": "Harbour Clinic"},
        {"email": "b@x.example", "name": "B", "organisation": "Harbour Clinic"}],
        "commitments": [{"owner": "Beach Trust", "text": "Count litter"}]}
    raw["coalition"] = {**MINIMAL["coalition"], "lead_organisation": "City Council"}
    # Beach Trust's partners are in the database only (say, from a CSV).
    data, problems = parse_coalition_file(
        raw, elsewhere=Elsewhere(organisations=frozenset({"Beach Trust"}),
                                 partner_organisations=frozenset({"Beach Trust"})))
    assert problems == []
    assert data["organisations"] == ["Beach Trust", "City Council", "Harbour Clinic"]


def test_a_commitment_without_a_key_is_keyed_by_owner_and_text_and_its_due_date_parsed():
    raw = {**MINIMAL, "commitments": [
        {"owner": "Beach Trust", "text": "Count litter", "due": "2027-01-15"}]}
    data, _ = parse_coalition_file(raw)
    assert data["commitments"][0]["key"] == commitment_key("Beach Trust", "Count litter")
    assert data["commitments"][0]["due"] == date(2027, 1, 15)


def test_every_problem_is_listed_with_where_it_is():
    raw = {"coalition": {"slug": "Tide Table", "name": "Tide", "win": "x",
                         "timezone": "Mars/Olympus", "stage": "adolescence"},
           "people": [{"email": "not-an-address", "name": "A", "organisation": "O",
                       "role": "boss"}],
           "metrics": [{"key": "k", "name": "K", "owner": "O", "baseline": "lots",
                        "target": 3, "direction": "sideways"}],
           "commitments": [{"owner": "O", "text": "T", "due": "next week"}]}
    _, problems = parse_coalition_file(raw)
    joined = "\n".join(problems)
    for expected in ("slug must be lowercase", "unknown timezone 'Mars/Olympus'",
                     "stage must be one of", "[[people]] #1", "role must be one of",
                     "[[metrics]] #1", "direction must be up or down",
                     "[[commitments]] #1: due 'next week' is not a date"):
        assert expected in joined


def test_a_file_without_a_coalition_table_says_so():
    assert parse_coalition_file({"people": []}) == ({}, ["[coalition] table is missing"])


def test_the_test_coalition_file_is_clean():
    raw = tomllib.loads((DATA / "harbour.toml").read_text(encoding="utf-8"))
    assert parse_coalition_file(raw)[1] == []


# --- typos and suspicious values -------------------------------------------------------------

PARTNERED = {**MINIMAL, "people": [
    {"email": "ana@tide.example", "name": "Ana", "organisation": "Beach Trust", "role": "lead"},
    {"email": "bo@tide.example", "name": "Bo", "organisation": "Beach Trust"}]}


def test_an_unknown_key_is_a_problem_that_suggests_the_key_meant():
    raw = {**PARTNERED, "metrics": [{"key": "litter", "name": "Litter", "owner": "Beach Trust",
                                     "baseline": 40, "targe": 30}]}
    _, problems = parse_coalition_file(raw)
    assert problems == ["[[metrics]] #1: unknown key 'targe' (did you mean 'target'?)"]


def test_an_unknown_key_in_the_coalition_table_is_a_problem_too():
    raw = {**PARTNERED, "coalition": {**MINIMAL["coalition"], "lead_organization": "Beach Trust"}}
    _, problems = parse_coalition_file(raw)
    assert problems == [
        "[coalition]: unknown key 'lead_organization' (did you mean 'lead_organisation'?)"]


def test_an_unknown_table_is_a_problem_that_suggests_the_table_meant():
    raw = {**PARTNERED, "commitment": [{"owner": "Beach Trust", "text": "Count litter"}]}
    _, problems = parse_coalition_file(raw)
    assert problems == ["unknown table [[commitment]] (did you mean [[commitments]]?)"]


def test_an_owner_nobody_belongs_to_is_a_problem():
    raw = {**PARTNERED, "commitments": [{"owner": "Beach Trusts", "text": "Count litter"}]}
    _, problems = parse_coalition_file(raw)
    assert len(problems) == 1
    assert problems[0].startswith("[[commitments]] #1: owner 'Beach Trusts' has no partner")
    assert "did you mean 'Beach Trust'?" in problems[0]


def test_an_owner_whose_partners_are_in_the_database_is_fine():
    raw = {**PARTNERED, "metrics": [{"key": "k", "name": "K", "owner": "Harbour Port",
                                     "baseline": 1, "target": 2}]}
    data, problems = parse_coalition_file(
        raw, elsewhere=Elsewhere(partner_organisations=frozenset({"Harbour Port"})))
    assert problems == []
    assert data["warnings"] == []


def test_a_down_metric_whose_target_is_above_its_baseline_is_a_warning():
    raw = {**PARTNERED, "metrics": [
        {"key": "litter", "name": "Litter", "owner": "Beach Trust", "baseline": 40,
         "target": 60, "direction": "down"},
        {"key": "clean", "name": "Clean days", "owner": "Beach Trust", "baseline": 40,
         "target": 30, "direction": "up"}]}
    data, problems = parse_coalition_file(raw)
    assert problems == []
    assert [w.split(":")[0] for w in data["warnings"]] == ["[[metrics]] #1", "[[metrics]] #2"]
    assert "target 60 is above the baseline 40" in data["warnings"][0]
    assert "target 30 is below the baseline 40" in data["warnings"][1]


def test_a_coalition_with_no_lead_is_a_warning_unless_the_database_has_one():
    raw = {**MINIMAL, "people": [{"email": "bo@tide.example", "name": "Bo",
                                  "organisation": "Beach Trust"}]}
    data, problems = parse_coalition_file(raw)
    assert problems == []
    assert len(data["warnings"]) == 1 and "no person has role = \"lead\"" in data["warnings"][0]
    data, _ = parse_coalition_file(raw, elsewhere=Elsewhere(leads=1))
    assert data["warnings"] == []


def test_two_spellings_of_one_organisation_are_a_problem_naming_both():
    raw = {**PARTNERED, "people": [*PARTNERED["people"],
                                   {"email": "cy@tide.example", "name": "Cy",
                                    "organisation": "beach trust."}]}
    _, problems = parse_coalition_file(raw)
    assert problems == ["[[people]] #3: organisation 'beach trust.' is spelt 'Beach Trust' in "
                        "[[people]] #1; use one spelling, e.g. 'Beach Trust'"]


def test_a_spelling_that_differs_from_a_stored_organisation_is_a_problem():
    raw = {**PARTNERED, "coalition": {**MINIMAL["coalition"], "lead_organisation": "PORT WORKS"}}
    _, problems = parse_coalition_file(
        raw, elsewhere=Elsewhere(organisations=frozenset({"Port Works"})))
    assert problems == ["[coalition]: organisation 'PORT WORKS' is stored as 'Port Works' "
                        "(people not in this file belong to it); use that spelling"]


# --- line numbers ----------------------------------------------------------------------------

TEXT = '''# a comment
[coalition]
slug = "tide"
name = "Tide"
win = """Cleaner
beaches = by June"""

[[people]]
email = "ana@tide.example"
name = "Ana"
organisation = "Beach Trust"
role = "partner"

[[metrics]]
key = "litter"

[[metrics]]
key = "clean"
name = "Clean days"
owner = "Beach Trust"
baseline = 1
targe = 3
'''


def test_file_lines_map_tables_and_keys_to_their_lines_and_skip_multiline_strings():
    lines = FileLines(TEXT)
    assert lines.place("coalition", None).at("win") == "line 5: [coalition]"
    assert lines.place("coalition", None).at("beaches") == "line 2: [coalition]"
    assert lines.place("metrics", 2).at() == "line 17: [[metrics]] #2"
    assert lines.place("metrics", 2).at("targe") == "line 22: [[metrics]] #2"
    assert lines.place("metrics", 2).at("due") == "line 17: [[metrics]] #2"


def test_every_problem_in_a_file_names_its_line():
    _, problems = parse_coalition_file(tomllib.loads(TEXT), FileLines(TEXT))
    assert problems == [
        "line 14: [[metrics]] #1: 'name' is missing",
        "line 14: [[metrics]] #1: 'baseline' is missing",
        "line 14: [[metrics]] #1: 'target' is missing",
        "line 14: [[metrics]] #1: 'owner' is missing",
        "line 22: [[metrics]] #2: unknown key 'targe' (did you mean 'target'?)",
    ]


def test_tables_written_inline_are_placed_on_the_line_of_their_key():
    text = 'people = [{email = "ana@tide.example"}]\n\n[coalition]\nslug = "tide"\n'
    lines = FileLines(text)
    assert lines.place("people", 1).at("name") == "line 1: [[people]] #1"


MODEL_TOML = """
[coalition]
slug = "tide"
name = "Tide Table"
win = "Cleaner beaches by June"

[model]
funding_ends = 2027-06-30
sustainability_plan = false
funder_notes = true

[model.thresholds]
silent_rounds = 2
echo_low = 50

[model.rotation]
focus_items = 3
echo_every = 0
"""


def test_the_model_table_sets_thresholds_rotation_and_the_funding_date():
    data, problems = parse_coalition_file(tomllib.loads(MODEL_TOML), FileLines(MODEL_TOML))
    assert problems == []
    assert data["model"] == {
        "funding_ends": "2027-06-30", "sustainability_plan": False, "funder_notes": True,
        "thresholds": {"echo_low": 50, "silent_rounds": 2},
        "rotation": {"echo_every": 0, "focus_items": 3}}


def test_a_bad_threshold_or_rotation_is_named_with_its_line():
    text = MODEL_TOML.replace("silent_rounds = 2", "silent_round = 2").replace(
        "focus_items = 3", "max_closed = 9").replace("funding_ends = 2027-06-30",
                                                     'funding_ends = "soon"')
    _, problems = parse_coalition_file(tomllib.loads(text), FileLines(text))
    assert any("line 12" in p and "unknown threshold 'silent_round'" in p
               and "silent_rounds" in p for p in problems), problems
    assert any("line 16" in p and "max_closed must be 6 or less" in p for p in problems)
    assert any("line 8" in p and "funding_ends must be a date" in p for p in problems)


def test_the_example_coalition_file_loads_without_problems():
    from pathlib import Path

    path = Path(__file__).parent.parent / "examples" / "riverside-food.toml"
    text = path.read_text()
    data, problems = parse_coalition_file(tomllib.loads(text), FileLines(text))
    assert problems == []
    assert data["model"]["thresholds"]
    assert data["model"]["win_parts"]["by_when"] == "By December 2027"
