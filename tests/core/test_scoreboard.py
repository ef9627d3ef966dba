"""The scoreboard's arithmetic, as pure functions over plain rows."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.core.scoreboard import (
    CommitmentRow,
    InvitedPerson,
    MetricRow,
    compute_scoreboard,
    progress,
)


@pytest.mark.parametrize("baseline, target, direction, value, expected", [
    (2100, 3600, "up", 2100, 0),
    (2100, 3600, "up", 2850, 50),
    (2100, 3600, "up", 3600, 100),
    (2100, 3600, "up", 4000, 100),      # beyond target: capped
    (2100, 3600, "up", 1900, 0),        # below baseline: floored
    (340, 0, "down", 170, 50),
    (340, 0, "down", 400, 0),
    (9, 2, "down", 2, 100),
    (9, 2, "down", None, None),         # no reading this round
    (5, 5, "up", 5, None),              # target equals baseline: no scale
])
def test_progress_runs_from_baseline_to_target_in_either_direction(
        baseline, target, direction, value, expected):
    assert progress(baseline, target, direction, value) == expected


def board(**overrides):
    base = dict(as_of=date(2026, 12, 10), invited=[], answered=set(), commitments=[], metrics=[],
                wins=[], blockers=[], pulses=[], help_edges=[])
    return compute_scoreboard(**{**base, **overrides})


def test_response_rate_counts_invited_people_and_names_the_silent():
    result = board(invited=[InvitedPerson(1, "Ana", "Trust"), InvitedPerson(2, "Raj", "Schools"),
                            InvitedPerson(3, "Dee", "Clinic"), InvitedPerson(4, "Kim", "Bikes")],
                   answered={1, 2, 3, 99})
    assert result["response"]["invited"] == 4
    assert result["response"]["answered"] == 3
    assert result["response"]["rate"] == 0.75
    assert result["response"]["silent"] == [{"name": "Kim", "organisation": "Bikes"}]


def test_an_empty_round_has_a_zero_rate_and_no_pulse():
    result = board()
    assert result["response"]["rate"] == 0.0
    assert result["pulse"] == {"average": None, "count": 0}


def test_commitments_are_counted_by_status_grouped_by_organisation_and_overdue_when_open_past_due():
    rows = [
        CommitmentRow("Schools", "Sensors", date(2026, 12, 1), "done", ""),
        CommitmentRow("Schools", "Brief heads", date(2026, 12, 5), "slipping", "late"),
        CommitmentRow("Bikes", "Petition", date(2027, 1, 15), "blocked", ""),
        CommitmentRow("Bikes", "Ride", date(2026, 11, 1), "no_update", ""),
    ]
    result = board(commitments=rows)["commitments"]
    assert result["totals"]["done"] == 1
    assert result["totals"]["slipping"] == 1
    assert result["totals"]["blocked"] == 1
    assert result["totals"]["no_update"] == 1
    assert result["totals"]["overdue"] == 2  # Brief heads and Ride; Sensors is done
    assert [g["organisation"] for g in result["by_organisation"]] == ["Bikes", "Schools"]
    overdue = {i["text"]: i["overdue"] for g in result["by_organisation"] for i in g["items"]}
    assert overdue == {"Sensors": False, "Brief heads": True, "Petition": False, "Ride": True}


def test_metrics_show_change_since_the_last_reading_and_progress():
    result = board(metrics=[
        MetricRow("no2", "NO2", "ug", "Schools", 48, 25, "down", 41.5, 44.0),
        MetricRow("streets", "Streets", "", "Bikes", 2, 12, "up", None, 3.0),
    ])["metrics"]
    assert result[0]["change"] == -2.5
    assert result[0]["progress"] == round((48 - 41.5) / 23 * 100)
    assert result[0]["reported"] is True
    assert result[1]["change"] is None and result[1]["reported"] is False


def test_pulse_is_averaged_and_help_edges_are_listed_once():
    result = board(pulses=[4, 5, 3], help_edges=[("Bikes", "Schools"), ("Bikes", "Schools")])
    assert result["pulse"] == {"average": 4.0, "count": 3}
    assert result["help"] == [{"helper": "Bikes", "helped": "Schools"}]
