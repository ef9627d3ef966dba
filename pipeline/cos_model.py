"""The COS Model at a round: load plain data from the database, call the pure core, store it.

The rules live in ``pipeline.core`` (phases, moves, echo, model); this module only gathers their
inputs with a fixed number of queries (none per organisation or person) and stores the result
as the round's ``PhaseSnapshot``. "Today" for a round is its scheduled closing day in the
coalition's time zone, so recomputing a round, before or after it closed, gives the same
snapshot for the same answers.

How the product's data feeds the playbook (README, "The COS Model"):

- phase items (R1-M3) come from the check-in's ``items`` answers; "not_sure" is "not sure";
- win-echo marks come from ``EchoMark`` rows (a lead's override counts over the suggestion);
- a logged win is a visible win (Momentum); the help network's edges are working ties at level
  3 (shared work or resources), reported by the organisation helped;
- a named role is an active partner person at an organisation holding an open commitment;
- headline measures are the metrics, on time when their owner reported in the round;
- commitment completion per round is the share of reports saying done or on track.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlmodel import Session, col, func, select

from pipeline.core.display import local_date
from pipeline.core.echo import EchoMark as Mark
from pipeline.core.echo import WinSentence
from pipeline.core.model import MetricSeries, metric_history, snapshot
from pipeline.core.moves import NewPartner, Situation, SlippedCommitment, item_splits, next_moves
from pipeline.core.phases import (
    AGREEMENT_ITEMS,
    ITEM_PHASE,
    Answer,
    EchoAnswer,
    HeadlineMetric,
    Phase,
    PhaseInputs,
    ReadinessItem,
    Thresholds,
    Tie,
    assess,
    combine_readiness,
    direct_ties,
    in_window,
    readiness,
    thresholds_from,
    tie_mismatches,
    tie_reciprocity,
)
from pipeline.core.vocab import CLOSED_STATUSES, CommitmentStatus, Role, Stage
from pipeline.history import History, load_history
from pipeline.models import (
    Coalition,
    EchoMark,
    Person,
    PhaseSnapshot,
    Response,
    Round,
    utcnow,
)


class RoundKind:
    """The kinds of round (the values of ``Round.kind``)."""

    CHECKIN = "checkin"
    READINESS = "readiness"
    WIN_ECHO = "win-echo"
    ALL = (CHECKIN, READINESS, WIN_ECHO)


READINESS_ITEMS = frozenset(i.value for i in ReadinessItem)
# A help edge is a working tie at this level (T1: 3 is "shared work or resources").
HELP_TIE_LEVEL = 3
KEPT = frozenset({CommitmentStatus.DONE, CommitmentStatus.ON_TRACK})
SLIPPING = frozenset({CommitmentStatus.SLIPPING, CommitmentStatus.BLOCKED})


def win_sentence(coalition: Coalition) -> WinSentence:
    """Return the coalition's win by its parts: as its file states them, else read from it."""
    parts = (coalition.model or {}).get("win_parts")
    if isinstance(parts, dict):
        return WinSentence(who=parts.get("who", ""), what=parts.get("what", ""),
                           how_much=parts.get("how_much", ""),
                           by_when=parts.get("by_when", ""), text=coalition.win)
    return WinSentence.from_text(coalition.win)


def coalition_thresholds(coalition: Coalition) -> Thresholds:
    """Return the playbook's thresholds with the coalition file's overrides."""
    return thresholds_from((coalition.model or {}).get("thresholds") or None)


def round_day(round_: Round, timezone: str) -> date:
    """Return the day a round stands for: its scheduled closing day, in the coalition's zone."""
    return local_date(round_.closes_at, timezone)


def _item_value(item: str, value: Any) -> tuple[bool, int | str | None]:
    """Return (usable, value) for a stored phase-item answer."""
    if item in AGREEMENT_ITEMS:
        if value in (None, "", "not_sure"):
            return value == "not_sure", None
        try:
            number = int(value)
        except (TypeError, ValueError):
            return False, None
        return 1 <= number <= 5, number
    if item == "T1":
        try:
            return True, int(value)
        except (TypeError, ValueError):
            return False, None
    if isinstance(value, str) and value:
        return True, value
    return False, None


