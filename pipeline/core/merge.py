"""The merge rules: what a round's latest answers contribute, as plain data."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pipeline.core.text import TEXT_MAX_LENGTH, clean_text
from pipeline.core.vocab import REPORTED_STATUSES, CommitmentStatus, ConflictKind


@dataclass(frozen=True)
class AnswerSet:
    """The latest answers of one person in one round."""

    person_id: int
    organisation_id: int
    submitted_at: datetime
    answers: dict[str, Any]


@dataclass(frozen=True)
class StatusReport:
    """What one person said about one commitment."""

    status: str
    note: str
    person_id: int


@dataclass(frozen=True)
class NewCommitment:
    """A commitment a person added in their check-in."""

    organisation_id: int
    text: str
    due: date | None


@dataclass(frozen=True)
class ConflictAnswer:
    """One person's answer about something their organisation answered differently."""

    person_id: int
    organisation_id: int
    value: str | float  # a status for a commitment, a number for a metric
    submitted_at: datetime


@dataclass(frozen=True)
class Conflict:
    """Two or more people whose answers count gave different answers about one thing.

    The answers are in submission order; the merge keeps the last one, as it does when
    people agree, so a conflict changes nothing on the scoreboard: it only stops hiding.
    """

    kind: ConflictKind
    subject_id: int  # the commitment's or metric's id
    answers: tuple[ConflictAnswer, ...]

    @property
    def kept(self) -> ConflictAnswer:
        """Return the answer the merge kept: the latest submission."""
        return self.answers[-1]


@dataclass
class RoundMerge:
    """Everything a round's answers contribute, keyed so that each thing appears once."""

    status_reports: dict[int, StatusReport] = field(default_factory=dict)
    new_commitments: dict[int, NewCommitment] = field(default_factory=dict)  # by person
    readings: dict[int, tuple[float, int]] = field(default_factory=dict)  # metric -> value, person
    wins: dict[int, tuple[int, str]] = field(default_factory=dict)  # person -> org, text
    blockers: dict[int, tuple[int, str, bool]] = field(default_factory=dict)
    pulses: dict[int, int] = field(default_factory=dict)  # person -> 1..5
    help_edges: set[tuple[int, int, int]] = field(default_factory=set)  # helper, helped, reporter
    conflicts: list[Conflict] = field(default_factory=list)  # by kind, then subject id
    # Answer sets left out because they could not be read: person -> why. One malformed
    # answer (a stored row from an old form, a hand-edited database) never stops the round.
    skipped: dict[int, str] = field(default_factory=dict)


# The longest commitment text the database keeps (Commitment.text).
COMMITMENT_TEXT_MAX_LENGTH = 1000


def _text(value: Any, max_length: int = TEXT_MAX_LENGTH) -> str:
    """Return stored free text as it may be written anywhere: no NUL or control characters,
    no longer than its column."""
    return clean_text(str(value), max_length) if value is not None else ""


def answer_problem(data: Any) -> str:
    """Say why a stored answer set cannot be merged ('' when it can): every value the merge
    converts is checked here, so merging never stops halfway through one person's answers."""
    try:
        if not isinstance(data, dict):
            return f"the answers are a {type(data).__name__}, not a mapping"
        for key, report in (data.get("commitments") or {}).items():
            int(key)
            if not isinstance(report, dict):
                return f"commitment {key}: the report is not a mapping"
        new = data.get("new_commitment") or {}
        if not isinstance(new, dict):
            return "new_commitment is not a mapping"
        if new.get("due"):
            date.fromisoformat(str(new["due"]))
        for key, value in (data.get("readings") or {}).items():
            int(key)
            if value is not None and not math.isfinite(float(value)):
                return f"reading {key}: {value!r} is not a finite number"
        for helper in data.get("helped_by") or []:
            int(helper)
    except (TypeError, ValueError, AttributeError) as exc:
        return f"unreadable answer ({exc})"
    return ""


def merge_answers(
    latest: Iterable[AnswerSet],
    *,
    owned_commitments: dict[int, set[int]] | None = None,
    owned_metrics: dict[int, set[int]] | None = None,
) -> RoundMerge:
    """Combine the latest answers of a round; where two people report the same thing, the
    later submission wins (on a tie, the higher person id), and if their answers differ
    the merge records a Conflict naming every answer. Commitments and metrics a person's
    organisation does not own are ignored when the ownership maps are given."""
    merged = RoundMerge()
    heard: dict[tuple[ConflictKind, int], list[ConflictAnswer]] = {}
    for answer in sorted(latest, key=lambda a: (a.submitted_at, a.person_id)):
        data, org, person = answer.answers, answer.organisation_id, answer.person_id
        if problem := answer_problem(data):
            merged.skipped[person] = problem
            continue
        for key, report in (data.get("commitments") or {}).items():
            cid = int(key)
            if owned_commitments is not None and cid not in owned_commitments.get(org, set()):
                continue
            status = _text(report.get("status"))
            if status in REPORTED_STATUSES:
                merged.status_reports[cid] = StatusReport(status, _text(report.get("note")), person)
                heard.setdefault((ConflictKind.COMMITMENT, cid), []).append(
                    ConflictAnswer(person, org, status, answer.submitted_at))
        new = data.get("new_commitment") or {}
        if _text(new.get("text")):
            due = date.fromisoformat(str(new["due"])) if new.get("due") else None
            merged.new_commitments[person] = NewCommitment(
                org, _text(new["text"], COMMITMENT_TEXT_MAX_LENGTH), due)
        for key, value in (data.get("readings") or {}).items():
            mid = int(key)
            if value is None:
                continue
            if owned_metrics is not None and mid not in owned_metrics.get(org, set()):
                continue
            merged.readings[mid] = (float(value), person)
            heard.setdefault((ConflictKind.METRIC, mid), []).append(
                ConflictAnswer(person, org, float(value), answer.submitted_at))
        if _text(data.get("win")):
            merged.wins[person] = (org, _text(data["win"]))
        if _text(data.get("blocker")):
            merged.blockers[person] = (org, _text(data["blocker"]), bool(data.get("help_wanted")))
        pulse = data.get("pulse")
        if isinstance(pulse, int) and 1 <= pulse <= 5:
            merged.pulses[person] = pulse
        for helper in data.get("helped_by") or []:
            if int(helper) != org:
                merged.help_edges.add((int(helper), org, person))
    # Readings compare as floats, so 104 and 104.0 agree; a note alone is not an answer.
    merged.conflicts = [Conflict(kind, subject, tuple(said))
                        for (kind, subject), said in sorted(heard.items())
                        if len({a.value for a in said}) > 1]
    return merged


def current_status(history: Iterable[tuple[int, str]]) -> str:
    """Return a commitment's status: the one reported in its latest round, else "open"."""
    latest = max(history, default=None)
    return latest[1] if latest else CommitmentStatus.OPEN
