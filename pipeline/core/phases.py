"""The six COS phases: item scores, phase scores, bands, exit tests, focus and the readiness check.

Everything here follows ../shared/PLAYBOOK.md; every number is a default in ``Thresholds`` that a
coalition can override (``thresholds_from``). The rules, in the order the code applies them:

- Window: only answers dated within ``window_days`` (28) up to and including ``today`` count.
  For opinion items each person's latest answer counts once; for the weekly tallies (A1 our piece
  this week, S3 numbers on time) every answer in the window counts.
- Perception items are 1-5 agreement or "not sure" (``None``): "not sure" is left out of the
  score but counted, as a response and as a signal. Item score = (mean answer - 1) x 25.
- Spread: the share of scored answers that disagree (1 or 2); agreement is 4 or 5.
- Enough answers: a phase score is shown only when the phase's respondents (people with any
  answer to its items in the window, "not sure" included) are at least ``min_response`` of the
  partners asked and every part of its formula rests on at least ``min_respondents`` answers.
  Otherwise the band is "not enough answers" and the exit tests still report what they can.
- Phase scores are rounded to whole points (half up) before banding: >= 75 strong, 50-74
  discuss, < 50 concern.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pipeline.core.echo import EchoMark
from pipeline.core.vocab import Stage
from pipeline.core.words import N_, Words, words


class Phase(StrEnum):
    """The six phases of the COS loop, in loop order."""

    READY = "ready"
    WIN = "win"
    ALIGN = "align"
    SCORE = "score"
    TRUST = "trust"
    MOMENTUM = "momentum"

    @property
    def label(self) -> str:
        """Return the phase's name as people read it."""
        return self.value.capitalize()


class Band(StrEnum):
    """Where a score sits."""

    STRONG = "strong"
    DISCUSS = "discuss"
    CONCERN = "concern"
    NOT_ENOUGH = "not enough answers"


# Which phase each item belongs to, by the playbook's item codes.
ITEM_PHASE = {
    code: phase
    for phase, codes in (
        (Phase.READY, ("R1", "R2", "R3", "R4")),
        (Phase.WIN, ("W1", "W2", "W3")),
        (Phase.ALIGN, ("A1", "A2", "A3")),
        (Phase.SCORE, ("S1", "S2", "S3")),
        (Phase.TRUST, ("T1", "T2", "T3")),
        (Phase.MOMENTUM, ("M1", "M2", "M3")),
    )
    for code in codes
}

# The agreement items (1-5 or not sure) each phase scores.
AGREEMENT_ITEMS = ("R1", "R2", "R3", "W2", "W3", "A2", "A3", "S2", "T2", "T3", "M2", "M3")

# Choice answers, spelled as the form stores them.
HOURS_CHOICES = ("0", "<2", "2-5", "6-10", ">10")  # R4
HOURS_AT_LEAST_TWO = frozenset({"2-5", "6-10", ">10"})
PIECE_CREDIT = {"done": 1.0, "partly": 0.5, "not_yet": 0.0}  # A1; "no_piece" is not counted
ON_TIME_CREDIT = {"yes": 1.0, "late": 0.0, "no": 0.0}  # S3; "not_ours" is not counted

STAGE_PHASES: Mapping[Stage, tuple[Phase, ...]] = {
    Stage.LAUNCH: (Phase.READY, Phase.WIN),
    Stage.GROWTH: (Phase.ALIGN, Phase.SCORE, Phase.TRUST),
    Stage.MATURITY: (Phase.MOMENTUM,),
    Stage.RESET: (Phase.READY, Phase.WIN),
}


@dataclass(frozen=True)
class Thresholds:
    """The playbook's numbers; a coalition overrides any of them in its file.

    Shares are fractions (0.4 is 40%), scores are 0-100 points, means are on the 1-5 scale.
    """

    # showing a score
    min_respondents: int = 3
    min_response: float = 0.40
    window_days: int = 28
    strong: int = 75
    discuss: int = 50
    # Ready
    ready_cap: int = 49
    ready_hours_share: float = 0.5
    ready_exit_score: int = 70
    ready_exit_item_mean: float = 3.0
    ready_exit_organisations: float = 0.60
    # Win
    win_exit_echo: float = 70.0
    win_exit_echo_partners: float = 0.60
    win_exit_w3_mean: float = 4.0
    # Align
    align_exit_named_roles: float = 0.80
    align_exit_completion: float = 70.0
    align_exit_a3_mean: float = 3.8
    # Score
    score_exit_min_measures: int = 3
    score_exit_max_measures: int = 5
    score_exit_on_time_run: int = 2
    score_exit_s2_mean: float = 3.5
    # Trust
    trust_exit_t2_mean: float = 4.0
    trust_exit_t3_mean: float = 4.0
    trust_exit_reciprocity: float = 50.0
    tie_confirm_days: int = 28
    # Momentum
    momentum_cadence_weeks: int = 8
    momentum_cadence_wins: int = 2
    momentum_exit_months: int = 3
    momentum_exit_m2_mean: float = 4.0
    momentum_exit_m3_mean: float = 3.5
    # next right moves (pipeline.core.moves)
    move_limit: int = 5
    response_low: float = 0.50
    response_low_rounds: int = 2
    response_drop_points: float = 20.0
    response_drop_history: int = 4
    silent_rounds: int = 3
    echo_low: float = 60.0
    split_share: float = 0.25
    completion_low: float = 60.0
    completion_low_rounds: int = 2
    commitment_slip_reports: int = 2
    convener_load_high: float = 0.50
    overload_reports: int = 2
    m2_low: int = 2
    no_win_weeks: int = 6
    convener_ties_high: float = 0.60
    metric_stale_rounds: int = 2
    metric_below_forecast_readings: int = 2
    new_partner_weeks: int = 4
    funding_months: float = 6.0
    # the readiness check
    readiness_total: int = 17
    readiness_item: int = 2


