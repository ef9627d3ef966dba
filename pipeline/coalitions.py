"""Setting a coalition up from a TOML file or a CSV of people.

Where people come from: a coalition file owns whom it lists. A load creates or updates
everything its file lists; people added by `cos people import` (a CSV) are never deactivated
by a file that does not mention them; and what the file listed before and no longer does
(people, organisations, metrics, commitments) is deactivated only by a load with `prune`,
otherwise named in a warning.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, SQLModel, col, select

from emails.i18n import LANGUAGES, language_problem, normalise
from pipeline.core.cadence import MAPPING_KEYS, Cadence, CadenceError
from pipeline.core.display import plural, plural_noun
from pipeline.core.numbers import locale_problem
from pipeline.core.text import UnreadableText, clean_name, decode_file_text, first_nul
from pipeline.core.vocab import Direction, Role, Stage
from pipeline.db import insert_rows
from pipeline.errors import FixableError
from pipeline.models import (
    Coalition,
    Commitment,
    Metric,
    Organisation,
    Person,
    Round,
    utcnow,
)

EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

# The tables a coalition file may hold, and the keys each of them may use.
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "coalition": ("slug", "name", "win", "timezone", "locale", "language", "stage",
                  "lead_organisation"),
    "people": ("email", "name", "organisation", "role", "language"),
    "metrics": ("key", "name", "unit", "baseline", "target", "direction", "owner"),
    "commitments": ("key", "owner", "text", "due"),
    # Checked by pipeline.core.cadence (every key but pause_after_failures).
    "cadence": (*MAPPING_KEYS, "pause_after_failures"),
    # The COS Model's settings (README, "The coalition file's [model] table").
    "model": ("thresholds", "rotation", "funding_ends", "sustainability_plan",
              "convening_hours_named", "funder_notes", "win_parts"),
}
DEFAULT_PAUSE_AFTER_FAILURES = 5
SINGLE_TABLES = ("coalition", "cadence", "model")  # written [name]; the others [[name]]
CSV_COLUMNS = ("email", "name", "organisation", "role", "language")
FROM_FILE, FROM_CSV = "file", "csv"  # Person.source


def closest(word: str, choices: Iterable[str]) -> str | None:
    """Return the choice a typo most likely meant, if any is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str],
                 show: Callable[[str], str] = repr) -> str:
    """Return ' (did you mean X?)' for the closest choice, or nothing when none is close."""
    meant = closest(word, choices)
    return f" (did you mean {show(meant)}?)" if meant else ""


def table_label(name: str, index: int | None = None) -> str:
    """Write a table as the file does: [coalition], [[people]], or [[people]] #2."""
    if name in KNOWN_KEYS and name not in SINGLE_TABLES:
        return f"[[{name}]]" + (f" #{index}" if index is not None else "")
    return f"[[{name}]]" if index is not None else f"[{name}]"


def spelling_key(name: str) -> str:
    """Reduce an organisation's name to what two spellings of it share."""
    return re.sub(r"[\W_]+", "", name.casefold())


class LoadError(FixableError):
    """The input has problems; nothing was written. Each problem names where it is."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {plural(len(problems), 'problem')}, nothing was changed:"
                         f"\n{listing}")


@dataclass
class LoadSummary:
    """What a load or import changed (or, in a dry run, would change), naming each row."""

    coalition: str
    created: dict[str, list[str]] = field(default_factory=dict)
    updated: dict[str, list[str]] = field(default_factory=dict)
    deactivated: dict[str, list[str]] = field(default_factory=dict)
    # What the file no longer lists but a load without prune left active.
    unlisted: dict[str, list[str]] = field(default_factory=dict)
    # Suspicious but legal things, for the admin to read before the summary.
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    def count(self, bucket: dict[str, list[str]], kind: str, name: str = "") -> None:
        """Record one row of a kind (singular: "person") in a bucket, by its name."""
        bucket.setdefault(kind, []).append(name)

    def _verbs(self) -> list[tuple[str, dict[str, list[str]]]]:
        verbs = (("would create", "would update", "would deactivate") if self.dry_run
                 else ("created", "updated", "deactivated"))
        return list(zip(verbs, (self.created, self.updated, self.deactivated), strict=True))

    def lines(self) -> list[str]:
        """Count the changes in a few phrases."""
        out = [f"{verb}: " + ", ".join(plural(len(names), kind)
                                       for kind, names in sorted(bucket.items()))
               for verb, bucket in self._verbs() if bucket]
        return out or ["nothing changed"]

    def details(self) -> list[str]:
        """Name the rows behind the counts: those deactivated, and everything in a dry run."""
        return [f"{verb} {plural_noun(kind)}: {', '.join(names)}"
                for verb, bucket in self._verbs() if self.dry_run or bucket is self.deactivated
                for kind, names in sorted(bucket.items()) if kind != "coalition"]

    def report(self) -> str:
        """The summary as the command prints it: a line of counts, then the names."""
        head = self.coalition + (" (dry run, nothing was changed)" if self.dry_run else "")
        return "\n".join([f"{head}: " + "; ".join(self.lines()),
                          *(f"  {line}" for line in self.details())])


@dataclass(frozen=True)
class Place:
    """Where something is in the input: a table or a CSV line, and the lines of its keys."""

    label: str
    lines: Mapping[str | None, int] = field(default_factory=dict)
    # Keys written with a typo (already reported): not reported again as missing.
    mistyped: set[str] = field(default_factory=set)

    def at(self, key: str | None = None) -> str:
        """Name the place, with the line of this key when known, else the table's line."""
        line = (self.lines.get(key) if key else None) or self.lines.get(None)
        return f"line {line}: {self.label}" if line else self.label


