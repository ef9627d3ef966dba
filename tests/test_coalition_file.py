"""Checking a coalition file's content, without a database: parse_coalition_file is pure."""

from __future__ import annotations

import tomllib
from datetime import date

from pipeline.coalitions import commitment_key, parse_coalition_file
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
    data, problems = parse_coalition_file(raw)
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
