"""The cadence calendar: when each round opens, reminds, closes and sends its digest.

Pure arithmetic over a `Cadence` and instants passed in: no clock read, no database. Every
schedule is stated on the coalition's own wall clock and every instant returned is in UTC.

Wall-clock rules, so that a "Tuesday 09:00" round stays at 09:00 local all year:

- Durations (close after open, reminders before close, digest after close) are measured on the
  local wall clock: "48h before a Friday 17:00 close" is Wednesday 17:00 even if the clocks
  change in between.
- A local time that does not exist (the spring gap) moves forward by the gap: 01:30 on the
  morning London skips from 01:00 to 02:00 is 02:30 BST.
- A local time that happens twice (the autumn overlap) is its first occurrence (fold=0).

Each period has a stable key: the ISO week of its local open date ("2026-W48") for weekly and
fortnightly cadences, the month ("2026-11") for monthly ones. The keys stay the same when an
admin moves the open day within the week, so a round is never opened twice for one week.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Frequency(StrEnum):
    """How often a round opens."""

    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"


# Step kinds; a reminder's kind is "remind:<k>", k counting the configured reminders from 1.
OPEN = "open"
CLOSE = "close"
DIGEST = "digest"
REMIND = "remind"

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "last": -1,
    "1st": 1,
    "2nd": 2,
    "3rd": 3,
    "4th": 4,
}
ORDINAL_NAMES = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}

# The shortest period of each frequency: a round must close before the next one opens.
SHORTEST_PERIOD = {
    Frequency.WEEKLY: timedelta(days=7),
    Frequency.FORTNIGHTLY: timedelta(days=14),
    Frequency.MONTHLY: timedelta(days=28),
}
# A round shorter than any DST jump could close before it opens once clocks change.
SHORTEST_ROUND = timedelta(hours=1)
LONGEST_DIGEST_DELAY = timedelta(days=7)
MOST_REMINDERS = 10
# A reminder sent this late is on time, even if quiet hours began meanwhile: a slow tick just
# before quiet hours must not lose it. Later than this it is a catch-up, and waits for no one.
PUNCTUAL = timedelta(minutes=15)
DEFAULT_REMINDERS = (timedelta(hours=48), timedelta(hours=24))

MAPPING_KEYS = (
    "timezone",
    "frequency",
    "open",
    "anchor",
    "close",
    "close_after",
    "reminders",
    "max_reminders",
    "min_reminder_gap",
    "digest_after",
    "quiet_hours",
    "skip",
)

# Any Monday: weekly period numbers count weeks from it.
_EPOCH_MONDAY = date(2000, 1, 3)
_KIND_ORDER = {OPEN: 0, REMIND: 1, CLOSE: 2, DIGEST: 3}


class CadenceError(ValueError):
    """A cadence has problems; each names the setting it is about."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the cadence:\n{listing}")


