"""The next right moves: each playbook trigger firing, and not firing, at its boundary."""

from __future__ import annotations

import pytest

from pipeline.core.moves import (
    ItemSplit,
    MetricHistory,
    Move,
    NewPartner,
    SlippedCommitment,
    item_splits,
    next_moves,
)
from pipeline.core.phases import Band, Phase, TieMismatch, assess, thresholds_from
from pipeline.core.vocab import Stage
from tests.core.situations import HEALTHY, TODAY, answers, inputs, situation


def ids(moves: tuple[Move, ...]) -> list[str]:
    return [m.id for m in moves]


def only(moves: tuple[Move, ...]) -> Move:
    assert len(moves) == 1, ids(moves)
    return moves[0]


def test_a_healthy_coalition_gets_no_alarm() -> None:
    assert next_moves(HEALTHY) == ()


@pytest.mark.parametrize("stage", list(Stage))
def test_a_healthy_coalition_gets_no_alarm_at_any_stage(stage: Stage) -> None:
    assert next_moves(situation(stage=stage)) == ()


# --- response ----------------------------------------------------------------------------------


def test_response_under_half_for_two_rounds_asks_for_two_questions_only() -> None:
    move = only(next_moves(situation(response_rates=(0.8, 0.49, 0.49))))
    assert move.id == "response-low"
    assert move.move == (
        "Ask only the two anchor questions for two weeks, and send a personal note."
    )
    assert move.evidence == "response 49%, 49% in the last 2 rounds, under 50%"
    assert move.script.startswith("We're asking too much.")


@pytest.mark.parametrize("rates", [(0.5, 0.49), (0.49,), (0.49, 0.5)])
def test_response_at_half_or_low_only_once_is_no_alarm(rates: tuple[float, ...]) -> None:
    assert next_moves(situation(response_rates=rates)) == ()


def test_response_twenty_points_under_its_four_round_average_is_an_alarm() -> None:
    move = only(next_moves(situation(response_rates=(0.2, 0.8, 0.8, 0.8, 0.8, 0.6))))
    assert move.evidence == ("response 60% this round, 20 points under its 4-round average of 80%")


def test_response_nineteen_points_under_its_average_is_no_alarm() -> None:
    assert next_moves(situation(response_rates=(0.8, 0.8, 0.8, 0.8, 0.61))) == ()


def test_a_drop_needs_two_earlier_rounds_to_average() -> None:
    assert next_moves(situation(response_rates=(0.9, 0.6))) == ()


# --- silence -----------------------------------------------------------------------------------


def test_a_partner_silent_for_three_check_ins_gets_a_phone_call() -> None:
    move = only(
        next_moves(
            situation(silent_streaks={"Northside Clinic": 3, "Harbour Food Bank": 5, "Port": 2})
        )
    )
    assert move.id == "silent-partner"
    assert move.move == "Phone Harbour Food Bank, Northside Clinic; don't email."
    assert move.concerns == ("Harbour Food Bank", "Northside Clinic")
    assert move.evidence == (
        "Harbour Food Bank silent for 5 check-ins; Northside Clinic silent for 3 check-ins"
    )


def test_a_partner_silent_for_two_check_ins_is_no_alarm() -> None:
    assert next_moves(situation(silent_streaks={"Northside Clinic": 2})) == ()


# --- win echo ----------------------------------------------------------------------------------


def test_an_echo_rate_under_sixty_percent_restates_the_win() -> None:
    move = only(next_moves(situation(echo_rate=59.4)))
    assert (move.id, move.phase) == ("restate-win", Phase.WIN)
    assert move.evidence == "echo rate 59%, under 60%"


def test_an_echo_rate_of_sixty_percent_is_no_alarm() -> None:
    assert next_moves(situation(echo_rate=60.0)) == ()