class FileLines:
    """The line numbers of a TOML text's table headers and keys: tomllib keeps no positions.

    A small scan of text tomllib has already accepted: it follows [table] and [[table]]
    headers, numbers each [[table]]'s entries from 1, and skips multi-line strings.
    """

    HEADER = re.compile(r"^(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
    KEY = re.compile(r"""^("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*[=.]""")
    MULTILINE_QUOTES = ('"""', "'" * 3)

    def __init__(self, text: str = "") -> None:
        self._at: dict[tuple[str, int | None], dict[str | None, int]] = {("", None): {}}
        counts: dict[str, int] = {}
        table: tuple[str, int | None] = ("", None)
        open_quote = ""
        # tomllib counts lines by "\n" only; str.splitlines would also split on \x0c and kin.
        for number, line in enumerate(text.split("\n"), start=1):
            stripped = line.strip()
            if open_quote:
                if stripped.count(open_quote) % 2 == 1:
                    open_quote = ""
                continue
            header = self.HEADER.match(stripped)
            if header:
                name = header.group(2).strip("\"'")
                index = None
                if header.group(1) == "[[":
                    index = counts[name] = counts.get(name, 0) + 1
                table = (name, index)
                self._at.setdefault(table, {}).setdefault(None, number)
                continue
            key = self.KEY.match(stripped)
            if key:
                self._at.setdefault(table, {}).setdefault(key.group(1).strip("\"'"), number)
                rest = stripped[key.end():]
                open_quote = next((q for q in self.MULTILINE_QUOTES if rest.count(q) % 2), "")

    def line(self, table: str, index: int | None = None, key: str | None = None) -> int | None:
        """Return the line of a table's header, or of one of its keys."""
        return self._at.get((table, index), {}).get(key)

    def place(self, table: str, index: int | None = None) -> Place:
        """Return the place of [coalition] or of the index-th [[people]] (from 1)."""
        lines = self._at.get((table, index))
        if lines is None:  # written inline, as people = [{...}]: the line of that key
            top = self._at[("", None)].get(table)
            lines = {None: top} if top else {}
        return Place(table_label(table, index), lines)


@dataclass(frozen=True)
class Elsewhere:
    """What the database keeps beyond the file: people it does not list who stay active."""

    organisations: frozenset[str] = frozenset()  # the organisations those people belong to
    partner_organisations: frozenset[str] = frozenset()  # ... of those who are partners
    leads: int = 0


# The longest text each input may hold (the database columns' sizes).
LIMITS = {"slug": 64, "name": 200, "win": 1000, "timezone": 64, "locale": 35, "stage": 16,
          "lead_organisation": 200, "language": 16, "email": 254, "organisation": 200,
          "role": 16, "key": 64,
          "unit": 32, "direction": 4, "owner": 200, "text": 1000}


def _str(row: dict[str, Any], key: str, where: Place, problems: list[str], *,
         required: bool = True, default: str = "") -> str:
    value = row.get(key, default)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required and key not in where.mistyped:
            problems.append(f"{where.at()}: '{key}' is missing")
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        problems.append(f"{where.at(key)}: '{key}' should be text")
        return default
    # One line, no NUL or control characters: a name typed in a spreadsheet can hold anything,
    # and PostgreSQL refuses a NUL outright.
    text = clean_name(str(value))
    if not text and required:
        problems.append(f"{where.at(key)}: '{key}' has no visible characters")
        return default
    if len(text) > LIMITS.get(key, 1000):
        problems.append(f"{where.at(key)}: '{key}' is {len(text)} characters long; "
                        f"at most {LIMITS.get(key, 1000)} fit")
    return text


def _number(row: dict[str, Any], key: str, where: Place, problems: list[str]) -> float | None:
    value = row.get(key)
    if value is None:
        if key not in where.mistyped:
            problems.append(f"{where.at()}: '{key}' is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{where.at(key)}: '{key}' should be a number, got {value!r}")
        return None
    return float(value)


def _unknown_keys(row: dict[str, Any], table: str, where: Place, problems: list[str]) -> None:
    """Report the keys a table does not have, with the one meant; remember those as typos."""
    for key in row:
        if key not in KNOWN_KEYS[table]:
            meant = closest(key, KNOWN_KEYS[table])
            problems.append(f"{where.at(key)}: unknown key '{key}'"
                            + (f" (did you mean '{meant}'?)" if meant else ""))
            if meant:
                where.mistyped.add(meant)


def _unknown_tables(raw: dict[str, Any], lines: FileLines, problems: list[str]) -> None:
    for name, value in raw.items():
        if name in KNOWN_KEYS:
            continue
        if isinstance(value, dict) or (isinstance(value, list) and value
                                       and all(isinstance(v, dict) for v in value)):
            index = None if isinstance(value, dict) else 1
            line = lines.line(name, index)
            label = table_label(name, index)
            hint = did_you_mean(name, KNOWN_KEYS, table_label)
            problems.append(f"line {line}: " * bool(line) + f"unknown table {label}{hint}")
        else:
            line = lines.line("", None, name)
            owner = next((t for t, keys in KNOWN_KEYS.items() if name in keys), None)
            hint = (f"; it belongs under {table_label(owner)}" if owner
                    else did_you_mean(name, KNOWN_KEYS, table_label))
            problems.append(f"line {line}: " * bool(line)
                            + f"'{name}' is outside any table{hint}")


def _tables(raw: dict[str, Any], name: str, lines: FileLines,
            problems: list[str]) -> list[tuple[Place, dict[str, Any]]]:
    """Return the [[name]] tables of a file with their places, reporting any other shape."""
    value = raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        problems.append(f"{lines.place(name).at()}: write each entry as its own [[{name}]] "
                        "table (double brackets), one key = value per line")
        return []
    out = []
    for n, row in enumerate(value, start=1):
        where = lines.place(name, n)
        _unknown_keys(row, name, where, problems)
        out.append((where, row))
    return out


def _validate_email(email: str, where: str, problems: list[str]) -> str:
    email = email.strip().lower()
    if email and not EMAIL_RE.match(email):
        problems.append(f"{where}: {email!r} is not an email address")
    return email


def _language(text: str, where: str, problems: list[str]) -> str:
    """Check a language setting ("" = follow the coalition); return its catalog name."""
    if not text:
        return ""
    if problem := language_problem(text):
        problems.append(f"{where}: {problem}" + did_you_mean(text.lower(), LANGUAGES))
        return ""
    return normalise(text)


def _role(text: str, where: str, problems: list[str]) -> str:
    role = (text or Role.PARTNER).lower()
    if role not in tuple(Role):
        problems.append(f"{where}: role must be one of {', '.join(tuple(Role))}, got {role!r}"
                        + did_you_mean(role, tuple(Role)))
    return role


def spelling_problems(mentions: list[tuple[str, str]], stored: Iterable[str] = (),
                      stored_why: str = "") -> list[str]:
    """Report each organisation name that is another spelling of one used or stored.

    Spellings are the same organisation when they agree casefolded, with punctuation and
    whitespace stripped. mentions are (name, where) in input order.
    """
    canonical = {spelling_key(name): name for name in stored}
    spellings: dict[str, list[str]] = {}
    for name, _ in mentions:
        spellings.setdefault(spelling_key(name), []).append(name)
    problems: list[str] = []
    first: dict[str, tuple[str, str]] = {}
    reported: set[str] = set()
    for name, where in mentions:
        key = spelling_key(name)
        if name in reported or not key:
            continue
        if key in canonical:
            if name != canonical[key]:
                problems.append(f"{where}: organisation {name!r} is stored as "
                                f"{canonical[key]!r}{stored_why}; use that spelling")
                reported.add(name)
            continue
        seen_name, seen_where = first.setdefault(key, (name, where))
        if name != seen_name:
            names = spellings[key]
            # The spelling used most, then one with capitals, then the first.
            best = max(dict.fromkeys(names), key=lambda n: (
                names.count(n), n not in (n.lower(), n.upper()), -names.index(n)))
            problems.append(f"{where}: organisation {name!r} is spelt {seen_name!r} in "
                            f"{seen_where}; use one spelling, e.g. {best!r}")
            reported.add(name)
    return problems


def commitment_key(organisation: str, text: str) -> str:
    """Return the stable key of a file commitment that has no key of its own."""
    return hashlib.sha1(f"{organisation}\n{text}".encode()).hexdigest()[:16]  # noqa: S324


def parse_coalition_file(raw: dict[str, Any], lines: FileLines | None = None, *,
                         elsewhere: Elsewhere | None = None) -> tuple[dict[str, Any], list[str]]:
    """Check a parsed coalition file and return its cleaned content and its problems.

    lines places each problem on its line; elsewhere says which people the database keeps
    beyond the file. The content's "warnings" list what is legal but probably a mistake.
    """
    lines = lines or FileLines()
    elsewhere = elsewhere or Elsewhere()
    problems: list[str] = []
    warnings: list[str] = []
    _unknown_tables(raw, lines, problems)
    head = raw.get("coalition")
    if not isinstance(head, dict):
        return {}, [*problems, "[coalition] table is missing"]
    top = lines.place("coalition")
    _unknown_keys(head, "coalition", top, problems)
    c: dict[str, Any] = {
        "slug": _str(head, "slug", top, problems),
        "name": _str(head, "name", top, problems),
        "win": _str(head, "win", top, problems),
        "timezone": _str(head, "timezone", top, problems, required=False, default="UTC"),
        "locale": _str(head, "locale", top, problems, required=False, default="en"),
        "language": _language(_str(head, "language", top, problems, required=False,
                                   default="en"), top.at("language"), problems),
        "stage": _str(head, "stage", top, problems, required=False, default="launch"),
        "lead_organisation": _str(head, "lead_organisation", top, problems, required=False),
    }
    if c["slug"] and not SLUG_RE.match(c["slug"]):
        problems.append(f"{top.at('slug')}: slug must be lowercase letters, digits and dashes")
    try:
        ZoneInfo(c["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{top.at('timezone')}: unknown timezone {c['timezone']!r} "
                        "(e.g. Europe/London)")
    if problem := locale_problem(c["locale"]):
        problems.append(f"{top.at('locale')}: {problem}")
    if c["stage"] not in tuple(Stage):
        problems.append(f"{top.at('stage')}: stage must be one of {', '.join(tuple(Stage))}"
                        + did_you_mean(c["stage"], tuple(Stage)))
    mentions = [(c["lead_organisation"], top.at("lead_organisation"))]
    cadence, pause_after = parse_cadence(raw.get("cadence"), c["timezone"], lines, problems)

    people, seen = [], set()
    for where, row in _tables(raw, "people", lines, problems):
        email = _validate_email(_str(row, "email", where, problems), where.at("email"), problems)
        if email and email in seen:
            problems.append(f"{where.at('email')}: {email} appears twice")
        seen.add(email)
        role = _role(_str(row, "role", where, problems, required=False), where.at("role"),
                     problems)
        person = {"email": email, "name": _str(row, "name", where, problems),
                  "organisation": _str(row, "organisation", where, problems), "role": role,
                  "language": _language(_str(row, "language", where, problems, required=False),
                                        where.at("language"), problems)}
        people.append(person)
        mentions.append((person["organisation"], where.at("organisation")))

    owned: list[tuple[str, Place]] = []
    metrics, keys = [], set()
    for where, row in _tables(raw, "metrics", lines, problems):
        key = _str(row, "key", where, problems)
        if key in keys:
            problems.append(f"{where.at('key')}: key {key!r} appears twice")
        keys.add(key)
        name = _str(row, "name", where, problems)
        unit = _str(row, "unit", where, problems, required=False)
        baseline = _number(row, "baseline", where, problems)
        target = _number(row, "target", where, problems)
        direction = _str(row, "direction", where, problems, required=False, default="up")
        if direction not in tuple(Direction):
            problems.append(f"{where.at('direction')}: direction must be up or down, "
                            f"got {direction!r}")
        elif baseline is not None and target is not None and (
                (target - baseline) * (1 if direction == Direction.DOWN else -1) > 0):
            other, side = (("up", "above") if direction == Direction.DOWN else ("down", "below"))
            warnings.append(f"{where.at('target')}: direction is '{direction}' but the target "
                            f"{target:g} is {side} the baseline {baseline:g}; did you mean "
                            f'direction = "{other}"?')
        owner = _str(row, "owner", where, problems)
        metrics.append({"key": key, "name": name, "unit": unit, "baseline": baseline or 0.0,
                        "target": target or 0.0, "direction": direction, "owner": owner})
        owned.append((owner, where))

    commitments, commitment_keys = [], set()
    for where, row in _tables(raw, "commitments", lines, problems):
        owner = _str(row, "owner", where, problems)
        text = _str(row, "text", where, problems)
        due = row.get("due")
        if isinstance(due, str):
            try:
                due = date.fromisoformat(due)
            except ValueError:
                problems.append(f"{where.at('due')}: due {due!r} is not a date like 2026-12-31")
                due = None
        elif due is not None and not isinstance(due, date):
            problems.append(f"{where.at('due')}: due should be a date like 2026-12-31")
            due = None
        key = _str(row, "key", where, problems, required=False) or commitment_key(owner, text)
        if key in commitment_keys:
            problems.append(f"{where.at('key')}: the same commitment (key {key!r}) appears twice")
        commitment_keys.add(key)
        commitments.append({"owner": owner, "text": text, "due": due, "key": key})
        owned.append((owner, where))

    mentions += [(owner, where.at("owner")) for owner, where in owned]
    problems += spelling_problems([(n, w) for n, w in mentions if n], elsewhere.organisations,
                                  " (people not in this file belong to it)")
    # A metric or commitment is asked of its owner's partners: an owner without one is a typo
    # or a missing [[people]] entry, and nobody would ever report on it.
    partnered = {p["organisation"] for p in people if p["role"] == Role.PARTNER}
    partnered |= elsewhere.partner_organisations
    partnered_keys = {spelling_key(name) for name in partnered}
    for owner, where in owned:
        if not owner or owner in partnered or spelling_key(owner) in partnered_keys:
            continue  # a partner's organisation, or another spelling of one (reported above)
        problems.append(f"{where.at('owner')}: owner {owner!r} has no partner in the file or "
                        f"the database{did_you_mean(owner, partnered)}, so nobody would report "
                        f"on it; add a [[people]] entry with organisation = \"{owner}\" and "
                        'role = "partner"')
    if not any(p["role"] == Role.LEAD for p in people) and not elsewhere.leads:
        warnings.append(f'{top.at()}: no person has role = "lead", so nobody receives the '
                        "digest")

    model = _model(raw.get("model"), lines, problems)

    organisations = {p["organisation"] for p in people} | {m["owner"] for m in metrics} | {
        x["owner"] for x in commitments}
    if c["lead_organisation"]:
        organisations.add(c["lead_organisation"])
    organisations.discard("")
    return {"coalition": c, "people": people, "metrics": metrics, "commitments": commitments,
            "cadence": cadence, "pause_after_failures": pause_after,
            "model": model, "organisations": sorted(organisations),
            "warnings": sorted(warnings, key=_line_number)}, sorted(problems, key=_line_number)


def _model(table: Any, lines: FileLines, problems: list[str]) -> dict[str, Any]:
    """Check the [model] table: threshold overrides, the rotation, the funding date, flags."""
    from pipeline.core.phases import thresholds_from
    from pipeline.core.questions import rotation_from

    if table is None:
        return {}
    top = lines.place("model")
    if not isinstance(table, dict):
        problems.append(f"{top.at()}: model must be a table, like [model]")
        return {}
    _unknown_keys(table, "model", top, problems)
    model: dict[str, Any] = {}
    for key, check in (("thresholds", thresholds_from), ("rotation", rotation_from)):
        value = table.get(key)
        if value is None:
            continue
        place = lines.place(f"model.{key}")
        if not isinstance(value, dict):
            problems.append(f"{top.at(key)}: {key} must be a table, like [model.{key}]")
            continue
        try:
            check(value)
        except ValueError as exc:
            problems.append(f"{place.at() if place.lines else top.at(key)}: {exc}")
            continue
        model[key] = dict(sorted(value.items()))
    parts = table.get("win_parts")
    if parts is not None:
        known = ("who", "what", "how_much", "by_when")
        if not isinstance(parts, dict) or set(parts) - set(known) or not all(
                isinstance(v, str) for v in parts.values()):
            problems.append(f"{top.at('win_parts')}: win_parts is a table of text with "
                            f"{', '.join(known)}")
        else:
            model["win_parts"] = {k: parts.get(k, "") for k in known}
    ends = table.get("funding_ends")
    if ends is not None:
        if isinstance(ends, date) and not isinstance(ends, datetime):
            model["funding_ends"] = ends.isoformat()
        else:
            problems.append(f"{top.at('funding_ends')}: funding_ends must be a date like "
                            f"2027-06-30, not {ends!r}")
    for flag in ("sustainability_plan", "convening_hours_named", "funder_notes"):
        value = table.get(flag)
        if value is None:
            continue
        if not isinstance(value, bool):
            problems.append(f"{top.at(flag)}: {flag} must be true or false, not {value!r}")
            continue
        model[flag] = value
    return model


def parse_cadence(raw: Any, timezone: str, lines: FileLines,
                  problems: list[str]) -> tuple[Cadence | None, int]:
    """Check a file's [cadence] table; return the cadence (None without one) and the number of
    delivery failures in a row that pause a round."""
    if raw is None:
        return None, DEFAULT_PAUSE_AFTER_FAILURES
    where = lines.place("cadence")
    if not isinstance(raw, dict):
        problems.append(f"{where.at()}: write the schedule as a [cadence] table, one "
                        "key = value per line")
        return None, DEFAULT_PAUSE_AFTER_FAILURES
    pause_after = raw.get("pause_after_failures", DEFAULT_PAUSE_AFTER_FAILURES)
    if isinstance(pause_after, bool) or not isinstance(pause_after, int) or not (
            1 <= pause_after <= 1000):
        problems.append(f"{where.at('pause_after_failures')}: pause_after_failures should be "
                        f"a whole number from 1 to 1000, got {pause_after!r}")
        pause_after = DEFAULT_PAUSE_AFTER_FAILURES
    settings = {k: v for k, v in raw.items() if k != "pause_after_failures"}
    try:
        zone_ok = ZoneInfo(timezone) is not None
    except (ZoneInfoNotFoundError, ValueError):
        zone_ok = False
    try:
        return Cadence.from_mapping(settings, default_timezone=timezone if zone_ok else "UTC",
                                    where=where.label), pause_after
    except CadenceError as exc:
        for problem in exc.problems:
            key = problem.removeprefix(where.label).removeprefix(".").split(":")[0]
            line = lines.line("cadence", None, key) or lines.line("cadence")
            problems.append(f"line {line}: {problem}" if line else problem)
    return None, pause_after


def _line_number(message: str) -> int:
    """Order messages as the file reads: by the line they start with (unplaced ones first)."""
    found = re.match(r"line (\d+)", message)
    return int(found.group(1)) if found else 0


def _organisations(session: Session, coalition: Coalition, names: list[str],
                   summary: LoadSummary) -> dict[str, Organisation]:
    """Create or reactivate the organisations named; return all of the coalition's by name."""
    existing = {o.name: o for o in session.exec(
        select(Organisation).where(Organisation.coalition_id == coalition.id))}
    for name in names:
        org = existing.get(name)
        if org is None:
            org = existing[name] = Organisation(coalition_id=coalition.id or 0, name=name)
            summary.count(summary.created, "organisation", name)
        elif not org.active:
            summary.count(summary.updated, "organisation", name)
        org.active = True
        session.add(org)
    session.flush()
    return existing


def _assign(row: SQLModel, **values: Any) -> bool:
    """Set a row's attributes; return whether any of them changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _person_label(person: Person | dict[str, Any]) -> str:
    if isinstance(person, dict):
        return f"{person['name']} <{person['email']}>"
    return f"{person.name} <{person.email}>"


def _upsert_person(session: Session, coalition: Coalition, existing: dict[str, Person],
                   row: dict[str, Any], org: Organisation, summary: LoadSummary, *,
                   source: str) -> None:
    """Create or update a person; a file claims everyone it lists, a CSV whom it brings in."""
    values = {"name": row["name"], "organisation_id": org.id or 0, "role": row["role"],
              "language": row.get("language", ""), "active": True}
    person = existing.get(row["email"])
    if person is None:
        person = existing[row["email"]] = Person(coalition_id=coalition.id or 0,
                                                 email=row["email"], source=source, **values)
        summary.count(summary.created, "person", _person_label(row))
    else:
        # Who brought a person in is bookkeeping, not a change to report.
        if source == FROM_FILE or not person.active:
            person.source = source
        if _assign(person, **values):
            summary.count(summary.updated, "person", _person_label(row))
    session.add(person)


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """Read a TOML file, turning every way it can fail into a LoadError naming the line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(str(path), [f"cannot read the file: {exc.strerror}"]) from exc
    text = decode_upload(data, str(path))
    return text, _parse_toml(text, str(path))


def decode_upload(data: bytes, source: str, what: str = "the file") -> str:
    """Read a file's bytes as text (UTF-8, or UTF-16 with a byte order mark), or raise a
    LoadError naming the line and column of the first byte that is not (or a NUL byte)."""
    try:
        # A byte order mark (editors on Windows save one; TOML allows none) is dropped here.
        text = decode_file_text(data, what)
    except UnreadableText as exc:
        raise LoadError(source, [str(exc)]) from exc
    nul = first_nul(text)
    if nul is not None:
        raise LoadError(source, [
            f"line {nul[0]}, column {nul[1]}: a NUL byte, which no text file has (the file may "
            "be damaged or saved by a program in its own format): remove it, or save the file "
            "again as plain UTF-8 text"])
    return text


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LoadError(source, [toml_problem(exc)]) from exc


TOML_AT = re.compile(r"^(?P<message>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$",
                     re.DOTALL)


def toml_problem(exc: tomllib.TOMLDecodeError) -> str:
    """Put the line and column of a TOML syntax error first, as every other problem does."""
    found = TOML_AT.match(str(exc))
    if found is None:
        return f"not valid TOML: {exc}"
    message = found["message"]
    if message.startswith("Invalid date"):  # tomllib's words for 2026-02-30 too
        message += " (dates are written 2026-12-31, and must exist)"
    return f"line {found['line']}, column {found['column']}: not valid TOML: {message}"


def _listed_emails(raw: dict[str, Any]) -> set[str]:
    people = raw.get("people")
    if not isinstance(people, list):
        return set()
    return {str(p.get("email", "")).strip().lower() for p in people if isinstance(p, dict)}


def _elsewhere(session: Session, coalition: Coalition | None, listed: set[str], *,
               prune: bool) -> Elsewhere:
    """Describe the active people a load keeps although its file does not list them."""
    if coalition is None:
        return Elsewhere()
    rows = session.exec(
        select(Person.email, Person.source, Person.role, Organisation.name)
        .join(Organisation, col(Organisation.id) == col(Person.organisation_id))
        .where(Person.coalition_id == coalition.id, col(Person.active).is_(True))).all()
    staying = [(role, org) for email, source, role, org in rows
               if email not in listed and not (prune and source == FROM_FILE)]
    return Elsewhere(
        organisations=frozenset(org for _, org in staying),
        partner_organisations=frozenset(org for role, org in staying if role == Role.PARTNER),
        leads=sum(role == Role.LEAD for role, _ in staying))


def load_coalition(session: Session, path: Path, *, prune: bool = False,
                   dry_run: bool = False) -> LoadSummary:
    """Create or update one coalition from a TOML file.

    What the file listed before and no longer does is deactivated only with prune (and named
    in the summary's warnings otherwise); people from a CSV are never deactivated by a file.
    A dry run works it all out, then rolls the session back.
    """
    text, raw = _read_toml(path)
    return load_coalition_text(session, text, str(path), prune=prune, dry_run=dry_run, raw=raw)


def load_coalition_text(session: Session, text: str, source: str, *, prune: bool = False,
                        dry_run: bool = False, raw: dict[str, Any] | None = None) -> LoadSummary:
    """Create or update one coalition from a coalition file's text (an upload, say); problems
    name the source and the line, as load_coalition does."""
    path = source
    if raw is None:
        raw = _parse_toml(text, source)
    head = raw.get("coalition")
    slug = head.get("slug") if isinstance(head, dict) else None
    coalition = session.exec(select(Coalition).where(Coalition.slug == slug)).first() if (
        isinstance(slug, str) and slug) else None
    data, problems = parse_coalition_file(
        raw, FileLines(text),
        elsewhere=_elsewhere(session, coalition, _listed_emails(raw), prune=prune))
    if problems:
        raise LoadError(str(path), problems)
    head = data["coalition"]
    summary = LoadSummary(head["slug"], warnings=list(data["warnings"]), dry_run=dry_run)

    is_new = coalition is None
    if coalition is None:
        coalition = Coalition(slug=head["slug"], name=head["name"], win=head["win"])
        summary.count(summary.created, "coalition", head["slug"])
    changed = _assign(coalition, name=head["name"], win=head["win"], timezone=head["timezone"],
                      locale=head["locale"], language=head["language"], stage=head["stage"],
                      model=data["model"])
    changed = set_cadence(coalition, data["cadence"], data["pause_after_failures"]) or changed
    session.add(coalition)
    session.flush()

    orgs = _organisations(session, coalition, data["organisations"], summary)
    lead = orgs[head["lead_organisation"]].id if head["lead_organisation"] else None
    if (_assign(coalition, lead_organisation_id=lead) or changed) and not is_new:
        summary.count(summary.updated, "coalition", head["slug"])
    session.add(coalition)

    people = _file_people(session, coalition.id or 0, {row["email"] for row in data["people"]})
    for row in data["people"]:
        _upsert_person(session, coalition, people, row, orgs[row["organisation"]], summary,
                       source=FROM_FILE)

    metrics = {m.key: m for m in session.exec(
        select(Metric).where(Metric.coalition_id == coalition.id))}
    for row in data["metrics"]:
        values = {"name": row["name"], "unit": row["unit"], "direction": row["direction"],
                  "baseline": row["baseline"], "target": row["target"],
                  "owner_organisation_id": orgs[row["owner"]].id or 0, "active": True}
        metric = metrics.get(row["key"])
        if metric is None:
            metric = Metric(coalition_id=coalition.id or 0, key=row["key"], **values)
            summary.count(summary.created, "metric", row["key"])
        elif _assign(metric, **values):
            summary.count(summary.updated, "metric", row["key"])
        session.add(metric)

    commitments = {c.source_key: c for c in session.exec(
        select(Commitment).where(Commitment.coalition_id == coalition.id))}
    for row in data["commitments"]:
        source_key = f"file:{row['key']}"
        values = {"organisation_id": orgs[row["owner"]].id or 0, "text": row["text"],
                  "due": row["due"], "active": True}
        commitment = commitments.get(source_key)
        if commitment is None:
            commitment = Commitment(coalition_id=coalition.id or 0, source_key=source_key,
                                    **values)
            summary.count(summary.created, "commitment", row["key"])
        elif _assign(commitment, **values):
            summary.count(summary.updated, "commitment", row["key"])
        session.add(commitment)
    session.flush()

    _retire_unlisted(session, coalition, data, orgs, people, metrics, commitments, summary,
                     prune=prune)
    session.flush()
    if dry_run:
        session.rollback()
    return summary


def _file_people(session: Session, coalition_id: int, listed: set[str]) -> dict[str, Person]:
    """Load the people a file load may change, by email: those it lists and those an earlier
    file brought in (which it may retire), not everyone a CSV added."""
    people = {p.email: p for p in session.exec(select(Person).where(
        Person.coalition_id == coalition_id, Person.source == FROM_FILE))}
    others = [email for email in session.exec(select(Person.email).where(
        Person.coalition_id == coalition_id, Person.source != FROM_FILE)) if email in listed]
    for start in range(0, len(others), 500):
        people.update((p.email, p) for p in session.exec(select(Person).where(
            Person.coalition_id == coalition_id, col(Person.email).in_(others[start:start + 500]))))
    return people


def set_cadence(coalition: Coalition, cadence: Cadence | None,
                pause_after_failures: int | None = None) -> bool:
    """Store a cadence on a coalition (None switches the scheduler off); say if it changed.

    A new or changed cadence starts from now: the scheduler does not replay what the new
    schedule would have done in the past.
    """
    stored = cadence.to_mapping() if cadence is not None else None
    changed = stored != coalition.cadence
    if changed:
        coalition.cadence = stored
        coalition.cadence_since = utcnow() if stored is not None else None
        coalition.scheduled_through = None
    if pause_after_failures is not None and pause_after_failures != (
            coalition.pause_after_failures):
        coalition.pause_after_failures = pause_after_failures
        changed = True
    return changed


def cadence_of(coalition: Coalition) -> Cadence | None:
    """Return a coalition's stored cadence, or None while rounds are started by hand."""
    if not coalition.cadence:
        return None
    return Cadence.from_mapping(coalition.cadence, default_timezone=coalition.timezone)


def _commitment_label(source_key: str, commitment: Commitment) -> str:
    key = source_key.removeprefix("file:")
    # A commitment written without a key is keyed by a hash: name it by its text instead.
    return repr(commitment.text[:80]) if re.fullmatch(r"[0-9a-f]{16}", key) else key


def _retire_unlisted(session: Session, coalition: Coalition, data: dict[str, Any],
                     orgs: dict[str, Organisation], people: dict[str, Person],
                     metrics: dict[str, Metric], commitments: dict[str, Commitment],
                     summary: LoadSummary, *, prune: bool) -> None:
    """Deactivate (with prune) or name (without) what the file listed and no longer does."""
    listed = {row["email"] for row in data["people"]}
    gone_people = {p.email for p in people.values()
                   if p.active and p.source == FROM_FILE and p.email not in listed}
    # An organisation goes once the file stops naming it and nobody active is left in it.
    kept = {p.organisation_id for p in people.values() if p.active and p.email not in gone_people}
    # Everyone else (a CSV's people the file does not list) stays as they are.
    kept.update(session.exec(select(Person.organisation_id).where(
        Person.coalition_id == coalition.id, col(Person.active).is_(True),
        Person.source != FROM_FILE).distinct()))
    named = set(data["organisations"])
    listed_metrics = {row["key"] for row in data["metrics"]}
    # Commitments made in check-ins are not the file's to retire.
    listed_commitments = {f"file:{row['key']}" for row in data["commitments"]}
    retiring: list[tuple[str, Organisation | Person | Metric | Commitment, str]] = [
        *(("person", people[email], _person_label(people[email]))
          for email in sorted(gone_people)),
        *(("organisation", o, name) for name, o in sorted(orgs.items())
          if o.active and name not in named and o.id not in kept),
        *(("metric", m, key) for key, m in sorted(metrics.items())
          if m.active and key not in listed_metrics),
        *(("commitment", c, _commitment_label(key, c)) for key, c in sorted(commitments.items())
          if c.active and key.startswith("file:") and key not in listed_commitments),
    ]
    for kind, row, name in retiring:
        if prune:
            row.active = False
            session.add(row)
            summary.count(summary.deactivated, kind, name)
        else:
            summary.count(summary.unlisted, kind, name)
    if summary.unlisted:
        parts = [f"{plural(len(names), kind)} ({', '.join(names)})"
                 for kind, names in sorted(summary.unlisted.items())]
        listing = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        summary.warnings.append(f"the file no longer lists {listing}; they stay active. "
                                "Load with --prune to deactivate them.")
    leaving = summary.deactivated.get("person", [])
    open_round = session.exec(select(Round).where(
        Round.coalition_id == coalition.id, col(Round.closed_at).is_(None))).first()
    if leaving and open_round is not None:
        verb = "would be deactivated and could" if summary.dry_run else "deactivated can"
        summary.warnings.append(
            f"round {open_round.number} is open: {plural(len(leaving), 'person')} {verb} no "
            f"longer answer it ({', '.join(leaving)})")


def import_people(session: Session, slug: str, content: str, source: str = "CSV", *,
                  dry_run: bool = False) -> LoadSummary:
    """Add or update people from CSV columns email,name,organisation,role; all or nothing.

    A dry run works it all out, then rolls the session back."""
    coalition = session.exec(select(Coalition).where(Coalition.slug == slug)).first()
    if coalition is None:
        raise LoadError(source, [f"no coalition with slug {slug!r}: load it first with cos load"])
    content = content.lstrip("\ufeff")
    first_line = content.split("\n", 1)[0]
    # Spreadsheets set to a European locale save with semicolons; some exports use tabs.
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.DictReader(io.StringIO(content), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    extra = [h for h in header if h not in CSV_COLUMNS]
    missing = [c for c in CSV_COLUMNS[:3] if c not in header]
    if missing:
        raise LoadError(source, [
            "line 1: the header needs the columns email,name,organisation,role; missing: "
            + ", ".join(c + did_you_mean(c, extra) for c in missing)])
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    mentions: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()
               if isinstance(v, str)}
        if not any(row.values()):
            continue
        where = Place(f"line {line}")
        email = _validate_email(_str(row, "email", where, problems, required=False),
                                where.label, problems)
        if not email:
            problems.append(f"{where.label}: email is missing")
        elif email in seen:
            problems.append(f"{where.label}: {email} already on line {seen[email]}")
        seen[email] = line
        role = _role(row.get("role", ""), where.label, problems)
        rows.append({"email": email, "name": _str(row, "name", where, problems),
                     "organisation": _str(row, "organisation", where, problems), "role": role,
                     "language": _language(row.get("language", ""), where.label, problems)})
        if rows[-1]["organisation"]:
            mentions.append((rows[-1]["organisation"], where.label))
    stored = session.exec(select(Organisation.name).where(
        Organisation.coalition_id == coalition.id)).all()
    problems += spelling_problems(mentions, stored)
    if problems:
        raise LoadError(source, problems)
    summary = LoadSummary(slug)
    if extra:
        summary.warnings.append(f"line 1: {plural(len(extra), 'column')} not read: "
                                f"{', '.join(extra)} (the columns are {','.join(CSV_COLUMNS)})")
    orgs = _organisations(session, coalition, sorted({r["organisation"] for r in rows}), summary)
    _import_rows(session, coalition.id or 0, rows, orgs, summary)
    if dry_run:
        summary.dry_run = True
        session.rollback()
    return summary


# What a CSV sets on a person, besides their email.
CSV_SETS = ("name", "organisation_id", "role", "language", "active")


def _import_rows(session: Session, coalition_id: int, rows: list[dict[str, Any]],
                 orgs: dict[str, Organisation], summary: LoadSummary) -> None:
    """Create and update the people of a CSV as _upsert_person does with source "csv", in a
    few statements: a CSV of 100,000 people holds no object per person, only their values."""
    from sqlalchemy import update

    columns = (Person.id, Person.email, Person.source, *(getattr(Person, c) for c in CSV_SETS))
    existing = {row.email: row for row in session.exec(
        select(*columns).where(Person.coalition_id == coalition_id))}
    created: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for row in rows:
        values = {"name": row["name"], "organisation_id": orgs[row["organisation"]].id or 0,
                  "role": row["role"], "language": row.get("language", ""), "active": True}
        stored = existing.get(row["email"])
        if stored is None:
            created.append({"coalition_id": coalition_id, "email": row["email"],
                            "source": FROM_CSV, **values})
            summary.count(summary.created, "person", _person_label(row))
            continue
        differs = any(getattr(stored, name) != value for name, value in values.items())
        if differs:
            summary.count(summary.updated, "person", _person_label(row))
        if differs or not stored.active:  # an inactive person comes back as the CSV's
            changed.append({"id": stored.id, **values,
                            "source": stored.source if stored.active else FROM_CSV})
    insert_rows(session, Person, created)
    for start in range(0, len(changed), 2000):
        session.execute(update(Person), changed[start:start + 2000])


# Settings `cos schedule SLUG --set key=value` takes as comma-separated lists.
LIST_SETTINGS = ("reminders", "skip")


def change_cadence(session: Session, slug: str, changes: list[str], *,
                   off: bool = False) -> Coalition:
    """Change a coalition's stored cadence by "key=value" settings (or switch it off).

    The settings are those of the file's [cadence] table; lists (reminders, skip) are written
    comma-separated, and an empty value removes a setting. Every problem is reported at once
    and nothing is changed unless all of them are right.
    """
    from pipeline.rounds import get_coalition

    coalition = get_coalition(session, slug)
    if off:
        set_cadence(coalition, None)
        session.add(coalition)
        return coalition
    settings: dict[str, Any] = dict(coalition.cadence or {})
    pause_after = coalition.pause_after_failures
    problems = []
    for change in changes:
        key, sep, value = change.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            problems.append(f"{change!r}: write each setting as key=value, e.g. "
                            "open='Tuesday 09:00'")
        elif key == "pause_after_failures":
            if not value.isdigit() or not 1 <= int(value) <= 1000:
                problems.append(f"pause_after_failures: should be a whole number from 1 to "
                                f"1000, got {value!r}")
            else:
                pause_after = int(value)
        elif key not in MAPPING_KEYS:
            problems.append(f"{key}: is not a cadence setting"
                            + did_you_mean(key, KNOWN_KEYS["cadence"]))
        elif value == "":
            settings.pop(key, None)
        elif key in LIST_SETTINGS:
            settings[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif key == "max_reminders" and value.isdigit():
            settings[key] = int(value)
        else:
            settings[key] = value
    # A round closes either at a time or after a while: setting one replaces the other.
    named = {c.partition("=")[0].strip() for c in changes}
    for given, other in (("close", "close_after"), ("close_after", "close")):
        if given in named and other not in named:
            settings.pop(other, None)
    try:
        cadence = Cadence.from_mapping(settings, default_timezone=coalition.timezone,
                                       where="schedule")
    except CadenceError as exc:
        problems += exc.problems
    if problems:
        raise LoadError(f"cos schedule {slug}", problems)
    set_cadence(coalition, cadence, pause_after)
    session.add(coalition)
    session.flush()
    return coalition


def upcoming_steps(session: Session, coalition: Coalition, upcoming: int,
                   now: datetime | None = None) -> list[Any]:
    """Return a coalition's next cadence steps (open, remind, close), at most ``upcoming``.

    The rest of a period that opened without a round is left out: it will not happen.
    `cos schedule` and the admin cadence page both show these.
    """
    from pipeline.core.cadence import next_steps
    from pipeline.models import Round, utcnow

    cadence = cadence_of(coalition)
    if cadence is None or upcoming <= 0:
        return []
    have_round: set[str | None] = set(session.exec(select(Round.period_key).where(
        Round.coalition_id == coalition.id)).all())
    steps = []
    for st in next_steps(cadence, now or utcnow(), upcoming + 6):
        if st.kind == "open":
            have_round.add(st.period)
        if st.period in have_round:
            steps.append(st)
    return steps[:upcoming]


@dataclass
class MetricEdit:
    """One metric as an edit form gives it (a new one has a key not yet stored)."""

    key: str
    name: str
    unit: str
    baseline: float | None
    target: float | None
    owner: str
    direction: str = "up"


def edit_coalition(session: Session, slug: str, *, win: str, stage: str,
                   metrics: list[MetricEdit]) -> LoadSummary:
    """Change a coalition's win sentence, stage and metrics, checked as the file loader checks
    them (parse_coalition_file); nothing changes unless everything is right.

    Metrics are matched by key: a listed key is updated or created; metrics not listed stay
    as they are. Returns what changed; raises LoadError naming every problem.
    """
    from pipeline.rounds import get_coalition

    coalition = get_coalition(session, slug)
    lead = session.get(Organisation, coalition.lead_organisation_id) if (
        coalition.lead_organisation_id) else None
    head = {"slug": coalition.slug, "name": coalition.name, "win": win,
            "timezone": coalition.timezone, "locale": coalition.locale, "stage": stage}
    if lead is not None:
        head["lead_organisation"] = lead.name
    rows = []
    for m in metrics:
        row: dict[str, Any] = {"key": m.key, "name": m.name, "unit": m.unit,
                               "direction": m.direction, "owner": m.owner}
        if m.baseline is not None:
            row["baseline"] = m.baseline
        if m.target is not None:
            row["target"] = m.target
        rows.append(row)
    data, problems = parse_coalition_file(
        {"coalition": head, "metrics": rows},
        elsewhere=_elsewhere(session, coalition, set(), prune=False))
    if problems:
        raise LoadError(f"{slug}: the edit", problems)
    summary = LoadSummary(slug, warnings=list(data["warnings"]))
    if _assign(coalition, win=data["coalition"]["win"], stage=data["coalition"]["stage"]):
        summary.count(summary.updated, "coalition", slug)
    session.add(coalition)
    orgs = {o.name: o for o in session.exec(
        select(Organisation).where(Organisation.coalition_id == coalition.id))}
    stored = {m.key: m for m in session.exec(
        select(Metric).where(Metric.coalition_id == coalition.id))}
    for row in data["metrics"]:
        owner = orgs.get(row["owner"]) or next(
            (o for name, o in orgs.items() if spelling_key(name) == spelling_key(row["owner"])),
            None)
        if owner is None:  # parse_coalition_file has checked it is a partner's organisation
            raise LoadError(f"{slug}: the edit", [f"owner {row['owner']!r} is unknown"])
        values = {"name": row["name"], "unit": row["unit"], "direction": row["direction"],
                  "baseline": row["baseline"], "target": row["target"],
                  "owner_organisation_id": owner.id or 0, "active": True}
        metric = stored.get(row["key"])
        if metric is None:
            metric = Metric(coalition_id=coalition.id or 0, key=row["key"], **values)
            summary.count(summary.created, "metric", row["key"])
        elif _assign(metric, **values):
            summary.count(summary.updated, "metric", row["key"])
        session.add(metric)
    session.flush()
    return summary