@dataclass(frozen=True)
class Cadence:
    """A coalition's schedule of rounds, stated on its own wall clock.

    Build one from a coalition file's `[cadence]` table with `Cadence.from_mapping`; building
    one directly checks the same rules and raises `CadenceError`.
    """

    timezone: str
    open_weekday: int  # 0 is Monday
    open_time: time
    frequency: Frequency = Frequency.WEEKLY
    # Monthly only: which of the month's open weekdays; 1 to 4, or -1 for the last.
    open_week: int = 1
    # Close either on a weekday and local time after the open, or a duration after it.
    close_weekday: int | None = None
    close_time: time | None = None
    close_after: timedelta | None = None
    # Wall-clock durations before the close; kept earliest first (the longest offset first).
    reminders: tuple[timedelta, ...] = ()
    max_reminders: int = 3
    min_reminder_gap: timedelta = timedelta(hours=12)
    digest_after: timedelta = timedelta(hours=1)
    quiet_start: time | None = None
    quiet_end: time | None = None
    # ISO weeks ("2026-W52") and months ("2026-08"); a round opening in one is skipped.
    skip: frozenset[str] = frozenset()
    # Fortnightly only: a date in a week that has a round.
    anchor: date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "frequency", Frequency(self.frequency))
        object.__setattr__(self, "reminders", tuple(sorted(self.reminders, reverse=True)))
        object.__setattr__(self, "skip", frozenset(self.skip))
        problems = [message for _, message in _rule_problems(self, "cadence")]
        if problems:
            raise CadenceError(problems)

    @property
    def zone(self) -> ZoneInfo:
        """Return the coalition's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def round_length(self) -> timedelta:
        """Return the wall-clock time from a round's open to its close."""
        return _round_length_of(vars(self))

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any], *, default_timezone: str = "UTC", where: str = "cadence"
    ) -> Cadence:
        """Check a coalition file's cadence settings and build the cadence, or list every problem.

        Keys: timezone, frequency, open, anchor, close or close_after, reminders,
        max_reminders, min_reminder_gap, digest_after, quiet_hours, skip. Only `open` is
        required; the time zone defaults to the coalition's.
        """
        return _from_mapping(raw, default_timezone=default_timezone, where=where)

    def to_mapping(self) -> dict[str, Any]:
        """Return the settings as `from_mapping` reads them, for storing and editing."""
        opening = f"{WEEKDAYS[self.open_weekday]} {_hhmm(self.open_time)}"
        if self.frequency is Frequency.MONTHLY:
            opening = f"{ORDINAL_NAMES[self.open_week]} {opening}"
        out: dict[str, Any] = {
            "timezone": self.timezone,
            "frequency": str(self.frequency),
            "open": opening,
        }
        if self.anchor is not None:
            out["anchor"] = self.anchor.isoformat()
        if self.close_after is not None:
            out["close_after"] = format_duration(self.close_after)
        else:
            assert self.close_weekday is not None and self.close_time is not None
            out["close"] = f"{WEEKDAYS[self.close_weekday]} {_hhmm(self.close_time)}"
        out["reminders"] = [format_duration(r) for r in self.reminders]
        out["max_reminders"] = self.max_reminders
        out["min_reminder_gap"] = format_duration(self.min_reminder_gap)
        out["digest_after"] = format_duration(self.digest_after)
        if self.quiet_start is not None and self.quiet_end is not None:
            out["quiet_hours"] = f"{_hhmm(self.quiet_start)}-{_hhmm(self.quiet_end)}"
        out["skip"] = sorted(self.skip)
        return out


@dataclass(frozen=True)
class Step:
    """One thing the scheduler does for a period; it claims it by `key`, once."""

    period: str
    kind: str  # open, remind:<k>, close or digest
    due_at: datetime

    @property
    def key(self) -> str:
        """Return the unique claim key, e.g. "2026-W48:remind:2"."""
        return f"{self.period}:{self.kind}"


@dataclass(frozen=True)
class Period:
    """One period of the cadence and the UTC instants of its round."""

    key: str
    opens_at: datetime
    closes_at: datetime
    digest_at: datetime
    ends_at: datetime  # when the next period opens
    # (k, instant) for each reminder that is sent, earliest first; k numbers the configured ones.
    reminders: tuple[tuple[int, datetime], ...] = field(default=())
    skipped: bool = False

    def steps(self) -> list[Step]:
        """Return the period's steps in time order; a skipped period has none."""
        if self.skipped:
            return []
        return (
            [Step(self.key, OPEN, self.opens_at)]
            + [Step(self.key, f"{REMIND}:{k}", at) for k, at in self.reminders]
            + [Step(self.key, CLOSE, self.closes_at), Step(self.key, DIGEST, self.digest_at)]
        )


def period_at(cadence: Cadence, instant: datetime) -> Period:
    """Return the period under way at an instant: the last one opened at or before it."""
    return _period(cadence, _index_at(cadence, _utc(instant, "instant")))