def test_win_in_the_concern_band_restates_the_win_even_with_a_good_echo() -> None:
    move = only(next_moves(situation(echo_rate=80.0, win_band=Band.CONCERN)))
    assert move.evidence == "echo rate 80%; Win is in the concern band"


# --- splits ------------------------------------------------------------------------------------


def test_an_item_a_quarter_agree_with_and_a_quarter_disagree_with_gets_an_agenda_item() -> None:
    splits = (ItemSplit("T3", 0.25, 0.25, 4), ItemSplit("A3", 0.5, 0.5, 4))
    move = only(next_moves(situation(item_splits=splits)))
    assert move.id == "where-we-differ"
    assert move.phase is Phase.ALIGN  # the widest split, A3, comes first
    assert move.concerns == ("A3", "T3")
    assert move.evidence == "A3: 50% agree, 50% disagree of 4; T3: 25% agree, 25% disagree of 4"


@pytest.mark.parametrize(
    "split",
    [ItemSplit("A3", 0.25, 0.24, 8), ItemSplit("A3", 0.24, 0.5, 8), ItemSplit("A3", 0.5, 0.5, 2)],
)
def test_an_item_short_of_a_quarter_on_one_side_or_of_three_answers_is_no_alarm(
    split: ItemSplit,
) -> None:
    assert next_moves(situation(item_splits=(split,))) == ()


# --- commitments and the convener ---------------------------------------------------------------


def test_completion_under_sixty_percent_for_two_rounds_cuts_to_one_task_each() -> None:
    move = only(next_moves(situation(completion_rates=(90.0, 59.0, 55.0))))
    assert move.id == "one-small-task"
    assert move.evidence == "commitment completion 59%, 55% in the last 2 rounds, under 60%"


@pytest.mark.parametrize("rates", [(60.0, 59.0), (59.0,), (59.0, 60.0)])
def test_completion_at_sixty_or_low_once_is_no_alarm(rates: tuple[float, ...]) -> None:
    assert next_moves(situation(completion_rates=rates)) == ()


def test_a_convener_holding_over_half_the_open_commitments_hands_three_off() -> None:
    move = only(
        next_moves(
            situation(
                convener_load=0.51,
                convener_open_commitments=("d", "b", "c", "a"),
            )
        )
    )
    assert move.id == "convener-load"
    assert move.move == "Hand off three commitments and rotate the chair. Candidates: a; b; c."
    assert move.evidence == "Harbour Council holds 51% of open commitments"
    assert move.concerns == ("Harbour Council", "a", "b", "c")


def test_a_convener_holding_exactly_half_is_no_alarm() -> None:
    assert next_moves(situation(convener_load=0.5, overload_reports=1)) == ()


def test_a_convener_reporting_overload_twice_hands_commitments_off() -> None:
    move = only(next_moves(situation(overload_reports=2)))
    assert move.evidence == "Harbour Council reported overload 2 times"


# --- value -------------------------------------------------------------------------------------


def test_a_partner_rating_worth_the_time_at_two_gets_a_one_to_one() -> None:
    move = only(next_moves(situation(m2_ratings={"Port": 2, "Clinic": 3, "Bank": 1})))
    assert move.id == "value-talk"
    assert move.concerns == ("Bank", "Port")
    assert move.evidence == "Bank rated worth-the-time 1; Port rated worth-the-time 2"


def test_a_partner_rating_worth_the_time_at_three_is_no_alarm() -> None:
    assert next_moves(situation(m2_ratings={"Port": 3})) == ()


# --- wins --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", [Stage.LAUNCH, Stage.GROWTH])
def test_six_weeks_without_a_win_asks_for_a_thirty_day_win(stage: Stage) -> None:
    move = only(next_moves(situation(stage=stage, weeks_since_last_win=6)))
    assert move.id == "quick-win"
    assert move.evidence == "no win logged for 6 weeks"


def test_five_weeks_without_a_win_is_no_alarm() -> None:
    assert next_moves(situation(weeks_since_last_win=5)) == ()


