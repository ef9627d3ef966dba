"""The snapshot's metric lines and what slipped, over hand-built data."""

from __future__ import annotations

import pytest

from pipeline.core.model import MetricSeries, metric_history, metric_row, slipped


def series(*readings: float | None, direction: str = "down") -> MetricSeries:
    return MetricSeries("no2", "NO2", "ug", "Schools", 48, 25, direction, readings, "rain")


def test_a_metric_line_has_baseline_latest_target_variance_progress_trend_and_freshness() -> None:
    row = metric_row(series(46, 44, 40))
    assert (row["baseline"], row["latest"], row["target"]) == (48, 40, 25)
    assert row["variance"] == -15 and row["progress"] == 35 and row["change"] == -4
    assert (row["trend"], row["trend_rounds"], row["band"]) == ("improving", 2, "green")
    assert row["freshness"] == 0 and row["story"] == "rain"


@pytest.mark.parametrize(("readings", "band"), [
    ((40, None, None), "red"),  # not reported for two rounds
    ((40, 42, 44), "red"),  # worse two readings in a row (down is better)
    ((40, 42), "amber"),  # worse once
    ((40, 40), "amber"),  # flat
    ((30, 24), "green"),  # reached the target
])
def test_a_metric_band_follows_freshness_and_the_trend_by_polarity(readings, band) -> None:
    assert metric_row(series(*readings))["band"] == band


def test_the_moves_see_rounds_reported_and_readings_that_went_the_wrong_way() -> None:
    history = metric_history(series(40, None, 42, 44))
    assert history.updated == (True, False, True, True)
    assert history.below_forecast == (True, True)


def phase(band: str, *exits: tuple[str, bool]) -> dict:
    return {"label": "Win", "band": band, "score": {"strong": 80, "discuss": 60,
                                                    "concern": 40}.get(band),
            "exits": [{"name": n, "passed": p, "detail": f"{n} detail"} for n, p in exits]}


def test_a_phase_that_fell_a_band_or_lost_an_exit_test_slipped_and_says_why() -> None:
    before = {"phases": {"win": phase("strong", ("echo", True)),
                         "trust": phase("discuss", ("ties", True))}}
    now = {"phases": {"win": phase("concern", ("echo", False)),
                      "trust": phase("discuss", ("ties", True))}}
    out = slipped(before, now)
    words = out[0].pop("words")
    assert out == [{"kind": "phase", "name": "win",
                    "what": "Win fell from strong (80) to concern (40)",
                    "why": "echo: echo detail"}]
    # The same sentence kept for translation: its msgid and values, the band and label too.
    assert words["what"]["values"]["before"] == {"msgid": "strong", "values": {}}
    assert words["what"]["values"]["phase"] == {"msgid": "Win", "values": {}}


def test_nothing_slips_on_the_first_round_or_when_nothing_got_worse() -> None:
    now = {"phases": {"win": phase("discuss", ("echo", True))}}
    assert slipped(None, now) == []
    assert slipped({"phases": {"win": phase("concern", ("echo", False))}}, now) == []
