"""The cadence calendar: periods, daylight-saving weekends, skips, quiet hours and catch-up."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.cadence import (
    Cadence,
    CadenceError,
    Frequency,
    Step,
    due_steps,
    format_duration,
    next_steps,
    parse_duration,
    period_at,
    periods_between,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def at(zone: ZoneInfo, *args: int) -> datetime:
    """Return a local wall-clock time (first occurrence) as a UTC instant."""
    return datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def cadence(**settings: Any) -> Cadence:
    raw: dict[str, Any] = {
        "timezone": "Europe/London",
        "open": "Tuesday 09:00",
        "close": "Friday 17:00",
        "reminders": ["48h", "24h"],
        "digest_after": "1h",
    }
    raw.update(settings)
    return Cadence.from_mapping({k: v for k, v in raw.items() if v is not None})


def keys(steps: list[Step]) -> list[str]:
    return [s.key for s in steps]


def local_clock(instant: datetime, zone: ZoneInfo) -> tuple[str, str]:
    moment = instant.astimezone(zone)
    return moment.strftime("%a"), moment.strftime("%H:%M")


# --- periods ---------------------------------------------------------------------------------


def test_a_weekly_period_has_its_iso_week_as_key_and_every_instant_in_utc() -> None:
    period = period_at(cadence(), utc(2026, 11, 25, 12))
    assert period.key == "2026-W48"
    assert period.opens_at == utc(2026, 11, 24, 9)
    assert period.reminders == ((1, utc(2026, 11, 25, 17)), (2, utc(2026, 11, 26, 17)))
    assert period.closes_at == utc(2026, 11, 27, 17)
    assert period.digest_at == utc(2026, 11, 27, 18)
    assert period.ends_at == utc(2026, 12, 1, 9)
    assert not period.skipped
    assert keys(period.steps()) == [
        "2026-W48:open",
        "2026-W48:remind:1",
        "2026-W48:remind:2",
        "2026-W48:close",
        "2026-W48:digest",
    ]


def test_an_instant_before_this_weeks_open_belongs_to_last_weeks_period() -> None:
    assert period_at(cadence(), utc(2026, 11, 24, 8, 59)).key == "2026-W47"
    assert period_at(cadence(), utc(2026, 11, 24, 9)).key == "2026-W48"


def test_periods_between_are_consecutive_and_each_ends_when_the_next_opens() -> None:
    periods = periods_between(cadence(), utc(2026, 1, 1), utc(2027, 1, 1))
    assert len(periods) == 52
    assert all(a.ends_at == b.opens_at for a, b in zip(periods, periods[1:], strict=False))
    assert periods[0].opens_at == utc(2026, 1, 6, 9)


def test_the_year_boundary_runs_through_iso_week_53() -> None:
    periods = periods_between(cadence(), utc(2026, 12, 20), utc(2027, 1, 10))
    assert [p.key for p in periods] == ["2026-W52", "2026-W53", "2027-W01"]
    assert periods[1].opens_at == utc(2026, 12, 29, 9)


def test_a_round_opening_on_new_years_day_keeps_the_iso_year_of_its_week() -> None:
    thursday = cadence(open="Thursday 09:00", close="Saturday 12:00")
    assert period_at(thursday, utc(2027, 1, 1, 10)).key == "2026-W53"
    assert period_at(thursday, utc(2027, 1, 8, 10)).key == "2027-W01"


def test_a_close_given_as_a_duration_counts_from_the_open() -> None:
    period = period_at(
        cadence(close=None, close_after="3d 8h", reminders=[]), utc(2026, 11, 24, 10)
    )
    assert period.closes_at == utc(2026, 11, 27, 17)
    assert period.reminders == ()


def test_a_close_on_an_earlier_weekday_falls_in_the_following_week() -> None:
    friday_to_monday = cadence(open="Friday 12:00", close="Monday 12:00", reminders=["24h"])
    assert friday_to_monday.round_length == timedelta(days=3)
    period = period_at(friday_to_monday, utc(2026, 11, 28))
    assert (period.opens_at, period.closes_at) == (utc(2026, 11, 27, 12), utc(2026, 11, 30, 12))


# --- daylight saving --------------------------------------------------------------------------

# (zone, a Monday before the spring change, the Monday after; the same for autumn)
DST_WEEKENDS = [
    pytest.param(LONDON, date(2026, 3, 23), date(2026, 3, 30), id="London spring"),
    pytest.param(LONDON, date(2026, 10, 19), date(2026, 10, 26), id="London autumn"),
    pytest.param(NEW_YORK, date(2026, 3, 2), date(2026, 3, 9), id="New York spring"),
    pytest.param(NEW_YORK, date(2026, 10, 26), date(2026, 11, 2), id="New York autumn"),
    pytest.param(LORD_HOWE, date(2026, 3, 30), date(2026, 4, 6), id="Lord Howe autumn"),
    pytest.param(LORD_HOWE, date(2026, 9, 28), date(2026, 10, 5), id="Lord Howe spring"),
]


@pytest.mark.parametrize(("zone", "before", "after"), DST_WEEKENDS)
def test_a_nine_oclock_open_stays_nine_oclock_local_across_the_change(
    zone: ZoneInfo, before: date, after: date
) -> None:
    weekly = cadence(timezone=zone.key, open="Monday 09:00", close="Wednesday 17:00")
    first = period_at(weekly, at(zone, before.year, before.month, before.day, 12))
    second = period_at(weekly, at(zone, after.year, after.month, after.day, 12))
    for period in (first, second):
        assert local_clock(period.opens_at, zone) == ("Mon", "09:00")
        assert local_clock(period.closes_at, zone) == ("Wed", "17:00")
    # The clocks moved, so the UTC week between the two opens is not 7 x 24 hours.
    assert second.opens_at - first.opens_at != timedelta(days=7)
    assert first.ends_at == second.opens_at


@pytest.mark.parametrize(("zone", "before", "after"), DST_WEEKENDS)
def test_reminders_keep_their_local_time_when_the_clocks_change_in_between(
    zone: ZoneInfo, before: date, after: date
) -> None:
    # A Friday-to-Monday round spans the change weekend; 72h before a Monday 17:00 close is
    # Friday 17:00 on the wall clock, which is 71 or 73 (or 72.5) real hours.
    weekend = cadence(
        timezone=zone.key, open="Friday 09:00", close="Monday 17:00", reminders=["72h", "24h"]
    )
    period = period_at(weekend, at(zone, after.year, after.month, after.day, 12))
    (_, first), (_, second) = period.reminders
    assert local_clock(first, zone) == ("Fri", "17:00")
    assert local_clock(second, zone) == ("Sun", "17:00")
    assert period.closes_at - first != timedelta(hours=72)


@pytest.mark.parametrize(
    ("zone", "sunday", "local_open", "expected_utc"),
    [
        pytest.param(
            LONDON,
            date(2026, 3, 29),
            time(1, 30),
            utc(2026, 3, 29, 1, 30),
            id="London 01:30 becomes 02:30 BST",
        ),
        pytest.param(
            NEW_YORK,
            date(2026, 3, 8),
            time(2, 30),
            utc(2026, 3, 8, 7, 30),
            id="New York 02:30 becomes 03:30 EDT",
        ),
        pytest.param(
            LORD_HOWE,
            date(2026, 10, 4),
            time(2, 15),
            utc(2026, 10, 3, 15, 45),
            id="Lord Howe 02:15 becomes 02:45 in its half-hour gap",
        ),
    ],
)
def test_an_open_in_the_spring_gap_moves_forward_by_the_gap(
    zone: ZoneInfo, sunday: date, local_open: time, expected_utc: datetime
) -> None:
    weekly = cadence(timezone=zone.key, open=f"Sunday {local_open:%H:%M}", close="Tuesday 17:00")
    period = period_at(weekly, datetime.combine(sunday, time(12), tzinfo=zone))
    assert period.opens_at == expected_utc
    # The week before and after, the same local time exists and is kept exactly.
    previous = period_at(weekly, period.opens_at - timedelta(days=3))
    assert previous.opens_at.astimezone(zone).time() == local_open


@pytest.mark.parametrize(
    ("zone", "sunday", "local_open", "expected_utc"),
    [
        pytest.param(
            LONDON,
            date(2026, 10, 25),
            time(1, 30),
            utc(2026, 10, 25, 0, 30),
            id="London 01:30 BST, not GMT",
        ),
        pytest.param(
            NEW_YORK,
            date(2026, 11, 1),
            time(1, 30),
            utc(2026, 11, 1, 5, 30),
            id="New York 01:30 EDT, not EST",
        ),
        pytest.param(
            LORD_HOWE,
            date(2026, 4, 5),
            time(1, 45),
            utc(2026, 4, 4, 14, 45),
            id="Lord Howe 01:45 at +11, not +10:30",
        ),
    ],
)
def test_an_open_at_an_autumn_time_that_happens_twice_takes_the_first(
    zone: ZoneInfo, sunday: date, local_open: time, expected_utc: datetime
) -> None:
    weekly = cadence(timezone=zone.key, open=f"Sunday {local_open:%H:%M}", close="Tuesday 17:00")
    period = period_at(weekly, datetime.combine(sunday, time(12), tzinfo=zone))
    assert period.opens_at == expected_utc
    assert period.opens_at.astimezone(zone).fold == 0


def test_a_tick_every_minute_across_both_london_changes_opens_each_round_once() -> None:
    weekly = cadence(open="Sunday 01:30", close="Tuesday 17:00", reminders=[])
    seen = []
    for start in (utc(2026, 3, 28, 22), utc(2026, 10, 24, 22)):
        last = start
        for minute in range(1, 6 * 60):
            now = start + timedelta(minutes=minute)
            seen += keys(due_steps(weekly, now, last, {k.split(":")[0] for k in seen}))
            last = now
    assert seen == ["2026-W13:open", "2026-W43:open"]


# --- fortnightly and monthly -------------------------------------------------------------------


def test_a_fortnightly_cadence_opens_in_the_anchor_week_and_every_second_week_after() -> None:
    fortnightly = cadence(frequency="fortnightly", anchor="2026-01-08")
    opens = [p.opens_at for p in periods_between(fortnightly, utc(2026, 1, 1), utc(2026, 3, 1))]
    assert opens == [
        utc(2026, 1, 6, 9),
        utc(2026, 1, 20, 9),
        utc(2026, 2, 3, 9),
        utc(2026, 2, 17, 9),
    ]


def test_a_fortnightly_cadence_stays_fourteen_days_apart_across_iso_week_53() -> None:
    fortnightly = cadence(frequency="fortnightly", anchor="2026-12-15")
    periods = periods_between(fortnightly, utc(2026, 12, 10), utc(2027, 2, 1))
    assert [p.key for p in periods] == ["2026-W51", "2026-W53", "2027-W02", "2027-W04"]
    assert all(
        b.opens_at - a.opens_at == timedelta(days=14)
        for a, b in zip(periods, periods[1:], strict=False)
    )


def test_an_instant_in_the_off_week_belongs_to_the_fortnight_that_opened_before_it() -> None:
    fortnightly = cadence(frequency="fortnightly", anchor="2026-01-06")
    period = period_at(fortnightly, utc(2026, 1, 14, 12))
    assert period.key == "2026-W02"
    assert period.ends_at == utc(2026, 1, 20, 9)


def test_an_anchor_in_the_future_still_fixes_the_weeks_before_it() -> None:
    fortnightly = cadence(frequency="fortnightly", anchor="2030-01-01")
    period = period_at(fortnightly, utc(2026, 6, 1))
    assert (datetime(2030, 1, 1, 9, tzinfo=UTC) - period.opens_at).days % 14 == 0


@pytest.mark.parametrize(
    ("opening", "expected_days"),
    [
        ("first Tuesday 09:00", [date(2026, 11, 3), date(2026, 12, 1), date(2027, 1, 5)]),
        ("Tuesday 09:00", [date(2026, 11, 3), date(2026, 12, 1), date(2027, 1, 5)]),
        ("second Monday 09:00", [date(2026, 11, 9), date(2026, 12, 14), date(2027, 1, 11)]),
        ("last Friday 09:00", [date(2026, 11, 27), date(2026, 12, 25), date(2027, 1, 29)]),
    ],
)
def test_a_monthly_cadence_opens_on_the_named_weekday_of_each_month(
    opening: str, expected_days: list[date]
) -> None:
    monthly = cadence(frequency="monthly", open=opening, close=None, close_after="4d")
    periods = periods_between(monthly, utc(2026, 11, 1), utc(2027, 2, 1))
    assert [p.opens_at.astimezone(LONDON).date() for p in periods] == expected_days
    assert [p.key for p in periods] == ["2026-11", "2026-12", "2027-01"]


def test_a_monthly_period_lasts_until_the_next_months_open() -> None:
    monthly = cadence(frequency="monthly", close=None, close_after="7d")
    period = period_at(monthly, utc(2026, 11, 30))
    assert (period.key, period.ends_at) == ("2026-11", utc(2026, 12, 1, 9))


# --- skipped weeks ------------------------------------------------------------------------------


def test_a_skipped_week_keeps_its_place_but_has_no_steps() -> None:
    holiday = cadence(skip=["2026-12-24", "2026-W53"])
    periods = periods_between(holiday, utc(2026, 12, 14), utc(2027, 1, 10))
    assert [(p.key, p.skipped) for p in periods] == [
        ("2026-W51", False),
        ("2026-W52", True),
        ("2026-W53", True),
        ("2027-W01", False),
    ]
    assert periods[1].steps() == []


def test_a_skipped_week_produces_nothing_due_and_is_left_out_of_the_upcoming_steps() -> None:
    holiday = cadence(skip=["2026-W52"])
    assert due_steps(holiday, utc(2026, 12, 26), utc(2026, 12, 21), NONE) == []
    upcoming = next_steps(holiday, utc(2026, 12, 19), 3)
    assert keys(upcoming) == ["2026-W53:open", "2026-W53:remind:1", "2026-W53:remind:2"]


def test_a_skipped_month_skips_every_weekly_round_opening_in_it() -> None:
    summer = cadence(skip=["2026-08"])
    periods = periods_between(summer, utc(2026, 7, 27), utc(2026, 9, 8))
    assert [p.opens_at.date() for p in periods if not p.skipped] == [
        date(2026, 7, 28),
        date(2026, 9, 1),
    ]


# --- quiet hours and reminder spacing -----------------------------------------------------------


def test_a_reminder_in_quiet_hours_moves_to_their_end() -> None:
    quiet = cadence(close="Friday 10:00", reminders=["36h", "12h"], quiet_hours="21:00-08:00")
    period = period_at(quiet, utc(2026, 11, 25))
    # 36h before is Wednesday 22:00 -> Thursday 08:00; 12h before is Thursday 22:00 -> Friday 08:00.
    assert period.reminders == ((1, utc(2026, 11, 26, 8)), (2, utc(2026, 11, 27, 8)))


def test_quiet_hours_within_one_day_move_a_reminder_to_their_end_the_same_day() -> None:
    lunch = cadence(close="Friday 17:00", reminders=["4h"], quiet_hours="12:00-14:00")
    assert period_at(lunch, utc(2026, 11, 25)).reminders == ((1, utc(2026, 11, 27, 14)),)


def test_a_reminder_that_quiet_hours_would_push_past_the_close_is_dropped() -> None:
    early = cadence(close="Friday 07:30", reminders=["40h", "10h"], quiet_hours="21:00-08:00")
    period = period_at(early, utc(2026, 11, 25))
    # 10h before is Thursday 21:30, whose quiet hours end at 08:00, after the 07:30 close.
    assert period.reminders == ((1, utc(2026, 11, 25, 15, 30)),)


def test_reminders_that_quiet_hours_bring_too_close_together_keep_the_later_one() -> None:
    crowded = cadence(
        close="Friday 12:00",
        reminders=["14h", "13h"],
        min_reminder_gap="30m",
        quiet_hours="21:00-08:00",
    )
    # Both fall in Thursday night's quiet hours and would go out together at 08:00.
    assert period_at(crowded, utc(2026, 11, 25)).reminders == ((2, utc(2026, 11, 27, 8)),)


# --- catch-up after downtime --------------------------------------------------------------------


NONE: frozenset[str] = frozenset()
W47, W48 = frozenset({"2026-W47"}), frozenset({"2026-W48"})


def test_a_tick_after_the_open_opens_the_round() -> None:
    steps = due_steps(cadence(), utc(2026, 11, 24, 9), utc(2026, 11, 24, 8, 59), NONE)
    assert [(s.key, s.due_at) for s in steps] == [("2026-W48:open", utc(2026, 11, 24, 9))]


def test_a_tick_run_twice_gives_the_same_step_keys() -> None:
    weekly = cadence()
    now, last = utc(2026, 11, 24, 12), utc(2026, 11, 20)
    first, second = due_steps(weekly, now, last, W47), due_steps(weekly, now, last, W47)
    assert keys(first) == keys(second) == ["2026-W47:close", "2026-W47:digest", "2026-W48:open"]


def test_the_next_tick_after_one_that_ran_finds_nothing_new() -> None:
    weekly = cadence()
    first = due_steps(weekly, utc(2026, 11, 24, 9, 1), utc(2026, 11, 24, 8, 59), NONE)
    assert keys(first) == ["2026-W48:open"]
    assert due_steps(weekly, utc(2026, 11, 24, 9, 2), utc(2026, 11, 24, 9, 1), W48) == []


def test_after_three_hours_down_across_the_open_the_round_still_opens() -> None:
    steps = due_steps(cadence(), utc(2026, 11, 24, 11), utc(2026, 11, 24, 8), NONE)
    assert [(s.key, s.due_at) for s in steps] == [("2026-W48:open", utc(2026, 11, 24, 9))]


def test_after_three_hours_down_across_two_reminders_only_the_latest_is_sent() -> None:
    tight = cadence(reminders=["6h", "4h"], min_reminder_gap="2h")
    steps = due_steps(tight, utc(2026, 11, 27, 14), utc(2026, 11, 27, 11), W48)
    assert [(s.key, s.due_at) for s in steps] == [("2026-W48:remind:2", utc(2026, 11, 27, 13))]


def test_a_round_opened_late_gets_no_reminder_in_the_same_tick() -> None:
    steps = due_steps(cadence(), utc(2026, 11, 26, 18), utc(2026, 11, 23), NONE)
    assert keys(steps) == ["2026-W48:open"]
    assert due_steps(cadence(), utc(2026, 11, 26, 18, 1), utc(2026, 11, 26, 18), W48) == []


def test_after_three_hours_down_across_the_close_the_round_closes_and_the_digest_goes() -> None:
    steps = due_steps(cadence(), utc(2026, 11, 27, 19), utc(2026, 11, 27, 16), W48)
    assert keys(steps) == ["2026-W48:close", "2026-W48:digest"]


def test_a_missed_reminder_is_not_sent_once_the_close_has_passed() -> None:
    steps = due_steps(cadence(), utc(2026, 11, 27, 17, 30), utc(2026, 11, 26, 12), W48)
    assert keys(steps) == ["2026-W48:close"]


def test_a_missed_reminder_is_not_sent_in_the_middle_of_quiet_hours() -> None:
    quiet = cadence(quiet_hours="21:00-08:00")
    assert due_steps(quiet, utc(2026, 11, 26, 23), utc(2026, 11, 26, 16), W48) == []
    assert keys(due_steps(quiet, utc(2026, 11, 26, 20), utc(2026, 11, 26, 16), W48)) == [
        "2026-W48:remind:2"
    ]


def test_a_reminder_a_slow_tick_finds_just_after_quiet_hours_began_is_still_sent() -> None:
    quiet = cadence(close="Friday 20:50", reminders=["24h"], quiet_hours="21:00-08:00")
    steps = due_steps(quiet, utc(2026, 11, 26, 21, 2), utc(2026, 11, 26, 20, 49), W48)
    assert [(s.key, s.due_at) for s in steps] == [("2026-W48:remind:1", utc(2026, 11, 26, 20, 50))]


def test_after_nine_days_down_last_weeks_round_closes_and_this_weeks_opens() -> None:
    steps = due_steps(cadence(), utc(2026, 12, 3, 10), utc(2026, 11, 24, 10), W48)
    assert [(s.key, s.due_at) for s in steps] == [
        ("2026-W48:close", utc(2026, 11, 27, 17)),
        ("2026-W48:digest", utc(2026, 11, 27, 18)),
        ("2026-W49:open", utc(2026, 12, 1, 9)),
    ]


def test_after_nine_days_down_a_round_whose_week_has_passed_is_never_opened() -> None:
    steps = due_steps(cadence(), utc(2026, 12, 5, 18), utc(2026, 11, 26, 18), W48)
    assert keys(steps) == ["2026-W48:close", "2026-W48:digest"]
    # Nor is it closed or digested later: it has no round.
    assert due_steps(cadence(), utc(2026, 12, 12), utc(2026, 12, 5, 18), W48) == []


def test_a_cadence_switched_on_after_this_weeks_open_waits_for_next_week() -> None:
    weekly = cadence()
    switched_on = utc(2026, 11, 25, 12)
    assert due_steps(weekly, switched_on + timedelta(minutes=1), switched_on, NONE) == []
    assert due_steps(weekly, utc(2026, 11, 27, 18), switched_on, NONE) == []
    assert keys(due_steps(weekly, utc(2026, 12, 1, 9), utc(2026, 12, 1, 8), NONE)) == [
        "2026-W49:open"
    ]


def test_a_round_started_by_hand_gets_its_reminders_close_and_digest_but_no_second_open() -> None:
    weekly = cadence()
    assert due_steps(weekly, utc(2026, 11, 24, 9, 1), utc(2026, 11, 24, 8, 59), W48) == []
    assert keys(due_steps(weekly, utc(2026, 11, 25, 17), utc(2026, 11, 25, 16), W48)) == [
        "2026-W48:remind:1"
    ]
    assert keys(due_steps(weekly, utc(2026, 11, 27, 18), utc(2026, 11, 26, 18), W48)) == [
        "2026-W48:close",
        "2026-W48:digest",
    ]


def test_a_round_started_by_hand_in_a_skipped_week_still_closes() -> None:
    holiday = cadence(skip=["2026-W48"])
    assert keys(due_steps(holiday, utc(2026, 11, 27, 19), utc(2026, 11, 27, 16), W48)) == [
        "2026-W48:close",
        "2026-W48:digest",
    ]


def test_a_round_left_out_of_the_open_rounds_is_neither_reminded_nor_closed() -> None:
    assert due_steps(cadence(), utc(2026, 11, 27, 19), utc(2026, 11, 25, 16), NONE) == []


def test_a_digest_later_than_the_close_comes_on_its_own_tick() -> None:
    slow = cadence(digest_after="14h")
    assert keys(due_steps(slow, utc(2026, 11, 27, 17, 1), utc(2026, 11, 27, 16), W48)) == [
        "2026-W48:close"
    ]
    assert keys(due_steps(slow, utc(2026, 11, 28, 7, 1), utc(2026, 11, 28, 6), W48)) == [
        "2026-W48:digest"
    ]


def test_due_steps_refuses_naive_datetimes_and_a_last_tick_after_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_steps(cadence(), datetime(2026, 11, 24, 9), utc(2026, 11, 24, 8), NONE)
    with pytest.raises(ValueError, match="after now"):
        due_steps(cadence(), utc(2026, 11, 24, 8), utc(2026, 11, 24, 9), NONE)


def test_a_tick_window_with_no_length_finds_nothing() -> None:
    assert due_steps(cadence(), utc(2026, 11, 24, 9), utc(2026, 11, 24, 9), NONE) == []


# --- upcoming schedule --------------------------------------------------------------------------


def test_next_steps_lists_the_rest_of_this_round_then_the_next_ones_in_order() -> None:
    upcoming = next_steps(cadence(), utc(2026, 11, 25, 18), 6)
    assert [(s.key, s.due_at) for s in upcoming] == [
        ("2026-W48:remind:2", utc(2026, 11, 26, 17)),
        ("2026-W48:close", utc(2026, 11, 27, 17)),
        ("2026-W48:digest", utc(2026, 11, 27, 18)),
        ("2026-W49:open", utc(2026, 12, 1, 9)),
        ("2026-W49:remind:1", utc(2026, 12, 2, 17)),
        ("2026-W49:remind:2", utc(2026, 12, 3, 17)),
    ]


def test_next_steps_include_a_digest_still_due_from_a_period_that_has_ended() -> None:
    late = cadence(open="Monday 09:00", close="Friday 17:00", digest_after="3d")
    upcoming = next_steps(late, utc(2026, 11, 30, 10), 1)
    assert keys(upcoming) == ["2026-W48:digest"]


def test_next_steps_of_zero_is_empty() -> None:
    assert next_steps(cadence(), utc(2026, 11, 25), 0) == []


# --- reading a coalition file -------------------------------------------------------------------


def test_the_smallest_cadence_needs_only_the_open_and_takes_the_coalitions_zone() -> None:
    smallest = Cadence.from_mapping({"open": "tue 09:00"}, default_timezone="America/New_York")
    assert smallest.timezone == "America/New_York"
    assert smallest.frequency is Frequency.WEEKLY
    assert (smallest.open_weekday, smallest.open_time) == (1, time(9))
    assert smallest.close_after == timedelta(days=3)
    assert smallest.reminders == (timedelta(hours=48), timedelta(hours=24))


def test_default_reminders_that_would_fall_before_the_open_are_left_out() -> None:
    short = Cadence.from_mapping({"open": "Tuesday 09:00", "close_after": "30h"})
    assert short.reminders == (timedelta(hours=24),)


def test_a_misspelt_weekday_suggests_the_right_one() -> None:
    with pytest.raises(CadenceError) as caught:
        Cadence.from_mapping({"open": "Tusday 09:00"})
    assert caught.value.problems == [
        "cadence.open: 'Tusday' is not a weekday; did you mean 'Tuesday'?"
    ]


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(CadenceError) as caught:
        Cadence.from_mapping(
            {
                "timezone": "Europe/Londres",
                "frequency": "fortnighly",
                "open": "Tuesday 9am",
                "close": "Friday 17:00",
                "close_after": "2d",
                "reminders": ["48h", "soon"],
                "digest_after": "10d",
                "quiet_hours": "22:00",
                "skip": ["2027-W53", "Xmas"],
                "remniders": ["24h"],
                "colour": "blue",
            }
        )
    problems = caught.value.problems
    assert problems == [
        "cadence.remniders: is not a cadence setting; did you mean 'reminders'?",
        "cadence.colour: is not a cadence setting; the settings are timezone, frequency, open, "
        "anchor, close, close_after, reminders, max_reminders, min_reminder_gap, digest_after, "
        "quiet_hours, skip",
        "cadence.timezone: 'Europe/Londres' is not a time zone (e.g. Europe/London)",
        "cadence.frequency: 'fortnighly' is not one of weekly, fortnightly, monthly; "
        "did you mean 'fortnightly'?",
        "cadence.open: '9am' is not a time of day like '09:00' (24-hour clock)",
        "cadence.close: give either close or close_after, not both",
        "cadence.reminders: 'soon' is not a duration like '48h', '2d' or '90m'",
        "cadence.quiet_hours: '22:00' should be a start and an end, like '21:00-08:00'",
        "cadence.skip: '2027-W53': 2027 has no ISO week 53",
        "cadence.skip: 'Xmas' is not a date ('2026-12-24'), an ISO week ('2026-W52') or a "
        "month ('2026-08')",
        "cadence.digest_after: should be between 0h and 7d after the close, got 10d",
    ]


def test_a_missing_open_is_a_problem() -> None:
    with pytest.raises(CadenceError, match=r"\[cadence\]\.open: is missing"):
        Cadence.from_mapping({"close": "Friday 17:00"}, where="[cadence]")


def test_problems_name_the_place_in_the_file_they_came_from() -> None:
    with pytest.raises(CadenceError) as caught:
        Cadence.from_mapping({"open": "Funday 09:00"}, where="riverside.toml [cadence]")
    assert caught.value.problems[0].startswith("riverside.toml [cadence].open: 'Funday'")


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"frequency": "fortnightly"},
            "cadence.anchor: a fortnightly cadence needs an anchor: a date in a week that has a "
            "round, like '2026-01-06'",
        ),
        (
            {"anchor": "2026-01-06"},
            "cadence.anchor: only a fortnightly cadence has an anchor, this one is weekly",
        ),
        (
            {"open": "first Tuesday 09:00"},
            "cadence.open: 'first Tuesday 09:00': 'first' only applies to a monthly cadence; "
            "write a weekday and a time, like 'Tuesday 09:00'",
        ),
        (
            {"open": "fifth Tuesday 09:00", "frequency": "monthly"},
            "cadence.open: 'fifth Tuesday 09:00': not every month has a fifth Tuesday; use 'last'",
        ),
        (
            {"close": None, "close_after": "8d"},
            "cadence.close_after: a weekly round must close within 7d of opening, before the next "
            "one opens; this one is open 8d",
        ),
        (
            {"close": None, "close_after": "30m", "reminders": []},
            "cadence.close_after: a round must stay open at least 1h, this one is open 30m",
        ),
        (
            {"close": "Wednesday 09:00", "reminders": ["48h", "12h"]},
            "cadence.reminders: '2d' before the close is not after the open (the round is open 1d)",
        ),
        (
            {"reminders": ["48h", "40h"]},
            "cadence.reminders: '2d' and '1d16h' are less than 12h apart (min_reminder_gap)",
        ),
        ({"reminders": ["24h", "24h"]}, "cadence.reminders: '1d' appears twice"),
        (
            {"reminders": ["72h", "48h", "24h"], "max_reminders": 2},
            "cadence.reminders: 3 reminders but max_reminders is 2",
        ),
        ({"max_reminders": "two"}, "cadence.max_reminders: should be a whole number, got 'two'"),
        ({"max_reminders": 11}, "cadence.max_reminders: should be 0 to 10, got 11"),
        (
            {"reminders": "48h"},
            "cadence.reminders: should be a list of durations before the close, like ['48h', "
            "'24h'], got '48h'",
        ),
        (
            {"quiet_hours": "08:00-08:00"},
            "cadence.quiet_hours: '08:00-08:00' starts and ends at the same time",
        ),
        (
            {"close": "Friday 25:00"},
            "cadence.close: '25:00' is not a time of day like '09:00' (24-hour clock)",
        ),
        ({"open": 9}, "cadence.open: should be text, got 9"),
        (
            {"skip": "2026-12-24"},
            "cadence.skip: should be a list of dates, ISO weeks or months, like ['2026-12-24', "
            "'2027-W01'], got '2026-12-24'",
        ),
    ],
)
def test_a_bad_setting_is_reported_in_words(settings: dict[str, Any], problem: str) -> None:
    raw: dict[str, Any] = {
        "timezone": "UTC",
        "open": "Tuesday 09:00",
        "close": "Friday 17:00",
        "reminders": ["48h", "24h"],
    }
    raw.update(settings)
    with pytest.raises(CadenceError) as caught:
        Cadence.from_mapping({k: v for k, v in raw.items() if v is not None})
    assert caught.value.problems == [problem]


def test_building_a_cadence_directly_checks_the_same_rules() -> None:
    with pytest.raises(CadenceError, match="needs an anchor"):
        Cadence(
            timezone="UTC",
            open_weekday=1,
            open_time=time(9),
            frequency=Frequency.FORTNIGHTLY,
            close_after=timedelta(days=2),
        )


def test_dates_written_unquoted_in_toml_are_read_as_dates() -> None:
    fortnightly = cadence(
        frequency="fortnightly", anchor=date(2026, 1, 6), skip=[date(2026, 12, 24)]
    )
    assert (fortnightly.anchor, fortnightly.skip) == (date(2026, 1, 6), frozenset({"2026-W52"}))


def test_next_steps_can_look_far_ahead() -> None:
    upcoming = next_steps(cadence(skip=["2027-01"]), utc(2026, 11, 25), 400)
    assert len(upcoming) == 400
    assert [s.due_at for s in upcoming] == sorted(s.due_at for s in upcoming)
    assert not [s for s in upcoming if s.period in {"2027-W01", "2027-W02", "2027-W03", "2027-W04"}]


def test_skip_entries_are_kept_as_the_iso_weeks_and_months_they_name() -> None:
    holiday = cadence(skip=["2026-12-24", "2026-w53", "2026-08"])
    assert holiday.skip == frozenset({"2026-W52", "2026-W53", "2026-08"})


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"frequency": "fortnightly", "anchor": "2026-01-06", "quiet_hours": "21:00-08:00"},
        {
            "frequency": "monthly",
            "open": "last Friday 10:30",
            "close": None,
            "close_after": "3d 12h",
            "reminders": ["36h", "90m"],
            "min_reminder_gap": "1h",
            "max_reminders": 5,
            "digest_after": "0h",
            "skip": ["2026-08", "2026-12-24"],
        },
    ],
)
def test_a_cadence_written_out_reads_back_the_same(settings: dict[str, Any]) -> None:
    original = cadence(**settings)
    assert Cadence.from_mapping(original.to_mapping()) == original


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("48h", timedelta(hours=48)),
        ("2d", timedelta(days=2)),
        ("90m", timedelta(minutes=90)),
        ("1d 12h", timedelta(days=1, hours=12)),
        ("1D12H30M", timedelta(hours=36, minutes=30)),
    ],
)
def test_durations_read_days_hours_and_minutes(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize("text", ["", "h", "48", "two days", "-4h", "4h 2d"])
def test_a_duration_without_units_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


# --- properties ---------------------------------------------------------------------------------

ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "America/Santiago",
    "Pacific/Chatham",
    "UTC",
]
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
cadences = st.builds(
    lambda zone, frequency, weekday, hour, minute, quiet: cadence(
        timezone=zone,
        frequency=frequency,
        open=f"{weekday} {hour:02d}:{minute:02d}",
        anchor="2026-01-06" if frequency == "fortnightly" else None,
        quiet_hours="21:00-08:00" if quiet else None,
        skip=["2026-W53", "2027-01"],
    ),
    st.sampled_from(ZONES),
    st.sampled_from(["weekly", "fortnightly", "monthly"]),
    st.sampled_from(["Monday", "Tuesday", "Sunday"]),
    st.integers(0, 23),
    st.sampled_from([0, 15, 30]),
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(cadences, instants)
def test_the_period_at_an_instant_contains_it_and_its_steps_run_in_order(
    weekly: Cadence, instant: datetime
) -> None:
    period = period_at(weekly, instant)
    assert period.opens_at <= instant < period.ends_at
    times = [period.opens_at, *(t for _, t in period.reminders), period.closes_at]
    assert times == sorted(set(times))
    assert period.closes_at <= period.digest_at
    assert period.closes_at <= period.ends_at
    assert period_at(weekly, period.ends_at).opens_at == period.ends_at


@settings(max_examples=25, deadline=None)
@given(cadences, instants, st.lists(st.integers(1, 60 * 30), min_size=20, max_size=60))
def test_ticks_at_any_pace_do_each_step_once_and_only_while_it_means_something(
    weekly: Cadence, start: datetime, gaps: list[int]
) -> None:
    # A scheduler that records a round for each open it claims, ticking with random outages.
    ticks = list(itertools.accumulate([start] + [timedelta(minutes=7 * g) for g in gaps]))
    opened: set[str] = set()
    seen: list[Step] = []
    for last, now in itertools.pairwise(ticks):
        for step in due_steps(weekly, now, last, opened):
            assert last < step.due_at <= now
            seen.append(step)
        opened |= {s.period for s in seen if s.kind == "open"}
    by_key = {s.key: s for s in seen}
    assert len(by_key) == len(seen)
    for period in periods_between(weekly, start + timedelta(microseconds=1), ticks[-1]):
        # The tick that saw the open decides: it opens the round only if the close is ahead.
        seen_at = next(t for t in ticks if t >= period.opens_at)
        if period.skipped or seen_at >= period.closes_at:
            assert not [k for k in by_key if k.startswith(period.key + ":")]
            continue
        assert f"{period.key}:open" in by_key
        assert (f"{period.key}:close" in by_key) == (period.closes_at <= ticks[-1])
        assert (f"{period.key}:digest" in by_key) == (period.digest_at <= ticks[-1])
        for k, at in period.reminders:
            if f"{period.key}:remind:{k}" in by_key:
                assert seen_at < at < period.closes_at


def test_ticking_every_ten_minutes_for_five_weeks_gives_every_step_exactly_once() -> None:
    weekly = cadence(
        timezone="America/New_York",
        open="Monday 09:00",
        close="Thursday 12:00",
        reminders=["48h", "20h"],
        quiet_hours="22:00-07:00",
    )
    start = utc(2026, 10, 18)
    end = start + timedelta(weeks=5)
    seen: list[str] = []
    last = start
    while last < end:
        now = last + timedelta(minutes=10)
        seen += keys(due_steps(weekly, now, last, {k.split(":")[0] for k in seen}))
        last = now
    expected = [
        s.key for p in periods_between(weekly, start, end) for s in p.steps() if s.due_at <= end
    ]
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen)) == 5 * 5
