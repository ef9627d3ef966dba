"""The next right moves: the playbook's triggers as rules over a plain ``Situation``.

Each rule looks at one thing (response, silence, echo, splits, completion, convener load, value,
wins, ties, metrics, new partners, funding) and returns at most one ``Move`` naming the people,
organisations, items or measures concerned and the numbers that fired it. ``next_moves`` runs
every rule and keeps at most ``move_limit`` (5) moves, in this documented priority:

1. Moves that keep partners answering come first at every stage: falling response, then silent
   partners (without answers, nothing else on the page can be trusted).
2. Then the moves whose phase is one the coalition's stage works on (``STAGE_PHASES``: launch
   and reset Ready and Win; growth Align, Score and Trust; maturity Momentum).
3. Then the rest.

Within a group, moves keep the order of ``RULES`` below: the funding deadline, convener load
and low value (people leaving) before echo, completion and wins, then data, then
relationships. Histories are oldest first, latest last; shares are 0-1 fractions; echo rate
and completion are percent (0-100), as ``pipeline.core.phases`` reports them. Everything is
deterministic: names are listed sorted, ties in severity broken by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.core.phases import (
    DEFAULT_THRESHOLDS,
    ITEM_PHASE,
    STAGE_PHASES,
    Band,
    Phase,
    PhaseState,
    Thresholds,
    TieMismatch,
    round_half_up,
)
from pipeline.core.vocab import Stage
from pipeline.core.words import N_, Words, listed, words


@dataclass(frozen=True)
class ItemSplit:
    """How partners answered one agreement item: shares agreeing (4-5) and disagreeing (1-2)."""

    item: str
    agree: float
    disagree: float
    answers: int


@dataclass(frozen=True)
class MetricHistory:
    """A headline metric's recent record, oldest first.

    ``updated`` has one entry per round it was due (True: its owner reported); ``below_forecast``
    one per reading (True: the reading fell short of its forecast, by the metric's polarity).
    """

    name: str
    owner: str | None = None
    updated: tuple[bool, ...] = ()
    below_forecast: tuple[bool, ...] = ()


@dataclass(frozen=True)
class SlippedCommitment:
    """A commitment reported slipping or blocked in the last ``times`` rounds in a row."""

    organisation: str
    text: str
    times: int


@dataclass(frozen=True)
class NewPartner:
    """An organisation that joined recently, and whether it has engaged yet."""

    name: str
    weeks_since_joining: int
    engaged: bool


@dataclass(frozen=True)
class Situation:
    """What the move rules look at, as plain data gathered by the caller."""

    stage: Stage
    response_rates: tuple[float, ...] = ()  # per round, 0-1
    silent_streaks: Mapping[str, int] = field(default_factory=dict)  # partner -> check-ins
    echo_rate: float | None = None  # percent
    win_band: Band | None = None
    item_splits: tuple[ItemSplit, ...] = ()
    completion_rates: tuple[float, ...] = ()  # per round, percent
    convener: str = "the convener"
    convener_load: float | None = None  # share of open commitments the lead organisation holds
    convener_open_commitments: tuple[str, ...] = ()  # their texts, to name three to hand off
    overload_reports: int = 0  # times the convener reported overload lately
    m2_ratings: Mapping[str, int] = field(default_factory=dict)  # partner -> latest M2 (1-5)
    weeks_since_last_win: int | None = None  # since the start when no win was ever logged
    tie_mismatches: tuple[TieMismatch, ...] = ()
    convener_tie_share: float | None = None  # share of ties running through the convener
    metrics: tuple[MetricHistory, ...] = ()
    new_partners: tuple[NewPartner, ...] = ()
    months_to_funding_end: float | None = None
    sustainability_plan: bool = False
    slipped_commitments: tuple[SlippedCommitment, ...] = ()


@dataclass(frozen=True)
class Move:
    """One next right move, with why it fired."""

    id: str
    phase: Phase
    move: str  # the one-line action
    reason: str  # the playbook's reason, shown to the leads
    script: str  # what the convener can say
    evidence: str  # the numbers and names that fired it
    concerns: tuple[str, ...] = ()  # who or what it is about, named
    # The same sentences kept translatable (pipeline.core.words): the move, each evidence part.
    move_words: Words | None = None
    evidence_words: tuple[Words, ...] = ()


Rule = Callable[[Situation, Thresholds], Move | None]


def item_splits(state: PhaseState) -> tuple[ItemSplit, ...]:
    """Return every scored agreement item of a phase state as an ``ItemSplit``, in loop order."""
    return tuple(
        ItemSplit(item=s.item, agree=s.agree, disagree=s.disagree, answers=s.scored)
        for result in state.phases.values()
        for s in result.items
        if s.scored
    )


def _pct(share: float) -> int:
    """A 0-1 share as whole percent (halves up), for a msgid's "%(x)s%%"."""
    return round_half_up(share * 100)


def _made(id: str, phase: Phase, move: Words, reason: str, script: str,
          evidence: Sequence[Words], concerns: tuple[str, ...] = ()) -> Move:
    """Build a Move from its Words: the English strings, and the words kept for translation."""
    return Move(id=id, phase=phase, move=str(move), reason=reason, script=script,
                evidence="; ".join(str(e) for e in evidence), concerns=concerns,
                move_words=move, evidence_words=tuple(evidence))


def response_falling(s: Situation, t: Thresholds) -> Move | None:
    """Response < 50% for 2 rounds, or 20 points under the average of the 4 rounds before."""
    rates = s.response_rates
    if not rates:
        return None
    latest = rates[-1]
    n = t.response_low_rounds
    evidence: Words | None = None
    if len(rates) >= n and all(r < t.response_low for r in rates[-n:]):
        shown = ", ".join(f"{_pct(r)}%" for r in rates[-n:])
        evidence = words(N_("response %(shown)s in the last %(rounds)s rounds, under "
                            "%(low)s%%"), shown=shown, rounds=n, low=_pct(t.response_low))
    else:
        before = rates[-1 - t.response_drop_history : -1]
        if len(before) >= 2:
            average = sum(before) / len(before)
            drop = (average - latest) * 100
            if drop >= t.response_drop_points - 1e-9:
                evidence = words(
                    N_("response %(latest)s%% this round, %(drop)s points under its "
                       "%(rounds)s-round average of %(average)s%%"),
                    latest=_pct(latest), drop=round_half_up(drop), rounds=len(before),
                    average=_pct(average))
    if evidence is None:
        return None
    return _made(
        "response-low", Phase.READY,
        words(N_("Ask only the two anchor questions for two weeks, and send a personal note.")),
        N_("Frequent asks lose answers; short asks and personal follow-up win them back."),
        N_("We're asking too much. For two weeks it's two questions, under a minute, "
           "and I read every answer."),
        [evidence],
    )


def silent_partners(s: Situation, t: Thresholds) -> Move | None:
    """A partner silent for 3 check-ins in a row: phone, don't email."""
    silent = sorted(
        ((name, n) for name, n in s.silent_streaks.items() if n >= t.silent_rounds),
        key=lambda p: (-p[1], p[0]),
    )
    if not silent:
        return None
    names = tuple(name for name, _ in silent)
    return _made(
        "silent-partner", Phase.READY,
        words(N_("Phone %(names)s; don't email."), names=listed(names)),
        N_("The balance of benefit and cost is what separates members who stay."),
        N_("We haven't heard from you. No guilt: is this still worth your time, "
           "and what would make it so?"),
        [words(N_("%(name)s silent for %(count)s check-ins"), name=name, count=n)
         for name, n in silent],
        names,
    )


def echo_low(s: Situation, t: Thresholds) -> Move | None:
    """Echo rate under 60%, or Win in the concern band."""
    low = s.echo_rate is not None and s.echo_rate < t.echo_low
    if not low and s.win_band is not Band.CONCERN:
        return None
    parts = []
    if s.echo_rate is not None:
        parts.append(words(N_("echo rate %(rate)s%%, under %(low)s%%"),
                           rate=round_half_up(s.echo_rate), low=round_half_up(t.echo_low))
                     if low else words(N_("echo rate %(rate)s%%"),
                                       rate=round_half_up(s.echo_rate)))
    if s.win_band is Band.CONCERN:
        parts.append(words(N_("Win is in the concern band")))
    return _made(
        "restate-win", Phase.WIN,
        words(N_("Restate the win at the next meeting; everyone says it back.")),
        N_("Partners who can state the shared agenda are the first sign a backbone works."),
        N_("Before anything else, each of us says our win in one breath. If we can't, "
           "that's today's work."),
        parts,
    )


def split_items(s: Situation, t: Thresholds) -> Move | None:
    """An item with at least 25% agreeing and at least 25% disagreeing."""
    split = sorted(
        (
            x
            for x in s.item_splits
            if x.answers >= t.min_respondents
            and x.agree >= t.split_share
            and x.disagree >= t.split_share
        ),
        key=lambda x: (-min(x.agree, x.disagree), x.item),
    )
    if not split:
        return None
    first = split[0]
    return _made(
        "where-we-differ", ITEM_PHASE.get(first.item, Phase.ALIGN),
        words(N_('Put a 15-minute "where we differ" item on the agenda (%(item)s).'),
              item=first.item),
        N_("Different views are a finding."),
        N_("We see this differently. Better to hear why now than in six months."),
        [words(N_("%(item)s: %(agree)s%% agree, %(disagree)s%% disagree of %(answers)s"),
               item=x.item, agree=_pct(x.agree), disagree=_pct(x.disagree), answers=x.answers)
         for x in split],
        tuple(x.item for x in split),
    )


def completion_low(s: Situation, t: Thresholds) -> Move | None:
    """Commitment completion under 60% for 2 rounds."""
    n = t.completion_low_rounds
    rates = s.completion_rates[-n:]
    if len(rates) < n or not all(r < t.completion_low for r in rates):
        return None
    shown = ", ".join(f"{round_half_up(r)}%" for r in rates)
    return _made(
        "one-small-task", Phase.ALIGN,
        words(N_("Cut to one small task per partner.")),
        N_("Promises made in a meeting's enthusiasm shrink at the desk."),
        N_("We promised more than our calendars allow. Let's each keep one thing we will "
           "finish."),
        [words(N_("commitment completion %(shown)s in the last %(rounds)s rounds, under "
                  "%(low)s%%"), shown=shown, rounds=n, low=round_half_up(t.completion_low))],
    )


def commitment_slipping(s: Situation, t: Thresholds) -> Move | None:
    """A commitment reported slipping or blocked twice in a row: resize it or hand it off."""
    slipped = sorted(
        (c for c in s.slipped_commitments if c.times >= t.commitment_slip_reports),
        key=lambda c: (-c.times, c.organisation, c.text),
    )
    if not slipped:
        return None
    first = slipped[0]
    move = (words(N_("Ask %(organisation)s to resize or hand off \u201c%(text)s\u201d (and "
                     "%(more)s more)."), organisation=first.organisation, text=first.text,
                  more=len(slipped) - 1)
            if len(slipped) > 1 else
            words(N_("Ask %(organisation)s to resize or hand off \u201c%(text)s\u201d."),
                  organisation=first.organisation, text=first.text))
    return _made(
        "resize-commitment", Phase.ALIGN, move,
        N_("Promises made in a meeting's enthusiasm shrink at the desk."),
        N_("This one has slipped twice. What would make it doable: a smaller piece, "
           "a later date, or someone to share it?"),
        [words(N_("%(organisation)s: \u201c%(text)s\u201d slipping or blocked %(count)s rounds "
                  "in a row"), organisation=c.organisation, text=c.text, count=c.times)
         for c in slipped],
        tuple(sorted({c.organisation for c in slipped})),
    )


def convener_overload(s: Situation, t: Thresholds) -> Move | None:
    """The lead organisation holds over 50% of open commitments, or reported overload twice."""
    heavy = s.convener_load is not None and s.convener_load > t.convener_load_high
    tired = s.overload_reports >= t.overload_reports
    if not heavy and not tired:
        return None
    parts = []
    if s.convener_load is not None and heavy:
        parts.append(words(N_("%(convener)s holds %(share)s%% of open commitments"),
                           convener=s.convener, share=_pct(s.convener_load)))
    if tired:
        parts.append(words(N_("%(convener)s reported overload %(count)s times"),
                           convener=s.convener, count=s.overload_reports))
    handoff = tuple(sorted(s.convener_open_commitments)[:3])
    move = (words(N_("Hand off three commitments and rotate the chair. Candidates: "
                     "%(candidates)s."), candidates="; ".join(handoff))
            if handoff else words(N_("Hand off three commitments and rotate the chair.")))
    return _made(
        "convener-load", Phase.ALIGN, move,
        N_("Convener burnout, and a backbone that became the engine."),
        N_("I'm holding too much, which makes this my project, not ours. Who takes one of "
           "these three?"),
        parts,
        (s.convener, *handoff),
    )


def low_value(s: Situation, t: Thresholds) -> Move | None:
    """A partner rates "worth the time it costs" (M2) at 2 or lower."""
    low = sorted((name for name, r in s.m2_ratings.items() if r <= t.m2_low))
    if not low:
        return None
    return _made(
        "value-talk", Phase.MOMENTUM,
        words(N_("Have a one-to-one about value with %(names)s."), names=listed(low)),
        N_("Members stay when benefits clearly outweigh costs (about 1.6 to 1)."),
        N_("Tell me straight what this costs you, and what you'd need from it to keep coming."),
        [words(N_("%(name)s rated worth-the-time %(rating)s"), name=name,
               rating=s.m2_ratings[name]) for name in low],
        tuple(low),
    )


def no_recent_win(s: Situation, t: Thresholds) -> Move | None:
    """No win logged for 6 weeks, at launch or growth."""
    if s.stage not in (Stage.LAUNCH, Stage.GROWTH) or s.weeks_since_last_win is None:
        return None
    if s.weeks_since_last_win < t.no_win_weeks:
        return None
    return _made(
        "quick-win", Phase.MOMENTUM,
        words(N_("Pick a no-cost win doable in 30 days; celebrate it in public.")),
        N_("Early visible wins keep people at the table."),
        N_("One thing we can finish in 30 days that someone outside this room will notice."),
        [words(N_("no win logged for %(weeks)s weeks"), weeks=s.weeks_since_last_win)],
    )


def tie_mismatch(s: Situation, t: Thresholds) -> Move | None:
    """A tie one side reported that the other has not confirmed, or rates differently."""
    if not s.tie_mismatches:
        return None
    pairs = sorted(s.tie_mismatches, key=lambda m: (m.reporter, m.partner))
    details = []
    for m in pairs:
        if m.partner_level is None:
            details.append(words(N_("%(reporter)s reported working with %(partner)s, not "
                                    "confirmed"), reporter=m.reporter, partner=m.partner))
        else:
            details.append(words(N_("%(reporter)s rates its work with %(partner)s "
                                    "%(reported)s, %(partner)s rates it %(level)s"),
                                 reporter=m.reporter, partner=m.partner,
                                 reported=m.reported_level, level=m.partner_level))
    first = pairs[0]
    move = (words(N_("Set up a 20-minute call for %(reporter)s and %(partner)s (and %(more)s "
                     "more pairs)."), reporter=first.reporter, partner=first.partner,
                  more=len(pairs) - 1)
            if len(pairs) > 1 else
            words(N_("Set up a 20-minute call for %(reporter)s and %(partner)s."),
                  reporter=first.reporter, partner=first.partner))
    return _made(
        "pair-call", Phase.TRUST, move,
        N_("Mismatched views of a relationship are worth a talk."),
        N_("You two see your work together differently. Worth a quick call to compare notes?"),
        details,
        tuple(sorted({org for m in pairs for org in (m.reporter, m.partner)})),
    )


def hub_and_spoke(s: Situation, t: Thresholds) -> Move | None:
    """More than 60% of ties run through the convener."""
    if s.convener_tie_share is None or s.convener_tie_share <= t.convener_ties_high:
        return None
    return _made(
        "introduce-pairs", Phase.TRUST,
        words(N_("Introduce three pairs of partners directly this week.")),
        N_("Hub-and-spoke is an early stage to grow out of."),
        N_("Everything goes through me. Let me introduce you directly: you'll move faster "
           "without me in the middle."),
        [words(N_("%(share)s%% of ties run through %(convener)s"),
               share=_pct(s.convener_tie_share), convener=s.convener)],
        (s.convener,),
    )


def stale_metrics(s: Situation, t: Thresholds) -> Move | None:
    """A headline metric not updated for 2 rounds."""
    n = t.metric_stale_rounds
    stale = sorted(
        (m for m in s.metrics if n and len(m.updated) >= n and not any(m.updated[-n:])),
        key=lambda m: m.name,
    )
    if not stale:
        return None
    return _made(
        "stale-metric", Phase.SCORE,
        words(N_("Name an owner for %(names)s, or move it to the data-development list."),
              names=listed([m.name for m in stale])),
        N_("Use the data you have; name the data you lack."),
        N_("If we can't get this number, let's say so and track one we can see meanwhile."),
        [words(N_("%(name)s not updated for %(rounds)s rounds (owner: %(owner)s)"),
               name=m.name, rounds=_streak(m.updated, False), owner=m.owner)
         if m.owner else
         words(N_("%(name)s not updated for %(rounds)s rounds (no owner)"),
               name=m.name, rounds=_streak(m.updated, False))
         for m in stale],
        tuple(m.name for m in stale),
    )


def below_forecast(s: Situation, t: Thresholds) -> Move | None:
    """A headline metric below its forecast for 2 readings in a row."""
    n = t.metric_below_forecast_readings
    below = sorted(
        (m for m in s.metrics if n and len(m.below_forecast) >= n and all(m.below_forecast[-n:])),
        key=lambda m: m.name,
    )
    if not below:
        return None
    return _made(
        "turn-the-curve", Phase.SCORE,
        words(N_("Hold a 20-minute turn-the-curve session on %(names)s."),
              names=listed([m.name for m in below])),
        N_("The story behind the curve, who else matters, a no-cost idea."),
        N_("We're below forecast. Twenty minutes: the story, who else matters, one idea "
           "that costs nothing."),
        [words(N_("%(name)s below forecast for %(readings)s readings"), name=m.name,
               readings=_streak(m.below_forecast, True)) for m in below],
        tuple(m.name for m in below),
    )


def new_partner_idle(s: Situation, t: Thresholds) -> Move | None:
    """A new partner not engaged within 4 weeks of joining."""
    idle = sorted(
        (
            p
            for p in s.new_partners
            if not p.engaged and p.weeks_since_joining >= t.new_partner_weeks
        ),
        key=lambda p: (-p.weeks_since_joining, p.name),
    )
    if not idle:
        return None
    return _made(
        "buddy", Phase.READY,
        words(N_("Pair %(names)s with a buddy partner."), names=listed([p.name for p in idle])),
        N_("New members who never engage are a warning sign."),
        N_("Would you walk our newest partner through how things really work here? One coffee."),
        [words(N_("%(name)s joined %(weeks)s weeks ago, not engaged yet"), name=p.name,
               weeks=p.weeks_since_joining) for p in idle],
        tuple(p.name for p in idle),
    )


def funding_ending(s: Situation, t: Thresholds) -> Move | None:
    """Main funding ends within 6 months and no sustainability plan is logged."""
    months = s.months_to_funding_end
    if months is None or months > t.funding_months or s.sustainability_plan:
        return None
    evidence = (words(N_("main funding has ended; no sustainability plan logged"))
                if months <= 0 else
                words(N_("main funding ends in %(months)s months; no sustainability plan "
                         "logged"), months=float(f"{months:g}")))
    return _made(
        "sustainability-plan", Phase.MOMENTUM,
        words(N_("Start the sustainability plan.")),
        N_("Planning for sustainability predicts survival."),
        N_("Our funding has a date on it. What must outlive it, and who could carry it?"),
        [evidence],
    )


def _streak(history: Sequence[bool], value: bool) -> int:
    """Count how many entries at the end of a history equal ``value``."""
    n = 0
    for v in reversed(history):
        if v is not value:
            break
        n += 1
    return n


# The rules in their order within a priority group (see the module docstring).
RULES: tuple[Rule, ...] = (
    response_falling,
    silent_partners,
    funding_ending,
    convener_overload,
    low_value,
    echo_low,
    completion_low,
    commitment_slipping,
    no_recent_win,
    stale_metrics,
    below_forecast,
    split_items,
    new_partner_idle,
    tie_mismatch,
    hub_and_spoke,
)

# Moves that come first at every stage.
ALWAYS_FIRST = frozenset({"response-low", "silent-partner"})


def next_moves(
    situation: Situation, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[Move, ...]:
    """Return at most ``move_limit`` moves, in the priority the module docstring documents."""
    fired = [m for rule in RULES if (m := rule(situation, thresholds)) is not None]
    focus = STAGE_PHASES[Stage(situation.stage)]

    def group(m: Move) -> int:
        if m.id in ALWAYS_FIRST:
            return 0
        return 1 if m.phase in focus else 2

    ranked = sorted(enumerate(fired), key=lambda p: (group(p[1]), p[0]))
    return tuple(m for _, m in ranked[: thresholds.move_limit])
