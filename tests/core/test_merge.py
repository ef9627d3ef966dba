"""The merge rules over plain answers: who wins, what counts, what is ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.core.merge import AnswerSet, current_status, merge_answers

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def answers(person: int, org: int, minutes: int, **data) -> AnswerSet:
    return AnswerSet(person, org, T0 + timedelta(minutes=minutes), data)


def test_the_later_submission_wins_when_two_people_report_the_same_thing():
    merged = merge_answers([
        answers(2, 10, 5, commitments={"7": {"status": "blocked", "note": "late"}},
                readings={"3": 12}),
        answers(1, 10, 1, commitments={"7": {"status": "on_track", "note": ""}},
                readings={"3": 10}),
    ])
    assert merged.status_reports[7].status == "blocked"
    assert merged.status_reports[7].person_id == 2
    assert merged.readings[3] == (12.0, 2)


def test_commitments_and_metrics_of_other_organisations_are_ignored():
    merged = merge_answers(
        [answers(1, 10, 0, commitments={"7": {"status": "done"}, "8": {"status": "done"}},
                 readings={"3": 1, "4": 2})],
        owned_commitments={10: {7}, 11: {8}}, owned_metrics={10: {3}},
    )
    assert set(merged.status_reports) == {7}
    assert set(merged.readings) == {3}


@pytest.mark.parametrize("pulse, kept", [(1, True), (5, True), (0, False), (6, False),
                                         (None, False), ("4", False)])
def test_only_a_pulse_from_1_to_5_counts(pulse, kept):
    merged = merge_answers([answers(1, 10, 0, pulse=pulse)])
    assert (1 in merged.pulses) is kept


def test_help_runs_from_the_helper_to_the_reporting_organisation_and_never_to_itself():
    merged = merge_answers([answers(1, 10, 0, helped_by=[11, 12, 10])])
    assert merged.help_edges == {(11, 10, 1), (12, 10, 1)}


def test_blank_texts_and_unknown_statuses_add_nothing():
    merged = merge_answers([answers(1, 10, 0, win="  ", blocker="", commitments={
        "7": {"status": "", "note": "just a note"}, "8": {"status": "bogus"}},
        new_commitment={"text": " ", "due": None})])
    assert not (merged.wins or merged.blockers or merged.status_reports or merged.new_commitments)


@pytest.mark.parametrize("history, status", [
    ([], "open"),
    ([(1, "on_track")], "on_track"),
    ([(2, "done"), (1, "slipping")], "done"),
    ([(1, "done"), (3, "blocked"), (2, "on_track")], "blocked"),
])
def test_a_commitment_takes_the_status_of_its_latest_round(history, status):
    assert current_status(history) == status