def periods_between(cadence: Cadence, start: datetime, end: datetime) -> list[Period]:
    """Return the periods opening at or after start and before end, skipped ones included."""
    start, end = _utc(start, "start"), _utc(end, "end")
    out = []
    for n in itertools.count(_index_at(cadence, start)):
        period = _period(cadence, n)
        if period.opens_at >= end:
            break
        if period.opens_at >= start:
            out.append(period)
    return out


def due_steps(
    cadence: Cadence, now: datetime, last_tick: datetime, opened: Collection[str]
) -> list[Step]:
    """Return what is due at `now`, given that every tick up to `last_tick` has been done.

    `opened` holds the keys of the periods that have a round, whatever its state now (opened
    by the scheduler or by hand, closed, even cancelled): none of them is opened again.
    Steps falling in (last_tick, now] are due, with the catch-up rules for a scheduler that
    was down in between:

    - open: only for a period with no round, not skipped, only while its close is still
      ahead: a period already past is never opened, and a round opened late gets no reminder
      in the same tick (its invitation is newer than any reminder missed).
    - reminders: only for a round in `opened`, only before the close, only the latest one
      missed (never a burst), and not during quiet hours unless at most PUNCTUAL late (a
      reminder missed in an outage that ends in quiet hours is dropped: the next reminder or
      the close follows).
    - close and digest: only for a round in `opened`, even in a skipped week (a round an
      admin started by hand in a holiday week still closes).

    For the first tick after a cadence is switched on, pass the moment it was switched on as
    `last_tick`. The result depends only on the arguments, so a tick run twice gives the same
    step keys, which the scheduler claims once each.
    """
    now, last_tick = _utc(now, "now"), _utc(last_tick, "last_tick")
    if last_tick > now:
        raise ValueError(f"last_tick {last_tick.isoformat()} is after now {now.isoformat()}")
    opened = frozenset(opened)
    due: list[Step] = []
    first = _index_at(cadence, last_tick)
    while _period(cadence, first - 1).digest_at > last_tick:
        first -= 1
    last = _index_at(cadence, now)
    for n in range(first, last + 1):
        period = _period(cadence, n)
        if period.key not in opened:
            if not period.skipped and last_tick < period.opens_at <= now < period.closes_at:
                due.append(Step(period.key, OPEN, period.opens_at))
            continue  # no round yet: nothing to remind, close or digest
        missed = [(k, at) for k, at in period.reminders if last_tick < at <= now]
        if missed and now < period.closes_at:
            k, at = missed[-1]
            if now - at <= PUNCTUAL or not _in_quiet_hours(cadence, now):
                due.append(Step(period.key, f"{REMIND}:{k}", at))
        if last_tick < period.closes_at <= now:
            due.append(Step(period.key, CLOSE, period.closes_at))
        if last_tick < period.digest_at <= now:
            due.append(Step(period.key, DIGEST, period.digest_at))
    return sorted(due, key=_step_order)


def next_steps(cadence: Cadence, now: datetime, n: int) -> list[Step]:
    """Return the next n steps after now, for showing an admin the schedule."""
    now = _utc(now, "now")
    if n <= 0:
        return []
    index = _index_at(cadence, now)
    while _period(cadence, index - 1).digest_at > now:
        index -= 1
    found: list[Step] = []
    for number in _indexes_from(cadence, index, n):
        period = _period(cadence, number)
        # Every step of this period and the ones after it comes after its open.
        if len(found) >= n and period.opens_at > found[n - 1].due_at:
            break
        found.extend(s for s in period.steps() if s.due_at > now)
        found.sort(key=_step_order)
    return found[:n]