DEFAULT_THRESHOLDS = Thresholds()


def thresholds_from(overrides: Mapping[str, object] | None = None) -> Thresholds:
    """Return the defaults with a coalition's overrides; unknown names or bad values raise."""
    if not overrides:
        return DEFAULT_THRESHOLDS
    known = {f.name: f for f in fields(Thresholds)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(
            f"unknown threshold {', '.join(repr(u) for u in unknown)}; "
            f"known thresholds: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for name, value in overrides.items():
        default = getattr(DEFAULT_THRESHOLDS, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"threshold {name!r} must be a number, not {value!r}")
        if isinstance(default, int) and not isinstance(value, int):
            if not float(value).is_integer():
                raise ValueError(f"threshold {name!r} must be a whole number, not {value!r}")
            value = int(value)
        if value < 0:
            raise ValueError(f"threshold {name!r} must not be negative, not {value!r}")
        values[name] = value
    return replace(DEFAULT_THRESHOLDS, **values)


def round_half_up(value: float) -> int:
    """Round to a whole number, halves up (74.5 is 75), unlike Python's round()."""
    return math.floor(value + 0.5)


def band(score: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Band:
    """Return the band of a 0-100 score (None: not enough answers)."""
    if score is None:
        return Band.NOT_ENOUGH
    points = round_half_up(score)
    if points >= thresholds.strong:
        return Band.STRONG
    if points >= thresholds.discuss:
        return Band.DISCUSS
    return Band.CONCERN


def item_score(mean: float) -> float:
    """Return the 0-100 score of a 1-5 mean: (mean - 1) x 25."""
    return (mean - 1.0) * 25.0


# ---------------------------------------------------------------------------------------------
# Plain input data


@dataclass(frozen=True)
class Answer:
    """One person's answer to one item.

    ``value`` is 1-5 for agreement items and None for "not sure"; a choice string for R4
    (``HOURS_CHOICES``), A1 (done / partly / not_yet / no_piece), S1 and M1 (yes / no) and S3
    (yes / late / no / not_ours); 0-4 for T1.
    """

    person: str
    organisation: str
    item: str
    value: int | str | None
    on: date


@dataclass(frozen=True)
class EchoAnswer:
    """A partner's win-echo answer as marked (after any lead override)."""

    person: str
    organisation: str
    mark: EchoMark
    on: date


@dataclass(frozen=True)
class Tie:
    """A working tie one organisation reported with another (T1), 0-4."""

    reporter: str
    partner: str
    level: int
    on: date


@dataclass(frozen=True)
class HeadlineMetric:
    """A headline measure; ``on_time`` holds its updates, oldest first (True: on time)."""

    name: str
    owner: str | None
    baseline: float | None
    on_time: tuple[bool, ...] = ()


@dataclass(frozen=True)
class PhaseInputs:
    """What the phase engine needs about one coalition, as plain data."""

    partners_asked: int  # partner people asked to check in over the window
    organisations: tuple[str, ...]  # partner organisations, the convener's included
    convener: str  # the lead organisation
    answers: tuple[Answer, ...] = ()
    echoes: tuple[EchoAnswer, ...] = ()
    win_complete: bool = False  # the win names who, what, how much, by when
    named_roles: tuple[str, ...] = ()  # organisations with a named role and person
    metrics: tuple[HeadlineMetric, ...] = ()
    ties: tuple[Tie, ...] = ()
    wins: tuple[date, ...] = ()  # visible wins logged (M1 yes, or a logged win), by date
    convening_hours_named: bool = False
    sustainability_plan: bool = False


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class ItemStat:
    """One agreement item over the window."""

    item: str
    scored: int  # answers 1-5
    not_sure: int
    mean: float | None  # 1-5
    agree: float  # share of scored answers at 4-5
    disagree: float  # share at 1-2: the spread

    @property
    def score(self) -> float | None:
        """Return the 0-100 item score, or None without answers."""
        return None if self.mean is None else item_score(self.mean)

    @property
    def split(self) -> bool:
        """Say whether partners see this item differently (both sides at least 25%)."""
        return self.agree >= 0.25 and self.disagree >= 0.25


@dataclass(frozen=True)
class Component:
    """One weighted part of a phase formula, on 0-100, with the answers it rests on."""

    name: str
    weight: float
    value: float | None
    answers: int


@dataclass(frozen=True)
class ExitCheck:
    """One exit test, with the numbers behind it.

    `detail` is English; `words` keeps its msgid and values apart (pipeline.core.words) so a
    digest can show it in the reader's language. `name` is an English key, itself a msgid.
    """

    name: str
    passed: bool
    detail: str
    words: Words | None = None


@dataclass(frozen=True)
class PhaseResult:
    """A phase's score, band, exit tests and the numbers behind them."""

    phase: Phase
    score: int | None
    band: Band
    components: tuple[Component, ...]
    items: tuple[ItemStat, ...]
    exits: tuple[ExitCheck, ...]
    respondents: int
    response: float  # respondents / partners asked
    capped: bool = False
    note: str = ""

    @property
    def passed(self) -> bool:
        """Say whether every exit test passes."""
        return all(e.passed for e in self.exits)


@dataclass(frozen=True)
class PhaseState:
    """All six phases for one round, and where the coalition should put its attention."""

    stage: Stage
    phases: Mapping[Phase, PhaseResult]
    focus: Phase


# ---------------------------------------------------------------------------------------------
# Arithmetic


def in_window(on: date, today: date, days: int) -> bool:
    """Say whether a date falls in the rolling window of ``days`` ending ``today``."""
    return today - timedelta(days=days) < on <= today


def latest_per_person(answers: Iterable[Answer]) -> dict[tuple[str, str], Answer]:
    """Return each (person, item)'s latest answer; ties on the date keep the later one given."""
    latest: dict[tuple[str, str], Answer] = {}
    for a in answers:
        key = (a.person, a.item)
        if key not in latest or a.on >= latest[key].on:
            latest[key] = a
    return latest


def item_stat(item: str, values: Sequence[int | str | None]) -> ItemStat:
    """Summarise the answers to one agreement item (None is "not sure")."""
    scored = [int(v) for v in values if isinstance(v, int) and not isinstance(v, bool)]
    for v in scored:
        if not 1 <= v <= 5:
            raise ValueError(f"item {item}: answer {v} is not on the 1-5 scale")
    not_sure = sum(1 for v in values if v is None)
    if not scored:
        return ItemStat(item, 0, not_sure, None, 0.0, 0.0)
    n = len(scored)
    return ItemStat(
        item=item,
        scored=n,
        not_sure=not_sure,
        mean=sum(scored) / n,
        agree=sum(1 for v in scored if v >= 4) / n,
        disagree=sum(1 for v in scored if v <= 2) / n,
    )


def tie_reciprocity(
    ties: Iterable[Tie], today: date, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[int, int]:
    """Return (confirmed, reported) for the ties reported in the window.

    A reported tie is confirmed when the other side reported a tie with the reporter within
    ``tie_confirm_days`` of it (either way in time, never after today). Each ordered pair counts
    once, by its latest report in the window.
    """
    window = [t for t in ties if in_window(t.on, today, thresholds.window_days)]
    latest: dict[tuple[str, str], Tie] = {}
    for t in window:
        if t.reporter != t.partner and (
            (t.reporter, t.partner) not in latest or t.on >= latest[(t.reporter, t.partner)].on
        ):
            latest[(t.reporter, t.partner)] = t
    every = [t for t in ties if t.on <= today]
    confirmed = sum(
        1
        for t in latest.values()
        if any(
            o.reporter == t.partner
            and o.partner == t.reporter
            and abs((o.on - t.on).days) <= thresholds.tie_confirm_days
            for o in every
        )
    )
    return confirmed, len(latest)


@dataclass(frozen=True)
class TieMismatch:
    """A pair who see their work together differently."""

    reporter: str
    partner: str
    reported_level: int
    partner_level: int | None  # None: the partner has not confirmed the tie


def tie_mismatches(
    ties: Iterable[Tie], today: date, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[TieMismatch, ...]:
    """Return the recent ties the other side has not confirmed, or rates differently.

    A tie counts while its latest report is younger than ``window_days + tie_confirm_days``. It
    is unconfirmed once ``tie_confirm_days`` have passed with no report from the other side
    within that many days of it (before then the other side still has time); a pair reported
    both ways is listed once, by its first name in order, when the two levels differ.
    """
    every = [t for t in ties if t.on <= today and t.reporter != t.partner]
    latest: dict[tuple[str, str], Tie] = {}
    for t in every:
        key = (t.reporter, t.partner)
        if key not in latest or t.on >= latest[key].on:
            latest[key] = t
    horizon = thresholds.window_days + thresholds.tie_confirm_days
    confirm = thresholds.tie_confirm_days
    out: list[TieMismatch] = []
    for (a, b), t in sorted(latest.items()):
        if (today - t.on).days >= horizon:
            continue
        answers = [
            o
            for o in every
            if (o.reporter, o.partner) == (b, a) and abs((o.on - t.on).days) <= confirm
        ]
        if not answers:
            if (today - t.on).days >= confirm:
                out.append(TieMismatch(a, b, t.level, None))
            continue
        other = max(answers, key=lambda o: o.on)
        if other.level != t.level and (a < b or latest.get((b, a)) is not other):
            out.append(TieMismatch(a, b, t.level, other.level))
    return tuple(out)


def direct_ties(
    ties: Iterable[Tie], today: date, convener: str, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[int, int, frozenset[str]]:
    """Return (direct pairs, all pairs, organisations with a direct tie) in the window.

    A pair is the two organisations of a tie, whichever side reported it, at level >= 1; it is
    direct when neither side is the convener.
    """
    pairs = {
        frozenset((t.reporter, t.partner))
        for t in ties
        if in_window(t.on, today, thresholds.window_days)
        and t.level >= 1
        and t.reporter != t.partner
    }
    direct = [p for p in pairs if convener not in p]
    reached = frozenset(org for p in direct for org in p)
    return len(direct), len(pairs), reached


def win_cadence(
    wins: Iterable[date], today: date, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[float, int]:
    """Return (cadence score 0-100, wins in the cadence window): 2 wins in 8 weeks is 100."""
    since = today - timedelta(days=thresholds.momentum_cadence_weeks * 7)  # in_window, once
    count = sum(1 for d in wins if since < d <= today)
    return min(100.0, 100.0 * count / thresholds.momentum_cadence_wins), count


def months_with_a_win(wins: Iterable[date], today: date, months: int) -> tuple[bool, ...]:
    """Say, for each of the last ``months`` 30-day blocks (latest first), whether it had a win."""
    # Block i holds the days today-30(i+1) < d <= today-30i, that is (today - d).days // 30 == i.
    blocks = {(today - d).days // 30 for d in wins if d <= today}
    return tuple(i in blocks for i in range(months))


def _pct(share: float) -> str:
    return f"{round_half_up(share * 100)}%"


def _mean_text(stat: ItemStat) -> Words | Decimal:
    return words(N_("no answers")) if stat.mean is None else Decimal(f"{stat.mean:.2f}")


def _one_place(value: float) -> Decimal:
    return Decimal(f"{value:.1f}")


def _exit(name: str, passed: bool, said: Words) -> ExitCheck:
    """An exit test whose detail is `said` (English in `detail`, translatable in `words`)."""
    return ExitCheck(name, passed, str(said), said)


def _listed(parts: Sequence[Words]) -> Words | str:
    """Join sentences with commas, each part kept translatable: "a, b, c"."""
    if not parts:
        return ""
    joined: Words = parts[-1]
    for part in reversed(parts[:-1]):
        joined = words(N_("%(first)s, %(rest)s"), first=part, rest=joined)
    return joined


def _mean_check(name: str, stat: ItemStat, needed: float) -> ExitCheck:
    passed = stat.mean is not None and stat.mean >= needed
    return _exit(name, passed, words(N_("%(item)s mean %(mean)s, needs >= %(needed)s"),
                                      item=stat.item, mean=_mean_text(stat),
                                      needed=_one_place(needed)))


def _combine(components: Sequence[Component]) -> float | None:
    if any(c.value is None for c in components):
        return None
    return sum(c.weight * (c.value or 0.0) for c in components)


def _item_component(stat: ItemStat, weight: float, t: Thresholds) -> Component:
    value = stat.score if stat.scored >= t.min_respondents else None
    return Component(stat.item, weight, value, stat.scored)


class _Window:
    """The answers in the window, indexed the ways the formulas need them."""

    def __init__(self, inputs: PhaseInputs, today: date, t: Thresholds) -> None:
        self.all = [a for a in inputs.answers if in_window(a.on, today, t.window_days)]
        self.latest = latest_per_person(self.all)
        self.t = t
        self.asked = inputs.partners_asked

    def values(self, item: str) -> list[int | str | None]:
        return [a.value for (_, i), a in sorted(self.latest.items()) if i == item]

    def every(self, item: str) -> list[int | str | None]:
        return [a.value for a in self.all if a.item == item]

    def stat(self, item: str) -> ItemStat:
        return item_stat(item, self.values(item))

    def respondents(self, phase: Phase, extra: Iterable[str] = ()) -> set[str]:
        people = {a.person for a in self.all if ITEM_PHASE.get(a.item) is phase}
        return people | set(extra)

    def organisations(self, phase: Phase) -> set[str]:
        return {a.organisation for a in self.all if ITEM_PHASE.get(a.item) is phase}


def _result(
    phase: Phase,
    components: Sequence[Component],
    items: Sequence[ItemStat],
    exits: Sequence[ExitCheck],
    respondents: set[str],
    w: _Window,
    cap: int | None = None,
    note: str = "",
) -> PhaseResult:
    response = len(respondents) / w.asked if w.asked else 0.0
    raw = _combine(components)
    if response < w.t.min_response or len(respondents) < w.t.min_respondents:
        raw = None
    capped = False
    score: int | None = None
    if raw is not None:
        score = round_half_up(raw)
        if cap is not None and score > cap:
            score, capped = cap, True
    return PhaseResult(
        phase=phase,
        score=score,
        band=band(score, w.t),
        components=tuple(components),
        items=tuple(items),
        exits=tuple(exits),
        respondents=len(respondents),
        response=response,
        capped=capped,
        note=note,
    )


def ready_phase(inputs: PhaseInputs, w: _Window) -> PhaseResult:
    """Ready: mean of R1-R3, capped while fewer than half offer >= 2 hours a month (R4).

    The share offering hours is taken over the R4 answers in the window; with no R4 answer
    nobody has offered hours yet, so the cap holds.
    """
    t = w.t
    stats = [w.stat(i) for i in ("R1", "R2", "R3")]
    components = [_item_component(s, 1 / 3, t) for s in stats]
    hours = [v for v in w.values("R4") if isinstance(v, str)]
    for v in hours:
        if v not in HOURS_CHOICES:
            raise ValueError(f"R4: {v!r} is not one of {', '.join(HOURS_CHOICES)}")
    offering = sum(1 for v in hours if v in HOURS_AT_LEAST_TWO)
    short_of_hours = not hours or offering / len(hours) < t.ready_hours_share
    note = f"{offering} of {len(hours)} offer >= 2 hours next month"
    result = _result(
        Phase.READY,
        components,
        stats,
        (),
        w.respondents(Phase.READY),
        w,
        cap=t.ready_cap if short_of_hours else None,
        note=note,
    )
    orgs = len(w.organisations(Phase.READY) & set(inputs.organisations))
    org_share = orgs / len(inputs.organisations) if inputs.organisations else 0.0
    low = [s for s in stats if s.mean is None or s.mean < t.ready_exit_item_mean]
    shown_score: int | Words = result.score if result.score is not None else words(N_("not shown"))
    exits = (
        _exit(
            N_("score"),
            result.score is not None and result.score >= t.ready_exit_score,
            words(N_("score %(score)s (capped: %(note)s), needs >= %(needed)s"),
                  score=shown_score, note=note, needed=t.ready_exit_score)
            if result.capped
            else words(N_("score %(score)s, needs >= %(needed)s"),
                       score=shown_score, needed=t.ready_exit_score),
        ),
        _exit(
            N_("no low item"),
            not low,
            words(N_("item means %(means)s, each needs >= %(needed)s"),
                  means=_listed([words(N_("%(item)s %(mean)s"), item=s.item, mean=_mean_text(s))
                                 for s in stats]),
                  needed=_one_place(t.ready_exit_item_mean)),
        ),
        _exit(
            N_("organisations answered"),
            org_share >= t.ready_exit_organisations,
            words(N_("%(count)s of %(total)s organisations answered (%(share)s), "
                     "needs >= %(needed)s"),
                  count=orgs, total=len(inputs.organisations), share=_pct(org_share),
                  needed=_pct(t.ready_exit_organisations)),
        ),
        _exit(
            N_("convening hours named"),
            inputs.convening_hours_named,
            words(N_("convening hours are named"))
            if inputs.convening_hours_named
            else words(N_("no convening hours named")),
        ),
    )
    return replace(result, exits=exits)


def win_phase(inputs: PhaseInputs, w: _Window, today: date) -> PhaseResult:
    """Win: 50% echo rate + 25% W2 + 25% W3."""
    t = w.t
    latest: dict[str, EchoAnswer] = {}
    for e in inputs.echoes:
        if in_window(e.on, today, t.window_days) and (
            e.person not in latest or e.on >= latest[e.person].on
        ):
            latest[e.person] = e
    marks = [e.mark for e in latest.values()]
    rate = 100.0 * sum(EchoMark(m).credit for m in marks) / len(marks) if marks else None
    w2, w3 = w.stat("W2"), w.stat("W3")
    components = [
        Component("echo rate", 0.5, rate if len(marks) >= t.min_respondents else None, len(marks)),
        _item_component(w2, 0.25, t),
        _item_component(w3, 0.25, t),
    ]
    echo_share = len(latest) / w.asked if w.asked else 0.0
    echo_ok = (
        rate is not None and rate >= t.win_exit_echo and echo_share >= t.win_exit_echo_partners
    )
    rate_text = (words(N_("no echo answers")) if rate is None
                 else words(N_("echo rate %(rate)s%%"), rate=round_half_up(rate)))
    exits = (
        _exit(
            N_("echo rate"),
            echo_ok,
            words(N_("%(rate)s from %(count)s of %(asked)s partners (%(share)s), "
                     "needs >= %(needed)s%% from >= %(partners)s"),
                  rate=rate_text, count=len(latest), asked=w.asked, share=_pct(echo_share),
                  needed=round_half_up(t.win_exit_echo), partners=_pct(t.win_exit_echo_partners)),
        ),
        _mean_check(N_("can tell whether we hit it"), w3, t.win_exit_w3_mean),
        _exit(
            N_("win has four parts"),
            inputs.win_complete,
            words(N_("the win names who, what, how much and by when"))
            if inputs.win_complete
            else words(N_("the win lacks who, what, how much or by when")),
        ),
    )
    respondents = w.respondents(Phase.WIN, latest)
    return _result(Phase.WIN, components, (w2, w3), exits, respondents, w)


def align_phase(inputs: PhaseInputs, w: _Window) -> PhaseResult:
    """Align: 40% completion (A1, partly = 0.5) + 30% A2 + 30% A3."""
    t = w.t
    pieces = [v for v in w.every("A1") if isinstance(v, str)]
    for v in pieces:
        if v not in PIECE_CREDIT and v != "no_piece":
            raise ValueError(f"A1: {v!r} is not done, partly, not_yet or no_piece")
    counted = [PIECE_CREDIT[v] for v in pieces if v in PIECE_CREDIT]
    completion = 100.0 * sum(counted) / len(counted) if counted else None
    a2, a3 = w.stat("A2"), w.stat("A3")
    components = [
        Component(
            "completion",
            0.4,
            completion if len(counted) >= t.min_respondents else None,
            len(counted),
        ),
        _item_component(a2, 0.3, t),
        _item_component(a3, 0.3, t),
    ]
    orgs = set(inputs.organisations)
    named = len(set(inputs.named_roles) & orgs)
    named_share = named / len(orgs) if orgs else 0.0
    completion_text = (
        words(N_("no pieces reported"))
        if completion is None
        else words(N_("completion %(completion)s%% over %(reports)s reports"),
                   completion=round_half_up(completion), reports=len(counted))
    )
    exits = (
        _exit(
            N_("named roles"),
            named_share >= t.align_exit_named_roles,
            words(N_("%(named)s of %(total)s organisations have a named role and person "
                     "(%(share)s), needs >= %(needed)s"),
                  named=named, total=len(orgs), share=_pct(named_share),
                  needed=_pct(t.align_exit_named_roles)),
        ),
        _exit(
            N_("completion"),
            completion is not None and completion >= t.align_exit_completion,
            words(N_("%(completion)s, needs >= %(needed)s%%"), completion=completion_text,
                  needed=round_half_up(t.align_exit_completion)),
        ),
        _mean_check(N_("pieces fit together"), a3, t.align_exit_a3_mean),
    )
    return _result(Phase.ALIGN, components, (a2, a3), exits, w.respondents(Phase.ALIGN), w)


def score_phase(inputs: PhaseInputs, w: _Window) -> PhaseResult:
    """Score: 30% view rate (S1) + 30% S2 + 40% on-time rate (S3)."""
    t = w.t
    views = [v for v in w.values("S1") if v in ("yes", "no")]
    view_rate = 100.0 * views.count("yes") / len(views) if views else None
    updates = [v for v in w.every("S3") if isinstance(v, str) and v in ON_TIME_CREDIT]
    on_time = 100.0 * sum(ON_TIME_CREDIT[v] for v in updates) / len(updates) if updates else None
    s2 = w.stat("S2")
    components = [
        Component(
            "view rate", 0.3, view_rate if len(views) >= t.min_respondents else None, len(views)
        ),
        _item_component(s2, 0.3, t),
        Component(
            "on-time rate",
            0.4,
            on_time if len(updates) >= t.min_respondents else None,
            len(updates),
        ),
    ]
    measures = inputs.metrics
    incomplete = [m.name for m in measures if not m.owner or m.baseline is None]
    count_ok = t.score_exit_min_measures <= len(measures) <= t.score_exit_max_measures
    run = t.score_exit_on_time_run
    late = [m.name for m in measures if len(m.on_time) < run or not all(m.on_time[-run:])]
    exits = (
        _exit(
            N_("headline measures"),
            count_ok and not incomplete,
            words(N_("%(count)s headline measures, needs %(least)s-%(most)s; without owner or "
                     "baseline: %(names)s"),
                  count=len(measures), least=t.score_exit_min_measures,
                  most=t.score_exit_max_measures, names=", ".join(incomplete))
            if incomplete
            else words(N_("%(count)s headline measures, needs %(least)s-%(most)s; each has an "
                          "owner and a baseline"),
                       count=len(measures), least=t.score_exit_min_measures,
                       most=t.score_exit_max_measures),
        ),
        _exit(
            N_("on-time updates"),
            bool(measures) and not late,
            words(N_("last %(run)s updates on time for %(count)s of %(total)s; not yet: "
                     "%(names)s"),
                  run=run, count=len(measures) - len(late), total=len(measures),
                  names=", ".join(late))
            if late
            else words(N_("last %(run)s updates on time for %(count)s of %(total)s"),
                       run=run, count=len(measures) - len(late), total=len(measures)),
        ),
        _mean_check(N_("scoreboard matches the ground"), s2, t.score_exit_s2_mean),
    )
    return _result(Phase.SCORE, components, (s2,), exits, w.respondents(Phase.SCORE), w)


def trust_phase(inputs: PhaseInputs, w: _Window, today: date) -> PhaseResult:
    """Trust: 40% mean(T2, T3) + 30% reciprocity + 30% direct-tie share."""
    t = w.t
    t2, t3 = w.stat("T2"), w.stat("T3")
    pulse = (
        (item_score(t2.mean) + item_score(t3.mean)) / 2
        if t2.mean is not None
        and t3.mean is not None
        and min(t2.scored, t3.scored) >= t.min_respondents
        else None
    )
    confirmed, reported = tie_reciprocity(inputs.ties, today, t)
    reciprocity = 100.0 * confirmed / reported if reported else None
    direct, pairs, reached = direct_ties(inputs.ties, today, inputs.convener, t)
    direct_share = 100.0 * direct / pairs if pairs else None
    components = [
        Component("T2 and T3", 0.4, pulse, min(t2.scored, t3.scored)),
        Component(
            "reciprocity",
            0.3,
            reciprocity if reported >= t.min_respondents else None,
            reported,
        ),
        Component(
            "direct-tie share", 0.3, direct_share if pairs >= t.min_respondents else None, pairs
        ),
    ]
    others = sorted(set(inputs.organisations) - {inputs.convener})
    without = [o for o in others if o not in reached]
    recip_text = (
        words(N_("no ties reported"))
        if reciprocity is None
        else words(N_("%(confirmed)s of %(reported)s reported ties confirmed (%(rate)s%%)"),
                   confirmed=confirmed, reported=reported, rate=round_half_up(reciprocity))
    )
    exits = (
        _mean_check(N_("partners come through"), t2, t.trust_exit_t2_mean),
        _mean_check(N_("safe to disagree"), t3, t.trust_exit_t3_mean),
        _exit(
            N_("reciprocity"),
            reciprocity is not None and reciprocity >= t.trust_exit_reciprocity,
            words(N_("%(ties)s, needs >= %(needed)s%%"), ties=recip_text,
                  needed=round_half_up(t.trust_exit_reciprocity)),
        ),
        _exit(
            N_("direct ties"),
            bool(others) and not without,
            words(N_("%(count)s of %(total)s partners have a direct tie; none yet: %(names)s"),
                  count=len(others) - len(without), total=len(others), names=", ".join(without))
            if without
            else words(N_("%(count)s of %(total)s partners have a direct tie"),
                       count=len(others) - len(without), total=len(others)),
        ),
    )
    return _result(Phase.TRUST, components, (t2, t3), exits, w.respondents(Phase.TRUST), w)


def momentum_phase(inputs: PhaseInputs, w: _Window, today: date) -> PhaseResult:
    """Momentum: 35% win cadence + 35% M2 + 30% M3."""
    t = w.t
    cadence, count = win_cadence(inputs.wins, today, t)
    m2, m3 = w.stat("M2"), w.stat("M3")
    components = [
        Component("win cadence", 0.35, cadence, count),
        _item_component(m2, 0.35, t),
        _item_component(m3, 0.30, t),
    ]
    months = months_with_a_win(inputs.wins, today, t.momentum_exit_months)
    exits = (
        _exit(
            N_("a win every month"),
            all(months),
            words(N_("wins in %(count)s of the last %(months)s months"), count=sum(months),
                  months=len(months)),
        ),
        _mean_check(N_("worth the time"), m2, t.momentum_exit_m2_mean),
        _mean_check(N_("would keep moving"), m3, t.momentum_exit_m3_mean),
        _exit(
            N_("sustainability plan"),
            inputs.sustainability_plan,
            words(N_("a sustainability plan is logged"))
            if inputs.sustainability_plan
            else words(N_("no sustainability plan logged")),
        ),
    )
    return _result(
        Phase.MOMENTUM,
        components,
        (m2, m3),
        exits,
        w.respondents(Phase.MOMENTUM),
        w,
        note=f"{count} wins in the last {t.momentum_cadence_weeks} weeks",
    )


def focus_phase(stage: Stage, results: Mapping[Phase, PhaseResult]) -> Phase:
    """Return the phase to work on now.

    Reset goes back to Ready. Otherwise a phase earlier in the loop than the stage's own that
    has slipped into the concern band comes first (drift sends the focus back); then the first
    of the stage's phases whose exit tests do not all pass; when they all pass, the stage's
    last phase (the coalition is ready for the next stage).
    """
    if stage is Stage.RESET:
        return Phase.READY
    own = STAGE_PHASES[stage]
    loop = list(Phase)
    for phase in loop[: loop.index(own[0])]:
        if phase in results and results[phase].band is Band.CONCERN:
            return phase
    for phase in own:
        if phase not in results or not results[phase].passed:
            return phase
    return own[-1]


def assess(
    inputs: PhaseInputs,
    stage: Stage,
    today: date,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> PhaseState:
    """Score all six phases as of ``today`` and pick the focus phase."""
    w = _Window(inputs, today, thresholds)
    results = {
        Phase.READY: ready_phase(inputs, w),
        Phase.WIN: win_phase(inputs, w, today),
        Phase.ALIGN: align_phase(inputs, w),
        Phase.SCORE: score_phase(inputs, w),
        Phase.TRUST: trust_phase(inputs, w, today),
        Phase.MOMENTUM: momentum_phase(inputs, w, today),
    }
    return PhaseState(stage=Stage(stage), phases=results, focus=focus_phase(stage, results))


# ---------------------------------------------------------------------------------------------
# The readiness check (launch and reset)


class ReadinessItem(StrEnum):
    """The eight readiness items, in checklist order (the order breaks ties)."""

    URGENCY = "urgency"
    CHAMPION = "champion"
    CONVENING_HOURS = "convening_hours"
    OWN_STAKE = "own_stake"
    CROSS_SECTION = "cross_section"
    HISTORY = "history"
    DATA = "data"
    PURPOSE = "purpose"


READINESS_QUESTIONS: Mapping[ReadinessItem, str] = {
    ReadinessItem.URGENCY: "Urgency felt by those who would act",
    ReadinessItem.CHAMPION: "A champion with influence",
    ReadinessItem.CONVENING_HOURS: "Named, funded convening hours",
    ReadinessItem.OWN_STAKE: "Each organisation's own stake is clear",
    ReadinessItem.CROSS_SECTION: "The right cross-section can be reached, affected people included",
    ReadinessItem.HISTORY: "A history of working together, or a plan to repair it",
    ReadinessItem.DATA: "Some data to see progress",
    ReadinessItem.PURPOSE: "A purpose no other table already serves",
}

READINESS_FIRST_MOVES: Mapping[ReadinessItem, str] = {
    ReadinessItem.URGENCY: "Put the local numbers in front of the people who would act, "
    "and ask what they would give staff time to change this quarter.",
    ReadinessItem.CHAMPION: "Find one person with real influence to open doors, "
    "and ask them for one specific introduction.",
    ReadinessItem.CONVENING_HOURS: "Name who convenes, for how many hours a month, "
    "and who pays for those hours.",
    ReadinessItem.OWN_STAKE: "Meet each organisation one to one and write down what it needs "
    "from this table.",
    ReadinessItem.CROSS_SECTION: "List who is missing, affected people first, "
    "and invite two of them before the next meeting.",
    ReadinessItem.HISTORY: "Name the old friction openly and agree one small thing to do "
    "together first.",
    ReadinessItem.DATA: "Pick one number you can already see, and who will bring it each month.",
    ReadinessItem.PURPOSE: "Check which other tables work on this, and say what this one does "
    "that they do not, or join theirs.",
}


class ReadinessVerdict(StrEnum):
    """The readiness check's answer."""

    READY = "ready"
    ALMOST = "almost"  # no item is 0, but not ready yet
    NOT_YET = "not yet"  # some item is 0


@dataclass(frozen=True)
class Readiness:
    """The readiness check's result."""

    verdict: ReadinessVerdict
    total: int
    maximum: int
    items: Mapping[ReadinessItem, int]
    lowest: ReadinessItem
    first_move: str
    reasons: tuple[str, ...]
    reason_words: tuple[Words, ...] = ()  # the reasons as msgids and values (to translate)


def readiness(
    ratings: Mapping[ReadinessItem, int] | Mapping[str, int],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Readiness:
    """Check readiness from the eight items rated 0-3.

    Ready when every item is >= 2 and the total >= 17 of 24 (``readiness_item``,
    ``readiness_total``); "not yet" while any item is 0;
    "almost" otherwise. The lowest item (first in checklist order on a tie) decides the first
    move. Every item must be rated.
    """
    ready_total, ready_item = thresholds.readiness_total, thresholds.readiness_item
    items: dict[ReadinessItem, int] = {}
    for key, value in ratings.items():
        try:
            item = ReadinessItem(key)
        except ValueError:
            known = ", ".join(ReadinessItem)
            raise ValueError(f"unknown readiness item {key!r}; known items: {known}") from None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
            raise ValueError(f"readiness item {item.value!r} must be 0-3, not {value!r}")
        items[item] = value
    missing = [i.value for i in ReadinessItem if i not in items]
    if missing:
        raise ValueError(f"readiness items not rated: {', '.join(missing)}")
    ordered = {i: items[i] for i in ReadinessItem}
    total = sum(ordered.values())
    lowest = min(ReadinessItem, key=lambda i: ordered[i])  # min keeps the first on a tie
    zeros = [i.value for i in ReadinessItem if ordered[i] == 0]
    weak = [i.value for i in ReadinessItem if ordered[i] < ready_item]
    reasons: list[Words] = [words(N_("total %(total)s of %(maximum)s, needs >= %(needed)s"),
                                  total=total, maximum=3 * len(ordered), needed=ready_total)]
    if zeros:
        verdict = ReadinessVerdict.NOT_YET
        reasons.append(words(N_("not there at all: %(items)s"), items=", ".join(zeros)))
    elif weak or total < ready_total:
        verdict = ReadinessVerdict.ALMOST
        if weak:
            reasons.append(words(N_("below %(needed)s: %(items)s"), needed=ready_item,
                                 items=", ".join(weak)))
    else:
        verdict = ReadinessVerdict.READY
    return Readiness(
        verdict=verdict,
        total=total,
        maximum=3 * len(ordered),
        items=ordered,
        lowest=lowest,
        first_move=READINESS_FIRST_MOVES[lowest],
        reasons=tuple(str(r) for r in reasons),
        reason_words=tuple(reasons),
    )


def combine_readiness(
    sheets: Iterable[Mapping[ReadinessItem, int] | Mapping[str, int]],
) -> dict[ReadinessItem, int]:
    """Combine several partners' readiness sheets: each item's lower median.

    The lower median keeps one optimist from lifting an item, and stays a whole 0-3 rating.
    """
    per_item: dict[ReadinessItem, list[int]] = {i: [] for i in ReadinessItem}
    for sheet in sheets:
        for key, value in sheet.items():
            per_item[ReadinessItem(key)].append(value)
    out: dict[ReadinessItem, int] = {}
    for item, values in per_item.items():
        if values:
            values.sort()
            out[item] = values[(len(values) - 1) // 2]
    return out


__all__ = [
    "AGREEMENT_ITEMS",
    "DEFAULT_THRESHOLDS",
    "ITEM_PHASE",
    "STAGE_PHASES",
    "Answer",
    "Band",
    "Component",
    "EchoAnswer",
    "ExitCheck",
    "HeadlineMetric",
    "ItemStat",
    "Phase",
    "PhaseInputs",
    "PhaseResult",
    "PhaseState",
    "Readiness",
    "ReadinessItem",
    "ReadinessVerdict",
    "Thresholds",
    "Tie",
    "TieMismatch",
    "assess",
    "band",
    "combine_readiness",
    "direct_ties",
    "focus_phase",
    "item_score",
    "item_stat",
    "readiness",
    "thresholds_from",
    "tie_mismatches",
    "tie_reciprocity",
    "win_cadence",
]
