"""Phase scores, bands, exit tests, focus and the readiness check, with hand-computed numbers."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from pipeline.core.echo import EchoMark
from pipeline.core.phases import (
    DEFAULT_THRESHOLDS,
    Answer,
    Band,
    EchoAnswer,
    ExitCheck,
    HeadlineMetric,
    Phase,
    PhaseResult,
    ReadinessItem,
    ReadinessVerdict,
    Tie,
    TieMismatch,
    assess,
    band,
    combine_readiness,
    focus_phase,
    item_score,
    item_stat,
    readiness,
    thresholds_from,
    tie_mismatches,
    tie_reciprocity,
    win_cadence,
)
from pipeline.core.vocab import Stage
from tests.core.situations import TODAY, answers, days_ago, inputs


def phase(
    p: Phase, *groups: tuple[Answer, ...], stage: Stage = Stage.LAUNCH, **kwargs: Any
) -> PhaseResult:
    return assess(inputs(*groups, **kwargs), stage, TODAY).phases[p]


def exits(result: PhaseResult) -> dict[str, ExitCheck]:
    return {e.name: e for e in result.exits}


# --- items and bands ---------------------------------------------------------------------------


@pytest.mark.parametrize(("mean", "score"), [(1, 0), (2, 25), (3, 50), (4, 75), (5, 100)])
def test_an_item_score_is_the_mean_answer_less_one_times_25(mean: int, score: int) -> None:
    assert item_score(mean) == score


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (100, Band.STRONG),
        (75, Band.STRONG),
        (74.5, Band.STRONG),  # shown as 75, so banded as 75
        (74.4, Band.DISCUSS),
        (50, Band.DISCUSS),
        (49.5, Band.DISCUSS),
        (49.4, Band.CONCERN),
        (0, Band.CONCERN),
        (None, Band.NOT_ENOUGH),
    ],
)
def test_bands_split_at_75_and_50(score: float | None, expected: Band) -> None:
    assert band(score) is expected


def test_not_sure_is_left_out_of_the_score_but_counted() -> None:
    stat = item_stat("R1", [5, None, 3, 4])
    assert (stat.scored, stat.not_sure, stat.mean) == (3, 1, 4.0)


def test_the_spread_is_the_share_who_disagree() -> None:
    stat = item_stat("A3", [1, 2, 3, 4, 5])
    assert stat.disagree == 0.4
    assert stat.agree == 0.4


@pytest.mark.parametrize(
    ("values", "split"),
    [([2, 2, 4, 4, 4, 4, 4, 4], True), ([1, 4, 4, 4, 4], False), ([1, 2, 4, 5], True)],
)
def test_an_item_is_split_when_a_quarter_agree_and_a_quarter_disagree(
    values: list[int], split: bool
) -> None:
    assert item_stat("A3", values).split is split


def test_an_answer_off_the_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="item R1: answer 6 is not on the 1-5 scale"):
        item_stat("R1", [6])


# --- enough answers and the window --------------------------------------------------------------

READY_ANSWERS = (
    answers("R1", [5, 4, 4]),
    answers("R2", [3, 3, 3]),
    answers("R3", [4, 4, 4]),
    answers("R4", ["2-5", "6-10", "<2"]),
)


def test_two_respondents_are_not_enough_for_a_score() -> None:
    result = phase(
        Phase.READY, answers("R1", [5, 5]), answers("R2", [5, 5]), answers("R3", [5, 5]), asked=2
    )
    assert result.score is None
    assert result.band is Band.NOT_ENOUGH


@pytest.mark.parametrize(("asked", "shown"), [(7, True), (8, False)])
def test_a_score_needs_forty_percent_response(asked: int, shown: bool) -> None:
    result = phase(Phase.READY, *READY_ANSWERS, asked=asked)  # 3 of 7 is 43%, 3 of 8 is 38%
    assert (result.score is not None) is shown


def test_exactly_forty_percent_response_is_enough() -> None:
    four = (
        answers("R1", [4, 4, 4, 4]),
        answers("R2", [4, 4, 4, 4]),
        answers("R3", [4, 4, 4, 4]),
        answers("R4", ["2-5"] * 4),
    )
    result = phase(Phase.READY, *four, asked=10)
    assert result.response == 0.4
    assert result.score == 75


def test_a_not_sure_answer_counts_as_a_response() -> None:
    result = phase(
        Phase.READY,
        answers("R1", [4, 4, 4, None]),
        answers("R2", [4, 4, 4]),
        answers("R3", [4, 4, 4]),
        answers("R4", ["2-5"] * 3),
        asked=10,
    )
    assert result.respondents == 4
    assert result.score == 75


def test_only_each_persons_latest_answer_in_the_window_counts() -> None:
    result = phase(
        Phase.READY,
        answers("R1", [1, 1, 1], on=days_ago(27)),
        answers("R1", [5, 5, 5]),
        answers("R2", [5, 5, 5]),
        answers("R3", [5, 5, 5]),
        answers("R4", ["2-5"] * 3),
    )
    assert result.items[0].mean == 5.0
    assert result.items[0].scored == 3


def test_answers_four_weeks_old_fall_out_of_the_window() -> None:
    old = days_ago(DEFAULT_THRESHOLDS.window_days)
    result = phase(
        Phase.READY,
        answers("R1", [5, 5, 5], on=old),
        answers("R2", [5, 5, 5], on=old),
        answers("R3", [5, 5, 5], on=old),
    )
    assert result.respondents == 0
    assert result.band is Band.NOT_ENOUGH


# --- Ready -------------------------------------------------------------------------------------


def test_ready_is_the_mean_of_r1_to_r3() -> None:
    # R1 4.33 -> 83.3, R2 3 -> 50, R3 4 -> 75; mean 69.4
    result = phase(Phase.READY, *READY_ANSWERS)
    assert result.score == 69
    assert result.band is Band.DISCUSS
    assert not result.capped


def test_ready_is_capped_at_49_while_fewer_than_half_offer_two_hours() -> None:
    result = phase(
        Phase.READY,
        answers("R1", [5, 5, 5]),
        answers("R2", [5, 5, 5]),
        answers("R3", [5, 5, 5]),
        answers("R4", ["0", "<2", "2-5"]),
    )
    assert (result.score, result.band, result.capped) == (49, Band.CONCERN, True)
    assert result.note == "1 of 3 offer >= 2 hours next month"
    assert exits(result)["score"].detail == (
        "score 49 (capped: 1 of 3 offer >= 2 hours next month), needs >= 70"
    )


def test_ready_is_not_capped_when_exactly_half_offer_two_hours() -> None:
    result = phase(
        Phase.READY,
        answers("R1", [5, 5, 5]),
        answers("R2", [5, 5, 5]),
        answers("R3", [5, 5, 5]),
        answers("R4", ["0", "<2", "2-5", ">10"]),
    )
    assert (result.score, result.capped) == (100, False)


def test_ready_is_capped_when_nobody_has_said_what_hours_they_offer() -> None:
    result = phase(
        Phase.READY, answers("R1", [5, 5, 5]), answers("R2", [5, 5, 5]), answers("R3", [5, 5, 5])
    )
    assert result.score == 49


def test_ready_exit_tests_report_their_numbers() -> None:
    checks = exits(phase(Phase.READY, *READY_ANSWERS))
    assert not checks["score"].passed
    assert checks["score"].detail == "score 69, needs >= 70"
    assert checks["no low item"].passed  # R2 sits exactly on 3.0
    assert checks["no low item"].detail == (
        "item means R1 4.33, R2 3.00, R3 4.00, each needs >= 3.0"
    )
    assert checks["organisations answered"].passed
    assert checks["organisations answered"].detail == (
        "3 of 5 organisations answered (60%), needs >= 60%"
    )
    assert not checks["convening hours named"].passed


def test_ready_passes_its_exit_with_a_high_score_and_named_hours() -> None:
    result = phase(
        Phase.READY,
        answers("R1", [4, 4, 4]),
        answers("R2", [4, 5, 4]),
        answers("R3", [4, 4, 4]),
        answers("R4", ["2-5"] * 3),
        convening_hours_named=True,
    )
    assert result.score == 78
    assert result.passed


def test_an_unknown_hours_answer_is_refused() -> None:
    with pytest.raises(ValueError, match="R4: '3' is not one of"):
        phase(Phase.READY, answers("R4", ["3"]))


# --- Win ---------------------------------------------------------------------------------------


def echoes(*marks: EchoMark, on: date = TODAY) -> tuple[EchoAnswer, ...]:
    return tuple(
        EchoAnswer(person=f"p{n}", organisation=f"o{n}", mark=m, on=on)
        for n, m in enumerate(marks, start=1)
    )


M, P, X = EchoMark.MATCH, EchoMark.PARTIAL, EchoMark.OFF


def test_win_is_half_echo_rate_and_a_quarter_each_of_w2_and_w3() -> None:
    # echo (1 + .5 + 0 + 1) / 4 = 62.5; W2 4 -> 75; W3 4.33 -> 83.3
    # .5 x 62.5 + .25 x 75 + .25 x 83.3 = 70.8
    result = phase(
        Phase.WIN,
        answers("W2", [4, 4, 4]),
        answers("W3", [5, 5, 3]),
        echoes=echoes(M, P, X, M),
    )
    assert result.score == 71
    checks = exits(result)
    assert not checks["echo rate"].passed
    assert checks["echo rate"].detail == (
        "echo rate 63% from 4 of 5 partners (80%), needs >= 70% from >= 60%"
    )
    assert checks["can tell whether we hit it"].passed
    assert checks["can tell whether we hit it"].detail == "W3 mean 4.33, needs >= 4.0"
    assert not checks["win has four parts"].passed


@pytest.mark.parametrize(
    ("marks", "passed"),
    [
        ((M, M, M), True),  # 100% from 3 of 5 partners: 60%
        ((M, M, M, M, M, M, M, X, X, X), True),  # exactly 70%
        ((M, M, M, M, M, M, P, X, X, X), False),  # 65%
    ],
)
def test_the_echo_exit_needs_seventy_percent_from_sixty_percent_of_partners(
    marks: tuple[EchoMark, ...], passed: bool
) -> None:
    result = phase(Phase.WIN, echoes=echoes(*marks), asked=max(5, len(marks)))
    assert exits(result)["echo rate"].passed is passed


def test_the_echo_exit_fails_when_too_few_partners_wrote_the_win() -> None:
    result = phase(Phase.WIN, echoes=echoes(M, M))
    assert not exits(result)["echo rate"].passed


def test_each_partners_latest_echo_counts() -> None:
    result = phase(
        Phase.WIN,
        answers("W2", [4, 4, 4]),
        answers("W3", [4, 4, 4]),
        echoes=echoes(X, X, X, on=days_ago(14)) + echoes(M, M, M),
    )
    assert result.components[0].value == 100.0
    assert result.score == 88  # 50 + 18.75 + 18.75 = 87.5


# --- Align -------------------------------------------------------------------------------------


def test_align_is_forty_percent_completion_and_thirty_each_of_a2_and_a3() -> None:
    # A1 over the window: done, partly, not yet, done (no piece yet is not counted) = 62.5
    # .4 x 62.5 + .3 x 75 + .3 x 50 = 62.5
    result = phase(
        Phase.ALIGN,
        answers("A1", ["done", "not_yet", "done", "no_piece"]),
        answers("A1", ["partly"], on=days_ago(7)),
        answers("A2", [4, 4, 4]),
        answers("A3", [3, 3, 3]),
        named_roles=("o1", "o2", "o3", "o4"),
    )
    assert result.score == 63
    checks = exits(result)
    assert checks["named roles"].passed
    assert checks["named roles"].detail == (
        "4 of 5 organisations have a named role and person (80%), needs >= 80%"
    )
    assert checks["completion"].detail == "completion 63% over 4 reports, needs >= 70%"
    assert not checks["completion"].passed
    assert checks["pieces fit together"].detail == "A3 mean 3.00, needs >= 3.8"


def test_align_named_roles_fail_under_eighty_percent() -> None:
    result = phase(Phase.ALIGN, named_roles=("o1", "o2", "o3"))
    assert not exits(result)["named roles"].passed


# --- Score -------------------------------------------------------------------------------------

GOOD_METRICS = (
    HeadlineMetric("homes", "o1", 10.0, (False, True, True)),
    HeadlineMetric("evictions", "o2", 40.0, (True, True)),
    HeadlineMetric("waiting", "o3", 120.0, (True, True)),
)


def test_score_is_thirty_view_thirty_s2_and_forty_on_time() -> None:
    # S1 2 of 3 = 66.7; S2 4.33 -> 83.3; S3 yes, yes, late, yes, no = 60 (not ours left out)
    # .3 x 66.7 + .3 x 83.3 + .4 x 60 = 69
    result = phase(
        Phase.SCORE,
        answers("S1", ["yes", "yes", "no"]),
        answers("S2", [4, 4, 5]),
        answers("S3", ["yes", "yes", "late", "not_ours"]),
        answers("S3", ["yes", "no"], on=days_ago(7)),
        metrics=GOOD_METRICS,
    )
    assert result.score == 69
    checks = exits(result)
    assert checks["headline measures"].passed
    assert checks["on-time updates"].passed
    assert checks["scoreboard matches the ground"].passed


def test_score_exit_names_measures_without_owner_or_baseline_and_late_ones() -> None:
    metrics = (
        *GOOD_METRICS[:2],
        HeadlineMetric("rent", None, None, (True, False)),
    )
    checks = exits(phase(Phase.SCORE, metrics=metrics))
    assert checks["headline measures"].detail == (
        "3 headline measures, needs 3-5; without owner or baseline: rent"
    )
    assert checks["on-time updates"].detail == "last 2 updates on time for 2 of 3; not yet: rent"


@pytest.mark.parametrize(("count", "passed"), [(2, False), (3, True), (5, True), (6, False)])
def test_score_wants_three_to_five_headline_measures(count: int, passed: bool) -> None:
    metrics = tuple(HeadlineMetric(f"m{n}", "o1", 0.0, (True, True)) for n in range(count))
    assert exits(phase(Phase.SCORE, metrics=metrics))["headline measures"].passed is passed


# --- Trust -------------------------------------------------------------------------------------

TIES = (
    Tie("o2", "o3", 2, TODAY),
    Tie("o3", "o2", 2, days_ago(3)),
    Tie("o2", "o1", 1, TODAY),
    Tie("o4", "o1", 3, TODAY),
)


def test_trust_is_forty_pulse_thirty_reciprocity_thirty_direct_ties() -> None:
    # T2 5 -> 100, T3 3 -> 50: pulse 75; 2 of 4 ties confirmed: 50; 1 of 3 pairs direct: 33.3
    # .4 x 75 + .3 x 50 + .3 x 33.3 = 55
    result = phase(Phase.TRUST, answers("T2", [5, 5, 5]), answers("T3", [3, 3, 3]), ties=TIES)
    assert result.score == 55
    checks = exits(result)
    assert checks["partners come through"].passed
    assert not checks["safe to disagree"].passed
    assert checks["reciprocity"].passed
    assert checks["reciprocity"].detail == "2 of 4 reported ties confirmed (50%), needs >= 50%"
    assert not checks["direct ties"].passed
    assert checks["direct ties"].detail == "2 of 4 partners have a direct tie; none yet: o4, o5"


@pytest.mark.parametrize(("gap", "confirmed"), [(28, 1), (29, 0)])
def test_a_tie_is_confirmed_when_the_other_side_reports_it_within_four_weeks(
    gap: int, confirmed: int
) -> None:
    ties = (Tie("o2", "o3", 2, TODAY), Tie("o3", "o2", 2, days_ago(gap)))
    assert tie_reciprocity(ties, TODAY) == (confirmed, 1)


def test_an_unanswered_tie_is_a_mismatch_only_after_four_weeks() -> None:
    young = (Tie("o2", "o3", 2, days_ago(27)),)
    old = (Tie("o2", "o3", 2, days_ago(28)),)
    assert tie_mismatches(young, TODAY) == ()
    assert tie_mismatches(old, TODAY) == (TieMismatch("o2", "o3", 2, None),)


def test_a_tie_rated_differently_by_the_two_sides_is_listed_once() -> None:
    ties = (Tie("o3", "o2", 1, TODAY), Tie("o2", "o3", 3, days_ago(2)))
    assert tie_mismatches(ties, TODAY) == (TieMismatch("o2", "o3", 3, 1),)


def test_ties_both_sides_agree_on_are_no_mismatch() -> None:
    assert tie_mismatches(TIES[:2], TODAY) == ()


# --- Momentum ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ages", "score"), [((), 0.0), ((10,), 50.0), ((10, 55), 100.0), ((10, 56), 50.0)]
)
def test_two_wins_in_eight_weeks_make_a_full_cadence(ages: tuple[int, ...], score: float) -> None:
    assert win_cadence([days_ago(a) for a in ages], TODAY)[0] == score


def test_momentum_is_35_cadence_35_m2_and_30_m3() -> None:
    # one win: 50; M2 4 -> 75; M3 4 -> 75: 17.5 + 26.25 + 22.5 = 66.25
    result = phase(
        Phase.MOMENTUM,
        answers("M2", [4, 4, 4]),
        answers("M3", [3, 4, 5]),
        wins=(days_ago(10),),
    )
    assert result.score == 66
    checks = exits(result)
    assert not checks["a win every month"].passed
    assert checks["a win every month"].detail == "wins in 1 of the last 3 months"
    assert checks["worth the time"].passed  # exactly 4.0
    assert checks["would keep moving"].passed
    assert not checks["sustainability plan"].passed


def test_momentum_passes_with_a_win_each_month_and_a_plan() -> None:
    result = phase(
        Phase.MOMENTUM,
        answers("M2", [4, 4, 4]),
        answers("M3", [4, 4, 4]),
        wins=(days_ago(10), days_ago(40), days_ago(70)),
        sustainability_plan=True,
    )
    assert result.passed
    assert result.score == 84  # two wins in 8 weeks: 35 + 26.25 + 22.5 = 83.75


# --- thresholds --------------------------------------------------------------------------------


def test_a_coalition_can_override_a_threshold() -> None:
    t = thresholds_from({"min_respondents": 5, "strong": 80})
    assert (t.min_respondents, t.strong, t.discuss) == (5, 80, 50)
    assert band(78, t) is Band.DISCUSS


def test_no_overrides_give_the_defaults() -> None:
    assert thresholds_from({}) == DEFAULT_THRESHOLDS
    assert thresholds_from(None) is DEFAULT_THRESHOLDS


def test_an_unknown_threshold_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown threshold 'min_respondent'; known thresholds"):
        thresholds_from({"min_respondent": 4})


@pytest.mark.parametrize("value", ["3", True, -1, 2.5, None])
def test_a_threshold_that_is_not_a_fitting_number_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="threshold 'min_respondents' must"):
        thresholds_from({"min_respondents": value})


def test_a_whole_float_is_accepted_for_a_whole_number_threshold() -> None:
    assert thresholds_from({"min_respondents": 4.0}).min_respondents == 4


def test_an_override_changes_the_score_shown() -> None:
    t = thresholds_from({"min_respondents": 4})
    state = assess(inputs(*READY_ANSWERS), Stage.LAUNCH, TODAY, t)
    assert state.phases[Phase.READY].band is Band.NOT_ENOUGH


# --- focus -------------------------------------------------------------------------------------


def result(p: Phase, band_: Band = Band.DISCUSS, passed: bool = False) -> PhaseResult:
    return PhaseResult(p, 60, band_, (), (), (ExitCheck("x", passed, ""),), 3, 1.0)


def results(**changes: PhaseResult) -> dict[Phase, PhaseResult]:
    out = {p: result(p) for p in Phase}
    out.update({Phase(k): v for k, v in changes.items()})
    return out


def test_launch_works_on_ready_until_it_passes() -> None:
    assert focus_phase(Stage.LAUNCH, results()) is Phase.READY


def test_launch_moves_to_win_once_ready_passes() -> None:
    state = results(ready=result(Phase.READY, passed=True))
    assert focus_phase(Stage.LAUNCH, state) is Phase.WIN


def test_growth_works_on_the_first_of_align_score_trust_that_fails() -> None:
    state = results(align=result(Phase.ALIGN, passed=True))
    assert focus_phase(Stage.GROWTH, state) is Phase.SCORE


def test_growth_goes_back_to_an_earlier_phase_in_the_concern_band() -> None:
    state = results(win=result(Phase.WIN, Band.CONCERN))
    assert focus_phase(Stage.GROWTH, state) is Phase.WIN


def test_a_stage_whose_phases_all_pass_keeps_its_last_phase() -> None:
    state = {p: result(p, passed=True) for p in Phase}
    assert focus_phase(Stage.GROWTH, state) is Phase.TRUST
    assert focus_phase(Stage.MATURITY, state) is Phase.MOMENTUM


def test_reset_goes_back_to_ready() -> None:
    state = {p: result(p, passed=True) for p in Phase}
    assert focus_phase(Stage.RESET, state) is Phase.READY


def test_assess_scores_all_six_phases_and_picks_the_focus() -> None:
    state = assess(inputs(*READY_ANSWERS), Stage.LAUNCH, TODAY)
    assert list(state.phases) == list(Phase)
    assert state.focus is Phase.READY
    assert state.phases[Phase.TRUST].band is Band.NOT_ENOUGH


def test_assess_gives_the_same_state_twice() -> None:
    data = inputs(*READY_ANSWERS, ties=TIES, wins=(days_ago(3),))
    assert assess(data, Stage.GROWTH, TODAY) == assess(data, Stage.GROWTH, TODAY)


# --- readiness check ---------------------------------------------------------------------------


def sheet(**changes: int) -> dict[ReadinessItem, int]:
    out = dict.fromkeys(ReadinessItem, 2)
    out.update({ReadinessItem(k): v for k, v in changes.items()})
    return out


def test_every_item_at_two_is_sixteen_and_not_yet_ready() -> None:
    check = readiness(sheet())
    assert (check.verdict, check.total) == (ReadinessVerdict.ALMOST, 16)
    assert check.reasons == ("total 16 of 24, needs >= 17",)


def test_every_item_at_two_or_more_and_seventeen_in_all_is_ready() -> None:
    check = readiness(sheet(data=3))
    assert (check.verdict, check.total) == (ReadinessVerdict.READY, 17)


def test_any_item_at_zero_is_not_yet_whatever_the_total() -> None:
    check = readiness({**dict.fromkeys(ReadinessItem, 3), ReadinessItem.PURPOSE: 0})
    assert check.total == 21
    assert check.verdict is ReadinessVerdict.NOT_YET
    assert check.reasons[-1] == "not there at all: purpose"


def test_an_item_at_one_keeps_a_high_total_from_being_ready() -> None:
    check = readiness({**dict.fromkeys(ReadinessItem, 3), ReadinessItem.CHAMPION: 1})
    assert check.verdict is ReadinessVerdict.ALMOST
    assert check.reasons[-1] == "below 2: champion"


def test_the_lowest_item_decides_the_first_move() -> None:
    check = readiness(sheet(data=1, urgency=3))
    assert check.lowest is ReadinessItem.DATA
    assert check.first_move.startswith("Pick one number")


def test_a_tie_for_lowest_goes_to_the_first_item_on_the_checklist() -> None:
    assert readiness(sheet(history=1, champion=1)).lowest is ReadinessItem.CHAMPION


def test_the_readiness_check_takes_items_as_stored_text() -> None:
    ratings = {item.value: 3 for item in ReadinessItem}
    assert readiness(ratings).verdict is ReadinessVerdict.READY


def test_an_unknown_or_missing_readiness_item_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown readiness item 'vibes'"):
        readiness({str(k): v for k, v in sheet().items()} | {"vibes": 2})
    partial = sheet()
    del partial[ReadinessItem.DATA]
    with pytest.raises(ValueError, match="readiness items not rated: data"):
        readiness(partial)


def test_a_rating_off_the_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="readiness item 'urgency' must be 0-3, not 4"):
        readiness(sheet(urgency=4))


def test_readiness_sheets_combine_by_their_lower_median() -> None:
    combined = combine_readiness([sheet(urgency=3), sheet(urgency=1), sheet(urgency=2), sheet()])
    assert combined[ReadinessItem.URGENCY] == 2
    assert combined[ReadinessItem.DATA] == 2
    assert combine_readiness([sheet(urgency=3), sheet(urgency=0)])[ReadinessItem.URGENCY] == 0