def parse_duration(text: str) -> timedelta:
    """Read a duration like "48h", "2d", "90m" or "1d 12h"; raise ValueError otherwise."""
    match = _DURATION_RE.fullmatch(text.strip().lower()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like '48h', '2d' or '90m'")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def format_duration(delta: timedelta) -> str:
    """Write a duration the way `parse_duration` reads it, e.g. "1d12h"."""
    minutes = int(delta.total_seconds()) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    text = "".join(f"{v}{unit}" for v, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if v)
    return text or "0h"


# --- periods ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _period(cadence: Cadence, n: int) -> Period:
    # Cached because a scheduler asks about the same few periods every minute; both are frozen.
    zone = cadence.zone
    open_local = _open_local(cadence, n)
    close_local = open_local + cadence.round_length
    opens_at = _to_utc(open_local, zone)
    closes_at = _to_utc(close_local, zone)
    candidates = []
    for k, offset in enumerate(cadence.reminders, start=1):
        at = _to_utc(_after_quiet_hours(cadence, close_local - offset), zone)
        if opens_at < at < closes_at:
            candidates.append((k, at))
    # Keep the reminders nearest the close: the last one is the one that gets answers.
    kept: list[tuple[int, datetime]] = []
    for k, at in reversed(candidates):
        if kept and kept[-1][1] - at < cadence.min_reminder_gap:
            continue
        kept.append((k, at))
    return Period(
        key=_period_key(cadence, open_local.date()),
        opens_at=opens_at,
        closes_at=closes_at,
        digest_at=_to_utc(close_local + cadence.digest_after, zone),
        ends_at=_to_utc(_open_local(cadence, n + 1), zone),
        reminders=tuple(reversed(kept)),
        skipped=_is_skipped(cadence, open_local.date()),
    )


def _open_local(cadence: Cadence, n: int) -> datetime:
    """Return the nominal local open of period number n."""
    if cadence.frequency is Frequency.MONTHLY:
        year, month = divmod(n, 12)
        day = _nth_weekday(year, month + 1, cadence.open_weekday, cadence.open_week)
    elif cadence.frequency is Frequency.FORTNIGHTLY:
        day = _anchor_monday(cadence) + timedelta(days=14 * n + cadence.open_weekday)
    else:
        day = _EPOCH_MONDAY + timedelta(days=7 * n + cadence.open_weekday)
    return datetime.combine(day, cadence.open_time)


def _index_at(cadence: Cadence, instant: datetime) -> int:
    """Return the number of the period whose open is the last at or before the instant."""
    local = instant.astimezone(cadence.zone).date()
    monday = local - timedelta(days=local.weekday())
    if cadence.frequency is Frequency.MONTHLY:
        n = local.year * 12 + local.month - 1
    elif cadence.frequency is Frequency.FORTNIGHTLY:
        n = (monday - _anchor_monday(cadence)).days // 14
    else:
        n = (monday - _EPOCH_MONDAY).days // 7
    zone = cadence.zone
    while _to_utc(_open_local(cadence, n), zone) > instant:
        n -= 1
    while _to_utc(_open_local(cadence, n + 1), zone) <= instant:
        n += 1
    return n


def _indexes_from(cadence: Cadence, index: int, steps: int) -> range:
    """Return enough period numbers from index on to hold that many steps, whatever is skipped."""
    # Each round has at least 3 steps; a skipped month takes up to 5 weekly periods.
    return range(index, index + steps + len(cadence.skip) * 5 + 2)


def _anchor_monday(cadence: Cadence) -> date:
    assert cadence.anchor is not None
    return cadence.anchor - timedelta(days=cadence.anchor.weekday())


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> date:
    if nth == -1:
        following = date(year + month // 12, month % 12 + 1, 1)
        last = following - timedelta(days=1)
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))


def _period_key(cadence: Cadence, open_day: date) -> str:
    if cadence.frequency is Frequency.MONTHLY:
        return f"{open_day.year}-{open_day.month:02d}"
    return _iso_week(open_day)


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _is_skipped(cadence: Cadence, open_day: date) -> bool:
    return bool({_iso_week(open_day), f"{open_day.year}-{open_day.month:02d}"} & cadence.skip)


