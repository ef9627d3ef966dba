"""The merge rules over plain answers: who wins, what counts, what is ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.core.merge import AnswerSet, Conflict, ConflictAnswer, current_status, merge_answers
from pipeline.core.vocab import ConflictKind

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


def test_two_people_of_one_organisation_who_disagree_make_a_conflict_and_the_latest_is_kept():
    merged = merge_answers([
        answers(1, 10, 1, commitments={"7": {"status": "on_track"}}, readings={"3": 104}),
        answers(2, 10, 5, commitments={"7": {"status": "done"}}, readings={"3": "98"}),
    ], owned_commitments={10: {7}}, owned_metrics={10: {3}})
    assert merged.conflicts == [
        Conflict(ConflictKind.COMMITMENT, 7, (
            ConflictAnswer(1, 10, "on_track", T0 + timedelta(minutes=1)),
            ConflictAnswer(2, 10, "done", T0 + timedelta(minutes=5)))),
        Conflict(ConflictKind.METRIC, 3, (
            ConflictAnswer(1, 10, 104.0, T0 + timedelta(minutes=1)),
            ConflictAnswer(2, 10, 98.0, T0 + timedelta(minutes=5)))),
    ]
    assert [c.kept.person_id for c in merged.conflicts] == [2, 2]
    assert merged.status_reports[7].status == "done" and merged.readings[3] == (98.0, 2)


@pytest.mark.parametrize("first, second", [(104, 104.0), ("104", 104), (0.5, "0.50")])
def test_numbers_equal_as_numbers_are_no_conflict(first, second):
    merged = merge_answers([answers(1, 10, 0, readings={"3": first}),
                            answers(2, 10, 1, readings={"3": second})])
    assert merged.conflicts == []


def test_the_same_status_from_two_people_is_no_conflict_even_with_different_notes():
    merged = merge_answers([
        answers(1, 10, 0, commitments={"7": {"status": "done", "note": "all five"}}),
        answers(2, 10, 1, commitments={"7": {"status": "done", "note": "finished"}}),
    ])
    assert merged.conflicts == []


def test_a_conflict_lists_everyone_who_answered_in_submission_order():
    merged = merge_answers([
        answers(3, 10, 9, commitments={"7": {"status": "done"}}),
        answers(1, 10, 0, commitments={"7": {"status": "done"}}),
        answers(2, 10, 4, commitments={"7": {"status": "blocked"}}),
        answers(4, 10, 2, commitments={"7": {"status": ""}}),  # said nothing: not an answer
    ])
    (conflict,) = merged.conflicts
    assert [(a.person_id, a.value) for a in conflict.answers] == [
        (1, "done"), (2, "blocked"), (3, "done")]
    assert conflict.kept == conflict.answers[-1]


def test_answers_about_what_another_organisation_owns_make_no_conflict():
    merged = merge_answers([
        answers(1, 10, 0, commitments={"7": {"status": "done"}}, readings={"3": 1}),
        answers(2, 11, 1, commitments={"7": {"status": "blocked"}}, readings={"3": 2}),
    ], owned_commitments={10: {7}}, owned_metrics={10: {3}})
    assert merged.conflicts == []


def test_conflicts_come_out_the_same_whatever_order_the_answers_arrive_in():
    given = [
        answers(1, 10, 0, commitments={"8": {"status": "done"}, "7": {"status": "done"}},
                readings={"4": 1, "3": 1}),
        answers(2, 10, 0, commitments={"8": {"status": "slipping"}, "7": {"status": "blocked"}},
                readings={"4": 2, "3": 2}),
    ]
    forward, backward = merge_answers(given), merge_answers(reversed(given))
    assert forward.conflicts == backward.conflicts
    assert [(c.kind, c.subject_id) for c in forward.conflicts] == [
        ("commitment", 7), ("commitment", 8), ("metric", 3), ("metric", 4)]
    # Same moment: the person with the higher id counts as later, as for the kept value.
    assert {c.kept.person_id for c in forward.conflicts} == {2}


def test_text_reaches_the_state_without_nul_or_control_characters():
    merged = merge_answers([AnswerSet(1, 10, T0, {
        "win": "before\x00after\x1b[31m", "blocker": "no\x00pe",
        "commitments": {"5": {"status": "done", "note": "a\x00b"}}})])
    assert merged.wins[1] == (10, "beforeafter[31m")
    assert merged.blockers[1][1] == "nope"
    assert merged.status_reports[5].note == "ab"


def test_one_unreadable_answer_set_is_skipped_with_its_reason_and_the_rest_merge():
    merged = merge_answers([
        AnswerSet(1, 10, T0, {"readings": {"7": "lots"}, "win": "lost"}),
        AnswerSet(2, 10, T0, {"readings": {"7": float("nan")}}),
        AnswerSet(3, 10, T0, ["not", "a", "mapping"]),  # type: ignore[arg-type]
        AnswerSet(4, 11, T0, {"new_commitment": {"text": "x", "due": "someday"}}),
        AnswerSet(5, 12, T0, {"win": "Sensors live", "readings": {"7": 41.5}}),
    ])
    assert set(merged.skipped) == {1, 2, 3, 4}
    assert "lots" in merged.skipped[1] and "finite" in merged.skipped[2]
    assert merged.wins == {5: (12, "Sensors live")}  # nothing of person 1 got in
    assert merged.readings == {7: (41.5, 5)}