@pytest.mark.parametrize("stage", [Stage.MATURITY, Stage.RESET])
def test_the_no_win_rule_applies_only_at_launch_and_growth(stage: Stage) -> None:
    assert next_moves(situation(stage=stage, weeks_since_last_win=10)) == ()


# --- ties --------------------------------------------------------------------------------------


def test_an_unconfirmed_or_differently_rated_tie_gets_a_call_for_the_pair() -> None:
    mismatches = (
        TieMismatch("Port", "Clinic", 3, 1),
        TieMismatch("Bank", "Clinic", 2, None),
    )
    move = only(next_moves(situation(tie_mismatches=mismatches)))
    assert move.id == "pair-call"
    assert move.move == "Set up a 20-minute call for Bank and Clinic (and 1 more pairs)."
    assert move.evidence == (
        "Bank reported working with Clinic, not confirmed; "
        "Port rates its work with Clinic 3, Clinic rates it 1"
    )
    assert move.concerns == ("Bank", "Clinic", "Port")


def test_over_sixty_percent_of_ties_through_the_convener_introduces_pairs() -> None:
    move = only(next_moves(situation(convener_tie_share=0.61)))
    assert move.id == "introduce-pairs"
    assert move.evidence == "61% of ties run through Harbour Council"


def test_sixty_percent_of_ties_through_the_convener_is_no_alarm() -> None:
    assert next_moves(situation(convener_tie_share=0.6)) == ()


# --- metrics -----------------------------------------------------------------------------------


def test_a_metric_not_updated_for_two_rounds_needs_an_owner() -> None:
    metrics = (
        MetricHistory("homes", "Port", updated=(True, False, False)),
        MetricHistory("rent", None, updated=(False, False, False)),
        MetricHistory("waits", "Clinic", updated=(False, True, False)),
    )
    move = only(next_moves(situation(metrics=metrics)))
    assert move.id == "stale-metric"
    assert move.concerns == ("homes", "rent")
    assert move.evidence == (
        "homes not updated for 2 rounds (owner: Port); rent not updated for 3 rounds (no owner)"
    )


def test_a_metric_below_forecast_for_two_readings_gets_a_turn_the_curve_session() -> None:
    metrics = (
        MetricHistory("homes", "Port", below_forecast=(False, True, True)),
        MetricHistory("waits", "Clinic", below_forecast=(True, False)),
    )
    move = only(next_moves(situation(metrics=metrics)))
    assert move.id == "turn-the-curve"
    assert move.evidence == "homes below forecast for 2 readings"


def test_a_metric_below_forecast_once_is_no_alarm() -> None:
    metrics = (MetricHistory("homes", below_forecast=(True,), updated=(False,)),)
    assert next_moves(situation(metrics=metrics)) == ()


# --- new partners and funding -------------------------------------------------------------------


def test_a_new_partner_not_engaged_after_four_weeks_gets_a_buddy() -> None:
    partners = (
        NewPartner("Library", 4, engaged=False),
        NewPartner("School", 3, engaged=False),
        NewPartner("Gym", 6, engaged=True),
    )
    move = only(next_moves(situation(new_partners=partners)))
    assert move.id == "buddy"
    assert move.concerns == ("Library",)
    assert move.evidence == "Library joined 4 weeks ago, not engaged yet"


def test_six_months_before_funding_ends_without_a_plan_starts_one() -> None:
    move = only(next_moves(situation(months_to_funding_end=6)))
    assert move.id == "sustainability-plan"
    assert move.evidence == "main funding ends in 6 months; no sustainability plan logged"


@pytest.mark.parametrize(("months", "plan"), [(6.5, False), (3, True), (None, False)])
def test_funding_far_off_or_a_plan_in_place_is_no_alarm(months: float | None, plan: bool) -> None:
    assert next_moves(situation(months_to_funding_end=months, sustainability_plan=plan)) == ()