def _step_order(step: Step) -> tuple[datetime, int, str]:
    return step.due_at, _KIND_ORDER[step.kind.split(":")[0]], step.kind


# --- wall clock ------------------------------------------------------------------------------


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Place a naive local time in the zone: gap times move forward, overlaps take the first."""
    # With fold=0, zoneinfo reads a time in a gap with the offset in force before the gap,
    # which lands the same distance past the gap's end.
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _in_quiet_hours(cadence: Cadence, instant: datetime) -> bool:
    local = instant.astimezone(cadence.zone).replace(tzinfo=None)
    return _after_quiet_hours(cadence, local) != local


def _after_quiet_hours(cadence: Cadence, local: datetime) -> datetime:
    """Move a naive local time inside quiet hours to their end; leave others alone."""
    start, end = cadence.quiet_start, cadence.quiet_end
    if start is None or end is None:
        return local
    clock = local.time()
    if start < end:
        inside, day = start <= clock < end, local.date()
    elif clock >= start:
        inside, day = True, local.date() + timedelta(days=1)
    else:
        inside, day = clock < end, local.date()
    return datetime.combine(day, end) if inside else local


def _as_delta(clock: time) -> timedelta:
    return timedelta(hours=clock.hour, minutes=clock.minute, seconds=clock.second)


def _hhmm(clock: time) -> str:
    return f"{clock.hour:02d}:{clock.minute:02d}"


# --- reading and checking the settings --------------------------------------------------------

_DURATION_RE = re.compile(r"(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?")
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})")
_WEEK_RE = re.compile(r"(\d{4})-W(\d{2})")
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")


def _suggest(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    if not match:
        return ""
    original = next(c for c in choices if c.lower() == match[0])
    return f"; did you mean '{original}'?"


def _parse_weekday(word: str) -> int:
    lowered = word.lower()
    for number, name in enumerate(WEEKDAYS):
        if lowered in (name.lower(), name[:3].lower()):
            return number
    raise ValueError(f"{word!r} is not a weekday{_suggest(word, list(WEEKDAYS))}")


def _parse_time(text: str) -> time:
    match = _TIME_RE.fullmatch(text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{text!r} is not a time of day like '09:00' (24-hour clock)")
    return time(int(match[1]), int(match[2]))


def _parse_weekday_time(text: str) -> tuple[int, time]:
    words = text.split()
    if len(words) != 2:
        raise ValueError(f"{text!r} should be a weekday and a time, like 'Tuesday 09:00'")
    return _parse_weekday(words[0]), _parse_time(words[1])


def _parse_open(text: str, frequency: Frequency | None) -> tuple[int, int, time]:
    words = text.split()
    nth = 1
    if len(words) == 3:
        ordinal = words[0].lower()
        if ordinal in ("fifth", "5th"):
            raise ValueError(f"{text!r}: not every month has a fifth {words[1]}; use 'last'")
        if ordinal not in ORDINALS:
            raise ValueError(
                f"{words[0]!r} is not one of first, second, third, fourth, last"
                f"{_suggest(words[0], list(ORDINAL_NAMES.values()))}"
            )
        if frequency is not None and frequency is not Frequency.MONTHLY:
            raise ValueError(
                f"{text!r}: '{words[0]}' only applies to a monthly cadence; "
                "write a weekday and a time, like 'Tuesday 09:00'"
            )
        nth = ORDINALS[ordinal]
        words = words[1:]
    elif len(words) != 2:
        raise ValueError(
            f"{text!r} should be a weekday and a time, like 'Tuesday 09:00'"
            " (monthly: 'first Tuesday 09:00')"
        )
    weekday, clock = _parse_weekday(words[0]), _parse_time(words[1])
    return nth, weekday, clock


def _parse_skip(text: str) -> str:
    """Return the ISO week or month a skip entry names; a date names its ISO week."""
    text = text.strip()
    if match := _WEEK_RE.fullmatch(text.upper()):
        try:
            date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise ValueError(f"{text!r}: {match[1]} has no ISO week {int(match[2])}") from None
        return f"{match[1]}-W{match[2]}"
    if match := _MONTH_RE.fullmatch(text):
        if not 1 <= int(match[2]) <= 12:
            raise ValueError(f"{text!r} is not a month like '2026-08'")
        return text
    try:
        return _iso_week(date.fromisoformat(text))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date ('2026-12-24'), an ISO week ('2026-W52') "
            "or a month ('2026-08')"
        ) from None


def _text(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()  # TOML reads an unquoted 2026-01-06 as a date
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}.{key}: should be text, got {value!r}")
        return None
    return " ".join(value.split())


def _from_mapping(raw: Mapping[str, Any], *, default_timezone: str, where: str) -> Cadence:
    if not isinstance(raw, Mapping):
        raise CadenceError([f"{where}: should be a table of settings, got {raw!r}"])
    problems: list[str] = []
    failed: set[str] = set()

    def read(key: str, parse: Any) -> Any:
        text = _text(raw, key, where, problems)
        if text is None:
            if key in raw:
                failed.add(key)
            return None
        try:
            return parse(text)
        except ValueError as error:
            problems.append(f"{where}.{key}: {error}")
            failed.add(key)
            return None

    for key in raw:
        if key not in MAPPING_KEYS:
            hint = _suggest(str(key), list(MAPPING_KEYS)) or (
                f"; the settings are {', '.join(MAPPING_KEYS)}"
            )
            problems.append(f"{where}.{key}: is not a cadence setting{hint}")

    timezone = read("timezone", str) or default_timezone
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{where}.timezone: {timezone!r} is not a time zone (e.g. Europe/London)")
        failed.add("timezone")
        timezone = "UTC"

    def frequency_of(text: str) -> Frequency:
        try:
            return Frequency(text.lower())
        except ValueError:
            raise ValueError(
                f"{text!r} is not one of weekly, fortnightly, monthly"
                f"{_suggest(text, [str(f) for f in Frequency])}"
            ) from None

    frequency = read("frequency", frequency_of)
    stated = frequency or (None if "frequency" in failed else Frequency.WEEKLY)
    opening = read("open", lambda t: _parse_open(t, stated))
    if "open" not in raw:
        problems.append(f"{where}.open: is missing; say when a round opens, like 'Tuesday 09:00'")
        failed.add("open")
    anchor = read("anchor", date.fromisoformat)
    close = read("close", _parse_weekday_time)
    close_after = read("close_after", parse_duration)
    if "close" in raw and "close_after" in raw:
        problems.append(f"{where}.close: give either close or close_after, not both")
        failed.update({"close", "close_after"})

    reminders: tuple[timedelta, ...] | None = None
    value = raw.get("reminders")
    if value is not None:
        if not isinstance(value, list | tuple):
            problems.append(
                f"{where}.reminders: should be a list of durations before the "
                f"close, like ['48h', '24h'], got {value!r}"
            )
            failed.add("reminders")
        else:
            parsed = []
            for item in value:
                try:
                    parsed.append(parse_duration(item))
                except ValueError as error:
                    problems.append(f"{where}.reminders: {error}")
                    failed.add("reminders")
            reminders = tuple(parsed)

    max_reminders = raw.get("max_reminders", 3)
    if isinstance(max_reminders, bool) or not isinstance(max_reminders, int):
        problems.append(f"{where}.max_reminders: should be a whole number, got {max_reminders!r}")
        failed.add("max_reminders")
        max_reminders = MOST_REMINDERS
    min_gap = read("min_reminder_gap", parse_duration)
    digest_after = read("digest_after", parse_duration)
    quiet = read("quiet_hours", _parse_quiet_hours)

    skip: set[str] = set()
    value = raw.get("skip", [])
    if not isinstance(value, list | tuple):
        problems.append(
            f"{where}.skip: should be a list of dates, ISO weeks or months, "
            f"like ['2026-12-24', '2027-W01'], got {value!r}"
        )
    else:
        for item in value:
            try:
                skip.add(_parse_skip(item) if isinstance(item, str) else _parse_skip(str(item)))
            except ValueError as error:
                problems.append(f"{where}.skip: {error}")

    nth, weekday, clock = opening or (1, 0, time(9))
    fields: dict[str, Any] = {
        "timezone": timezone,
        "frequency": frequency or Frequency.WEEKLY,
        "open_weekday": weekday,
        "open_time": clock,
        "open_week": nth,
        "anchor": anchor,
        "max_reminders": max_reminders,
        "skip": frozenset(skip),
    }
    if close is not None:
        fields["close_weekday"], fields["close_time"] = close
    elif "close" not in raw or "close" in failed:
        fields["close_after"] = close_after or timedelta(days=3)
    if min_gap is not None:
        fields["min_reminder_gap"] = min_gap
    if digest_after is not None:
        fields["digest_after"] = digest_after
    if quiet is not None:
        fields["quiet_start"], fields["quiet_end"] = quiet
    if reminders is not None:
        fields["reminders"] = reminders
    else:
        # The default reminders are those of 48h and 24h that fall after the open.
        length = _round_length_of(fields)
        fields["reminders"] = tuple(r for r in DEFAULT_REMINDERS if r < length)

    draft = _Draft(fields)
    for keys, message in _rule_problems(draft, where):
        if not set(keys) & failed:
            problems.append(message)
    if problems:
        raise CadenceError(problems)
    return Cadence(**fields)


def _parse_quiet_hours(text: str) -> tuple[time, time]:
    parts = [p.strip() for p in text.split("-")]
    if len(parts) != 2:
        raise ValueError(f"{text!r} should be a start and an end, like '21:00-08:00'")
    start, end = _parse_time(parts[0]), _parse_time(parts[1])
    if start == end:
        raise ValueError(f"{text!r} starts and ends at the same time")
    return start, end


class _Draft:
    """Settings not yet built into a Cadence, readable by the same rules."""

    def __init__(self, fields: dict[str, Any]):
        defaults = {
            f: getattr(Cadence, f) for f in Cadence.__dataclass_fields__ if hasattr(Cadence, f)
        }
        self.__dict__.update(defaults | fields)
        self.reminders: tuple[timedelta, ...] = tuple(
            sorted(self.__dict__["reminders"], reverse=True)
        )

    @property
    def round_length(self) -> timedelta:
        return _round_length_of(self.__dict__)


def _round_length_of(fields: Mapping[str, Any]) -> timedelta:
    if fields.get("close_after") is not None:
        length: timedelta = fields["close_after"]
        return length
    days = (fields["close_weekday"] - fields["open_weekday"]) % 7
    length = timedelta(days=days) + (
        _as_delta(fields["close_time"]) - _as_delta(fields["open_time"])
    )
    return length if length > timedelta(0) else length + timedelta(days=7)


def _rule_problems(c: Any, where: str) -> list[tuple[tuple[str, ...], str]]:
    """Check the rules between settings; each problem names the keys it is about."""
    out: list[tuple[tuple[str, ...], str]] = []

    def problem(keys: tuple[str, ...], message: str) -> None:
        out.append((keys, f"{where}.{keys[0]}: {message}"))

    try:
        ZoneInfo(c.timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        problem(("timezone",), f"{c.timezone!r} is not a time zone (e.g. Europe/London)")
    if c.open_weekday not in range(7):
        problem(("open",), f"open_weekday must be 0 (Monday) to 6, got {c.open_weekday!r}")
    if c.open_week not in ORDINAL_NAMES:
        problem(("open",), f"open_week must be 1 to 4 or -1 (last), got {c.open_week!r}")
    elif c.open_week != 1 and c.frequency is not Frequency.MONTHLY:
        problem(
            ("open", "frequency"),
            f"'{ORDINAL_NAMES[c.open_week]}' only applies to a monthly cadence",
        )
    if c.frequency is Frequency.FORTNIGHTLY and c.anchor is None:
        problem(
            ("anchor", "frequency"),
            "a fortnightly cadence needs an anchor: a date in a "
            "week that has a round, like '2026-01-06'",
        )
    if c.frequency is not Frequency.FORTNIGHTLY and c.anchor is not None:
        problem(
            ("anchor", "frequency"),
            f"only a fortnightly cadence has an anchor, this one is {c.frequency}",
        )

    has_weekday = c.close_weekday is not None or c.close_time is not None
    if has_weekday == (c.close_after is not None) or (
        has_weekday and (c.close_weekday is None or c.close_time is None)
    ):
        problem(
            ("close", "close_after"),
            "give either close (a weekday and a time, like "
            "'Friday 17:00') or close_after (a duration after the open, like '72h')",
        )
        return out
    if has_weekday and c.close_weekday not in range(7):
        problem(("close",), f"close_weekday must be 0 (Monday) to 6, got {c.close_weekday!r}")
        return out
    length = c.round_length
    longest = SHORTEST_PERIOD[c.frequency]
    key = "close_after" if c.close_after is not None else "close"
    if length < SHORTEST_ROUND:
        problem(
            (key, "open"),
            f"a round must stay open at least "
            f"{format_duration(SHORTEST_ROUND)}, this one is open "
            f"{format_duration(length)}",
        )
    elif length > longest:
        problem(
            (key, "frequency", "open"),
            f"a {c.frequency} round must close within "
            f"{format_duration(longest)} of opening, before the next one opens; this one "
            f"is open {format_duration(length)}",
        )

    if isinstance(c.max_reminders, bool) or c.max_reminders not in range(MOST_REMINDERS + 1):
        problem(("max_reminders",), f"should be 0 to {MOST_REMINDERS}, got {c.max_reminders!r}")
    elif len(c.reminders) > c.max_reminders:
        problem(
            ("reminders", "max_reminders"),
            f"{len(c.reminders)} reminders but max_reminders is {c.max_reminders}",
        )
    if c.min_reminder_gap < timedelta(0):
        problem(("min_reminder_gap",), "cannot be negative")
    for offset in c.reminders:
        if offset <= timedelta(0):
            problem(("reminders",), f"'{format_duration(offset)}' is not before the close")
        elif offset >= length:
            problem(
                ("reminders", key, "open"),
                f"'{format_duration(offset)}' before the close "
                f"is not after the open (the round is open {format_duration(length)})",
            )
    for later, earlier in zip(c.reminders[1:], c.reminders, strict=False):
        if earlier == later:
            problem(("reminders",), f"'{format_duration(later)}' appears twice")
        elif earlier - later < c.min_reminder_gap:
            problem(
                ("reminders", "min_reminder_gap"),
                f"'{format_duration(earlier)}' and "
                f"'{format_duration(later)}' are less than "
                f"{format_duration(c.min_reminder_gap)} apart (min_reminder_gap)",
            )
    if not timedelta(0) <= c.digest_after <= LONGEST_DIGEST_DELAY:
        problem(
            ("digest_after",),
            f"should be between 0h and "
            f"{format_duration(LONGEST_DIGEST_DELAY)} after the close, got "
            f"{format_duration(c.digest_after)}",
        )
    if (c.quiet_start is None) != (c.quiet_end is None) or (
        c.quiet_start is not None and c.quiet_start == c.quiet_end
    ):
        problem(("quiet_hours",), "quiet hours need a start and a different end")
    for entry in c.skip:
        if not isinstance(entry, str) or not (
            _WEEK_RE.fullmatch(entry) or _MONTH_RE.fullmatch(entry)
        ):
            problem(("skip",), f"{entry!r} is not an ISO week ('2026-W52') or a month ('2026-08')")
    return out