@dataclass
class Gathered:
    """Everything the core needs about one round, as plain data."""

    inputs: PhaseInputs
    situation: Situation
    metrics: list[MetricSeries]
    coalition: dict[str, Any]
    extra: dict[str, Any]


def gather(session: Session, h: History, t: Thresholds) -> Gathered:
    """Turn a round's history into the core's plain inputs (two more queries: the answers
    and win-echo marks of the rounds in the window)."""
    round_, coalition = h.round, h.coalition
    tz = coalition.timezone
    today = round_day(round_, tz)
    orgs = h.organisations
    org_name = h.org_name
    people = h.people
    convener = org_name.get(coalition.lead_organisation_id or 0, "the convener")
    rounds = h.rounds
    day = {r.id: round_day(r, tz) for r in rounds}
    checkins = [r for r in rounds if r.kind == RoundKind.CHECKIN]

    # Who was asked and who answered, per round.
    invited: dict[int, set[int]] = defaultdict(set)
    for rid, pid in h.invitations:
        invited[rid].add(pid)
    answered: dict[int, set[int]] = defaultdict(set)
    for rid, pid in h.answered:
        answered[rid].add(pid)

    org_of = {pid: org_name[p.organisation_id] for pid, p in people.items()}.__getitem__

    response_rates = tuple(
        len(answered[r.id or 0] & invited[r.id or 0]) / len(invited[r.id or 0])
        for r in checkins if invited[r.id or 0])
    streaks: dict[str, int] = {}
    first_seen: dict[str, date] = {}
    engaged: set[str] = set()
    for r in checkins:
        rid = r.id or 0
        asked_orgs = {org_of(p) for p in invited[rid]}
        heard = {org_of(p) for p in answered[rid] & invited[rid]}
        engaged |= heard
        for o in asked_orgs:
            first_seen.setdefault(o, day[rid])
            streaks[o] = 0 if o in heard else streaks.get(o, 0) + 1
    window_rounds = [r for r in checkins if in_window(day[r.id], today, t.window_days)]
    asked_people = {p for r in window_rounds for p in invited[r.id or 0]}

    # Phase items from the latest answers of the rounds in the window (one query).
    window_ids = [r.id for r in rounds if in_window(day[r.id], today, t.window_days)]
    answers: list[Answer] = []
    readiness_sheets: dict[int, list[dict[str, int]]] = defaultdict(list)
    newest = (select(Response.invitation_id, func.max(Response.revision).label("rev"))
              .where(col(Response.round_id).in_(window_ids))
              .group_by(col(Response.invitation_id)).subquery())
    for resp in session.exec(select(Response).join(
            newest, (col(Response.invitation_id) == newest.c.invitation_id)
            & (col(Response.revision) == newest.c.rev)).order_by(col(Response.id))):
        person = people.get(resp.person_id)
        if person is None or not isinstance(resp.answers, dict):
            continue
        on = local_date(resp.submitted_at, tz)
        items = resp.answers.get("items") or {}
        if isinstance(items, dict):
            for item, value in sorted(items.items()):
                if item not in ITEM_PHASE:
                    continue
                ok, clean = _item_value(item, value)
                if ok:
                    answers.append(Answer(str(person.id), org_name[person.organisation_id],
                                          item, clean, on))
        sheet = resp.answers.get("readiness")
        if isinstance(sheet, dict):
            ratings: dict[str, int] = {}
            for k, v in sorted(sheet.items()):
                rating = v.get("rating") if isinstance(v, dict) else v
                if k in READINESS_ITEMS and isinstance(rating, int) \
                        and not isinstance(rating, bool) and 0 <= rating <= 3:
                    ratings[k] = rating
            if ratings:
                readiness_sheets[resp.round_id].append(ratings)

    echoes = [
        EchoAnswer(str(e.person_id), org_name[e.organisation_id], Mark(e.mark), day[e.round_id])
        for e in session.exec(select(EchoMark).where(col(EchoMark.round_id).in_(window_ids))
                              .order_by(col(EchoMark.id)))
    ]

    # Commitments, their history by round.
    number = {r.id: r.number for r in rounds}
    history: dict[int, list[tuple[int, str]]] = defaultdict(list)
    per_round: dict[int, list[str]] = defaultdict(list)
    for cid, rid, status, _ in h.updates:  # unpacked: cheaper than a Row's names
        history[cid].append((number[rid], status))
        per_round[rid].append(status)
    completion_rates = tuple(
        100.0 * sum(1 for s in per_round[r.id or 0] if s in KEPT) / len(per_round[r.id or 0])
        for r in checkins if per_round[r.id or 0])
    open_items: list[tuple[str, str]] = []
    slipped_items: list[SlippedCommitment] = []
    created_in = {r.id for r in rounds}
    for c in h.commitments:  # by id
        if c.created_round_id is not None and c.created_round_id not in created_in:
            continue  # made after this round
        if c.created_round_id == round_.id:
            continue
        reports = sorted(history.get(c.id, []))
        status = reports[-1][1] if reports else CommitmentStatus.OPEN
        if c.active and status not in CLOSED_STATUSES:
            open_items.append((org_name[c.organisation_id], c.text))
        run = 0
        for _, s in reversed(reports):
            if s not in SLIPPING:
                break
            run += 1
        if run and reports and reports[-1][0] == round_.number:
            slipped_items.append(SlippedCommitment(org_name[c.organisation_id], c.text, run))
    convener_open = tuple(sorted(text for o, text in open_items if o == convener))
    convener_load = len(convener_open) / len(open_items) if open_items else None

    # Metrics and their readings.
    readings: dict[int, dict[int, tuple[float, str]]] = defaultdict(dict)
    for mid, rid, value, reading_note in h.readings:  # metric -> round -> (value, note)
        readings[mid][rid] = (value, reading_note)
    checkin_ids = [r.id or 0 for r in checkins]
    series = []
    for m in h.metrics:  # by id
        if not m.active:
            continue
        values: list[float | None] = []
        note = ""
        by_round = readings.get(m.id, {})
        for rid in checkin_ids:
            reading = by_round.get(rid)
            values.append(None if reading is None else reading[0])
            if reading is not None and reading[1]:
                note = reading[1]
        series.append(MetricSeries(m.key, m.name, m.unit, org_name[m.owner_organisation_id],
                                   m.baseline, m.target, m.direction, tuple(values), note))
    headline = tuple(
        HeadlineMetric(s.name, s.owner, s.baseline,
                       tuple(v is not None for v in s.readings)) for s in series)

    # Wins, help ties and pulses.
    win_days = tuple(sorted(day[rid] for rid, n in h.win_counts.items() for _ in range(n)))
    ties = tuple(sorted(
        (Tie(org_name[e.helped_organisation_id], org_name[e.helper_organisation_id],
             HELP_TIE_LEVEL, day[e.round_id])
         for e in h.help_edges if e.helped_organisation_id != e.helper_organisation_id),
        key=lambda x: (x.on, x.reporter, x.partner)))
    pulses = h.pulse_totals  # round id -> (sum, how many)

    partner_orgs = sorted({org_name[p.organisation_id] for p in people.values()
                           if p.active and p.role == Role.PARTNER
                           and orgs[p.organisation_id].active} | {convener} - {"the convener"})
    named = tuple(sorted({o for o, _ in open_items} & set(partner_orgs)))
    model = coalition.model or {}
    latest_readiness = next((readiness_sheets[r.id or 0] for r in reversed(rounds)
                             if readiness_sheets.get(r.id or 0)), None)
    readiness_result = None
    if latest_readiness:
        combined = combine_readiness(latest_readiness)
        if len(combined) == 8:
            readiness_result = readiness(combined, t)
    hours_named = bool(model.get("convening_hours_named")) or bool(
        readiness_result and readiness_result.items.get("convening_hours", 0) >= 2)  # type: ignore[call-overload]
    inputs = PhaseInputs(
        partners_asked=len(asked_people),
        organisations=tuple(partner_orgs),
        convener=convener,
        answers=tuple(answers),
        echoes=tuple(echoes),
        win_complete=win_sentence(coalition).complete,
        named_roles=named,
        metrics=headline,
        ties=ties,
        wins=win_days,
        convening_hours_named=hours_named,
        sustainability_plan=bool(model.get("sustainability_plan")),
    )

    m2: dict[str, int] = {}
    for a in sorted(answers, key=lambda a: (a.on, a.person)):
        if a.item == "M2" and isinstance(a.value, int):
            m2[a.organisation] = a.value
    first_day = day[rounds[0].id] if rounds else today
    last_win = max(win_days) if win_days else first_day
    funding_end = model.get("funding_ends")
    months = None
    if isinstance(funding_end, str) and funding_end:
        months = round((date.fromisoformat(funding_end) - today).days / 30.44, 1)
    confirmed, reported = tie_reciprocity(ties, today, t)
    direct, pairs, reached = direct_ties(ties, today, convener, t)
    echo_marks = [e.mark for e in echoes]
    situation = Situation(
        stage=Stage(coalition.stage),
        response_rates=response_rates,
        silent_streaks={o: n for o, n in sorted(streaks.items())},
        echo_rate=(100.0 * sum(m.credit for m in echo_marks) / len(echo_marks)
                   if echo_marks else None),
        item_splits=(),
        completion_rates=completion_rates,
        convener=convener,
        convener_load=convener_load,
        convener_open_commitments=convener_open,
        m2_ratings=m2,
        weeks_since_last_win=(today - last_win).days // 7,
        tie_mismatches=tie_mismatches(ties, today, t),
        convener_tie_share=(1 - direct / pairs) if pairs else None,
        metrics=tuple(metric_history(s) for s in series),
        new_partners=tuple(
            NewPartner(o, (today - d).days // 7, o in engaged)
            for o, d in sorted(first_seen.items())
            if (today - d).days < 7 * (t.new_partner_weeks + 4)),
        months_to_funding_end=months,
        sustainability_plan=bool(model.get("sustainability_plan")),
        slipped_commitments=tuple(slipped_items),
    )

    this_total, this_count = pulses.get(round_.id or 0, (0, 0))
    recent = [r for r in checkins][-8:]
    summary = {
        "convener": convener,
        "organisations": len(partner_orgs),
        "response_rate": response_rates[-1] if response_rates else None,
        "response_trend": [round(x, 4) for x in response_rates[-8:]],
        "completion": completion_rates[-1] if completion_rates else None,
        "completion_trend": [round(x, 2) for x in completion_rates[-8:]],
        "open_commitments": len(open_items),
        "convener_load": None if convener_load is None else round(convener_load, 4),
        "pulse_average": round(this_total / this_count, 2) if this_count else None,
        "pulse_trend": [round(pulses[r.id or 0][0] / pulses[r.id or 0][1], 2)
                        if pulses.get(r.id or 0) else None for r in recent],
        "help_network": {
            "ties": reported,
            "confirmed": confirmed,
            "reaches": len({o for x in ties if in_window(x.on, today, t.window_days)
                            for o in (x.reporter, x.partner)}),
            "direct_share": None if not pairs else round(direct / pairs, 4),
            "with_direct_tie": len(reached),
        },
        "wins_recent": [h.win_counts.get(r.id or 0, 0) for r in recent],
        "weeks_since_last_win": situation.weeks_since_last_win,
        "echo_rate": situation.echo_rate,
    }
    extra: dict[str, Any] = {}
    if readiness_result is not None:
        extra["readiness"] = {
            "verdict": readiness_result.verdict.value,
            "total": readiness_result.total,
            "maximum": readiness_result.maximum,
            "items": {k.value: v for k, v in readiness_result.items.items()},
            "lowest": readiness_result.lowest.value,
            "first_move": readiness_result.first_move,
            "reasons": list(readiness_result.reasons),
            "reason_words": [r.as_data() for r in readiness_result.reason_words],
            "sheets": len(latest_readiness or []),
        }
    return Gathered(inputs, situation, series, summary, extra)


def compute_snapshot(session: Session, round_id: int,
                     history: History | None = None) -> dict[str, Any]:
    """Compute a round's phase snapshot from the database, or from its history already loaded
    (stores nothing)."""
    h = history or load_history(session, round_id)
    round_, coalition = h.round, h.coalition
    t = coalition_thresholds(coalition)
    g = gather(session, h, t)
    today = round_day(round_, coalition.timezone)
    state = assess(g.inputs, Stage(coalition.stage), today, t)
    situation = replace(g.situation, item_splits=item_splits(state),
                        win_band=state.phases[Phase.WIN].band)
    moves = next_moves(situation, t)
    previous = previous_snapshot(session, round_)
    return snapshot(as_of=today.isoformat(), round_number=round_.number, round_kind=round_.kind,
                    state=state, moves=moves, metrics=g.metrics, coalition=g.coalition,
                    previous=previous, thresholds=t, extra=g.extra)


def previous_snapshot(session: Session, round_: Round) -> dict[str, Any] | None:
    """Return the stored snapshot of the coalition's round before this one, if any."""
    row = session.exec(
        select(PhaseSnapshot).join(Round, col(Round.id) == col(PhaseSnapshot.round_id))
        .where(Round.coalition_id == round_.coalition_id, Round.number < round_.number)
        .order_by(col(Round.number).desc()).limit(1)).first()
    return row.data if row else None


def store_snapshot(session: Session, round_id: int,
                   history: History | None = None) -> dict[str, Any]:
    """Recompute a round's phase snapshot and save it (one row per round)."""
    data = compute_snapshot(session, round_id, history)
    save_snapshot(session, round_id, data)
    return data


def save_snapshot(session: Session, round_id: int, data: dict[str, Any]) -> None:
    """Save a round's phase snapshot computed before (one row per round)."""
    row = session.exec(select(PhaseSnapshot).where(PhaseSnapshot.round_id == round_id)).first()
    if row is None:
        row = PhaseSnapshot(round_id=round_id, data=data)
    elif row.data != data:
        row.data, row.computed_at = data, utcnow()
    session.add(row)


def snapshot_for(session: Session, round_id: int) -> dict[str, Any]:
    """Return a round's stored snapshot, computing and storing it when there is none."""
    row = session.exec(select(PhaseSnapshot).where(PhaseSnapshot.round_id == round_id)).first()
    return row.data if row else store_snapshot(session, round_id)


def store_echo_marks(session: Session, round_: Round, answers: dict[int, Any]) -> int:
    """Mark each win-echo answer (person id -> answers) against the win; keep lead overrides.

    Returns how many answers are marked. An answer changed since it was marked is marked again
    and its override dropped (the lead judged a different sentence).
    """
    from pipeline.core.echo import echo

    coalition = session.get(Coalition, round_.coalition_id)
    assert coalition is not None
    win = win_sentence(coalition)
    # Only those who answered (a merge runs this under the write lock; 100,000 people otherwise).
    people = {p.id: p for p in session.execute(select(Person.id, Person.organisation_id).where(
        Person.coalition_id == coalition.id,
        col(Person.id).in_(select(Response.person_id).where(Response.round_id == round_.id))))}
    existing = {e.person_id: e for e in session.exec(select(EchoMark).where(
        EchoMark.round_id == round_.id))}
    marked = 0
    for pid, data in sorted(answers.items()):
        text = str((data or {}).get("echo") or "").strip() if isinstance(data, dict) else ""
        person = people.get(pid)
        if person is None or not text:
            continue
        result = echo(win, text)
        row = existing.pop(pid, None)
        if row is None:
            row = EchoMark(round_id=round_.id or 0, person_id=pid,
                           organisation_id=person.organisation_id, answer=text,
                           suggested=result.mark.value)
        if row.answer != text:
            row.answer, row.override = text, None
        row.suggested, row.reason = result.mark.value, result.reason[:500]
        row.organisation_id = person.organisation_id
        session.add(row)
        marked += 1
    for gone in existing.values():
        session.delete(gone)
    return marked


def override_echo_mark(session: Session, round_: Round, person: Person,
                       mark: str | None) -> EchoMark:
    """Set (or with None clear) a lead's mark on one person's win-echo answer."""
    if mark is not None:
        mark = Mark(mark).value
    row = session.exec(select(EchoMark).where(EchoMark.round_id == round_.id,
                                              EchoMark.person_id == person.id)).first()
    if row is None:
        raise LookupError(f"{person.name} has no win-echo answer in round {round_.number}")
    row.override = mark
    session.add(row)
    session.flush()
    store_snapshot(session, round_.id or 0)
    return row


def one_page_view(session: Session, round_: Round, *, public: bool = False) -> dict[str, Any]:
    """Return the one-page scoreboard of a round: the snapshot plus the round's scoreboard.

    The shape is what ``cos scoreboard --json`` prints (README documents it). ``public`` leaves
    out every person's name and every free-text note (the funder page): no one is named as
    silent, no partner is ranked.
    """
    from pipeline.digest import scoreboard_for

    coalition = session.get(Coalition, round_.coalition_id)
    assert coalition is not None
    snap = snapshot_for(session, round_.id or 0)
    board = scoreboard_for(session, round_.id or 0)
    response = board["response"]
    view: dict[str, Any] = {
        "coalition": {"slug": coalition.slug, "name": coalition.name, "win": coalition.win,
                      "language": coalition.language, "locale": coalition.locale},
        "campaign": round_.id,
        **snap,
        "response": {k: response[k] for k in ("invited", "answered", "rate")},
        "commitments": {k: board["commitments"]["totals"].get(k, 0)
                        for k in ("done", "on_track", "slipping", "blocked", "overdue",
                                  "no_update", "dropped")},
        "wins": [w["text"] for w in board["wins"]],
    }
    if not public:
        view["response"]["silent"] = response["silent"]
        return view
    allow_notes = bool((coalition.model or {}).get("funder_notes"))
    view["wins"] = view["wins"] if allow_notes else []
    view["moves"] = []  # they name people; the funder page shows risks instead
    view["risks"] = [m["move"] for m in snap["moves"][:2]] if allow_notes else [
        f"{m['phase'].capitalize()}: {m['reason']}" for m in snap["moves"][:2]]
    # The same risks kept translatable (emails.model_words writes them for the reader).
    view["risk_parts"] = [{"move": (m.get("words") or {}).get("move") or m["move"]}
                          if allow_notes else {"phase": m["phase"], "reason": m["reason"]}
                          for m in snap["moves"][:2]]
    view["slipped"] = [{"kind": s["kind"], "name": s["name"], "what": s["what"], "why": ""}
                       for s in snap["slipped"]]
    for m in view["metrics"]:
        m["story"] = m["story"] if allow_notes else ""
    return view


def round_questions(session: Session, round_: Round, coalition: Coalition
                    ) -> tuple[tuple[str, ...], bool]:
    """Return the phase items a round asks and whether it asks the win from memory.

    A check-in rotates the items around the focus phase of the round before (or the stage's
    first phase); a win-echo round asks the win from memory with W2 and W3; a readiness round
    asks the readiness check only.
    """
    previous = previous_snapshot(session, round_) if round_.kind == RoundKind.CHECKIN else None
    return questions_after(round_.kind, round_.number, coalition.stage, coalition.model,
                           previous)


def questions_after(kind: str, number: int, stage: str, model: dict[str, Any] | None,
                    previous: dict[str, Any] | None) -> tuple[tuple[str, ...], bool]:
    """`round_questions` from the round's kind and number, the coalition's stage and model, and
    the snapshot of the round before (`previous_snapshot`): for callers that read them with
    other rows (the check-in page reads them all with the invitation)."""
    from pipeline.core.phases import STAGE_PHASES
    from pipeline.core.questions import checkin_items, rotation_from

    if kind == RoundKind.WIN_ECHO:
        return ("W2", "W3"), True
    if kind == RoundKind.READINESS:
        return (), False
    focus = Phase(previous["focus"]) if previous else STAGE_PHASES[Stage(stage)][0]
    return checkin_items(number, focus, rotation_from((model or {}).get("rotation")))


def echo_answers(session: Session, round_id: int) -> list[dict[str, Any]]:
    """Return a round's win-echo answers with the suggested mark, the lead's and why, by name
    (what `cos echo list` prints and the admin scoreboard shows)."""
    return [{"email": p.email, "name": p.name, "answer": e.answer, "suggested": e.suggested,
             "override": e.override, "mark": e.mark, "reason": e.reason}
            for e, p in session.exec(select(EchoMark, Person)
                                     .join(Person, col(Person.id) == col(EchoMark.person_id))
                                     .where(EchoMark.round_id == round_id)
                                     .order_by(col(Person.name)))]