def test_funding_that_has_ended_says_so() -> None:
    move = only(next_moves(situation(months_to_funding_end=0)))
    assert move.evidence == "main funding has ended; no sustainability plan logged"


# --- a commitment that slipped twice -----------------------------------------------------------


def test_a_commitment_slipping_twice_in_a_row_is_resized_or_handed_off() -> None:
    move = only(next_moves(situation(slipped_commitments=(
        SlippedCommitment("Harbour Food Bank", "Open a Saturday pantry", 2),
        SlippedCommitment("Northside Clinic", "Share referral data", 1),
    ))))
    assert move.id == "resize-commitment"
    assert move.phase is Phase.ALIGN
    assert move.concerns == ("Harbour Food Bank",)
    assert "Open a Saturday pantry" in move.move
    assert move.evidence == (
        "Harbour Food Bank: \u201cOpen a Saturday pantry\u201d slipping or blocked "
        "2 rounds in a row"
    )


def test_a_commitment_slipping_once_is_no_alarm() -> None:
    assert next_moves(situation(slipped_commitments=(
        SlippedCommitment("Harbour Food Bank", "Open a Saturday pantry", 1),))) == ()


# --- ranking -----------------------------------------------------------------------------------

TROUBLED = situation(
    response_rates=(0.4, 0.4),
    silent_streaks={"Port": 4},
    echo_rate=40.0,
    completion_rates=(50.0, 50.0),
    convener_load=0.7,
    m2_ratings={"Bank": 1},
    weeks_since_last_win=8,
    convener_tie_share=0.8,
    metrics=(MetricHistory("homes", updated=(False, False)),),
    months_to_funding_end=3,
)


def test_at_most_five_moves_come_back() -> None:
    assert len(next_moves(TROUBLED)) == 5


def test_growth_puts_response_and_silence_first_then_its_own_phases() -> None:
    assert ids(next_moves(TROUBLED)) == [
        "response-low",
        "silent-partner",
        "convener-load",  # Align
        "one-small-task",  # Align
        "stale-metric",  # Score
    ]


def test_launch_puts_the_win_before_align_and_score() -> None:
    assert ids(next_moves(situation(**{**TROUBLED.__dict__, "stage": Stage.LAUNCH}))) == [
        "response-low",
        "silent-partner",
        "restate-win",  # Win
        "sustainability-plan",
        "convener-load",
    ]


def test_maturity_puts_momentum_moves_first() -> None:
    assert ids(next_moves(situation(**{**TROUBLED.__dict__, "stage": Stage.MATURITY}))) == [
        "response-low",
        "silent-partner",
        "sustainability-plan",
        "value-talk",
        "convener-load",
    ]


def test_a_coalition_can_ask_for_fewer_moves() -> None:
    assert len(next_moves(TROUBLED, thresholds_from({"move_limit": 3}))) == 3


def test_the_same_situation_gives_the_same_moves_whatever_the_order_of_names() -> None:
    a = situation(silent_streaks={"A": 3, "B": 3}, m2_ratings={"X": 1, "Y": 2})
    b = situation(silent_streaks={"B": 3, "A": 3}, m2_ratings={"Y": 2, "X": 1})
    assert next_moves(a) == next_moves(b)


def test_every_move_carries_a_reason_a_script_and_evidence() -> None:
    for move in next_moves(TROUBLED, thresholds_from({"move_limit": 20})):
        assert move.reason and move.script and move.evidence and move.move


def test_item_splits_come_from_a_phase_state_and_feed_the_split_rule() -> None:
    state = assess(
        inputs(answers("A3", [1, 2, 4, 5]), answers("A2", [4, 4, 4])), Stage.GROWTH, TODAY
    )
    splits = item_splits(state)
    assert splits == (ItemSplit("A2", 1.0, 0.0, 3), ItemSplit("A3", 0.5, 0.5, 4))
    move = only(next_moves(situation(item_splits=splits)))
    assert move.concerns == ("A3",)
