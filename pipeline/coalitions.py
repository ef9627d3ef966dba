"""Setting a coalition up from a TOML file or a CSV of people."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, SQLModel, select

from pipeline.core.vocab import Direction, Role, Stage
from pipeline.models import (
    Coalition,
    Commitment,
    Metric,
    Organisation,
    Person,
)

EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class LoadError(Exception):
    """The input has problems; nothing was written. Each problem names where it is."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s), nothing was changed:\n{listing}")


@dataclass
class LoadSummary:
    """What a load or import changed."""

    coalition: str
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deactivated: dict[str, int] = field(default_factory=dict)

    def count(self, bucket: dict[str, int], kind: str) -> None:
        """Add one to a bucket's counter for a kind of row."""
        bucket[kind] = bucket.get(kind, 0) + 1

    def lines(self) -> list[str]:
        """Describe the changes in a few lines."""
        out = []
        for label, bucket in (("created", self.created), ("updated", self.updated),
                              ("deactivated", self.deactivated)):
            if bucket:
                out.append(f"{label}: " + ", ".join(f"{n} {k}" for k, n in sorted(bucket.items())))
        return out or ["nothing changed"]


# The longest text each input may hold (the database columns' sizes).
LIMITS = {"slug": 64, "name": 200, "win": 1000, "timezone": 64, "stage": 16,
          "lead_organisation": 200, "email": 254, "organisation": 200, "role": 16, "key": 64,
          "unit": 32, "direction": 4, "owner": 200, "text": 1000}


def _str(row: dict[str, Any], key: str, where: str, problems: list[str], *,
         required: bool = True, default: str = "") -> str:
    value = row.get(key, default)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(f"{where}: '{key}' is missing")
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        problems.append(f"{where}: '{key}' should be text")
        return default
    text = " ".join(str(value).split())
    if len(text) > LIMITS.get(key, 1000):
        problems.append(f"{where}: '{key}' is {len(text)} characters long; "
                        f"at most {LIMITS.get(key, 1000)} fit")
    return text


def _tables(raw: dict[str, Any], name: str, problems: list[str]) -> list[dict[str, Any]]:
    """Return the [[name]] tables of a file, reporting any other shape."""
    value = raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        problems.append(f"[[{name}]]: write each entry as its own [[{name}]] table "
                        "(double brackets), one key = value per line")
        return []
    return value


def _number(row: dict[str, Any], key: str, where: str, problems: list[str]) -> float:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{where}: '{key}' should be a number, got {value!r}")
        return 0.0
    return float(value)


def _validate_email(email: str, where: str, problems: list[str]) -> str:
    email = email.strip().lower()
    if email and not EMAIL_RE.match(email):
        problems.append(f"{where}: {email!r} is not an email address")
    return email


def commitment_key(organisation: str, text: str) -> str:
    """Return the stable key of a file commitment that has no key of its own."""
    return hashlib.sha1(f"{organisation}\n{text}".encode()).hexdigest()[:16]  # noqa: S324


def parse_coalition_file(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check a parsed coalition file and return its cleaned content and its problems."""
    problems: list[str] = []
    head = raw.get("coalition")
    if not isinstance(head, dict):
        return {}, ["[coalition] table is missing"]
    c: dict[str, Any] = {
        "slug": _str(head, "slug", "[coalition]", problems),
        "name": _str(head, "name", "[coalition]", problems),
        "win": _str(head, "win", "[coalition]", problems),
        "timezone": _str(head, "timezone", "[coalition]", problems, required=False, default="UTC"),
        "stage": _str(head, "stage", "[coalition]", problems, required=False, default="launch"),
        "lead_organisation": _str(head, "lead_organisation", "[coalition]", problems,
                                  required=False),
    }
    if c["slug"] and not SLUG_RE.match(c["slug"]):
        problems.append("[coalition]: slug must be lowercase letters, digits and dashes")
    try:
        ZoneInfo(c["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"[coalition]: unknown timezone {c['timezone']!r} (e.g. Europe/London)")
    if c["stage"] not in tuple(Stage):
        problems.append(f"[coalition]: stage must be one of {', '.join(tuple(Stage))}")

    people, seen = [], set()
    for n, row in enumerate(_tables(raw, "people", problems), start=1):
        where = f"[[people]] #{n}"
        email = _validate_email(_str(row, "email", where, problems), where, problems)
        if email and email in seen:
            problems.append(f"{where}: {email} appears twice")
        seen.add(email)
        role = _str(row, "role", where, problems, required=False, default="partner").lower()
        if role not in tuple(Role):
            problems.append(f"{where}: role must be one of {', '.join(tuple(Role))}, got {role!r}")
        people.append({"email": email, "name": _str(row, "name", where, problems),
                       "organisation": _str(row, "organisation", where, problems), "role": role})

    metrics, keys = [], set()
    for n, row in enumerate(_tables(raw, "metrics", problems), start=1):
        where = f"[[metrics]] #{n}"
        key = _str(row, "key", where, problems)
        if key in keys:
            problems.append(f"{where}: key {key!r} appears twice")
        keys.add(key)
        direction = _str(row, "direction", where, problems, required=False, default="up")
        if direction not in tuple(Direction):
            problems.append(f"{where}: direction must be up or down")
        metrics.append({
            "key": key, "name": _str(row, "name", where, problems),
            "unit": _str(row, "unit", where, problems, required=False),
            "baseline": _number(row, "baseline", where, problems),
            "target": _number(row, "target", where, problems), "direction": direction,
            "owner": _str(row, "owner", where, problems),
        })

    commitments, commitment_keys = [], set()
    for n, row in enumerate(_tables(raw, "commitments", problems), start=1):
        where = f"[[commitments]] #{n}"
        owner = _str(row, "owner", where, problems)
        text = _str(row, "text", where, problems)
        due = row.get("due")
        if isinstance(due, str):
            try:
                due = date.fromisoformat(due)
            except ValueError:
                problems.append(f"{where}: due {due!r} is not a date like 2026-12-31")
                due = None
        elif due is not None and not isinstance(due, date):
            problems.append(f"{where}: due should be a date like 2026-12-31")
            due = None
        key = _str(row, "key", where, problems, required=False) or commitment_key(owner, text)
        if key in commitment_keys:
            problems.append(f"{where}: the same commitment (key {key!r}) appears twice")
        commitment_keys.add(key)
        commitments.append({"owner": owner, "text": text, "due": due, "key": key})

    organisations = {p["organisation"] for p in people} | {m["owner"] for m in metrics} | {
        x["owner"] for x in commitments}
    if c["lead_organisation"]:
        organisations.add(c["lead_organisation"])
    organisations.discard("")
    return {"coalition": c, "people": people, "metrics": metrics, "commitments": commitments,
            "organisations": sorted(organisations)}, problems


def _organisations(session: Session, coalition: Coalition, names: list[str],
                   summary: LoadSummary, *, deactivate_others: bool) -> dict[str, Organisation]:
    existing = {o.name: o for o in session.exec(
        select(Organisation).where(Organisation.coalition_id == coalition.id))}
    for name in names:
        org = existing.get(name)
        if org is None:
            org = existing[name] = Organisation(coalition_id=coalition.id or 0, name=name)
            summary.count(summary.created, "organisations")
        elif not org.active:
            summary.count(summary.updated, "organisations")
        org.active = True
        session.add(org)
    if deactivate_others:
        _deactivate_unlisted(session, existing, set(names), "organisations", summary)
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


def _deactivate_unlisted(session: Session,
                         rows: Mapping[str, Organisation | Person | Metric | Commitment],
                         listed: set[str], kind: str, summary: LoadSummary) -> None:
    """Mark rows the file no longer lists as inactive; they and their history stay."""
    for key, row in rows.items():
        if key not in listed and row.active:
            row.active = False
            session.add(row)
            summary.count(summary.deactivated, kind)


def _upsert_person(session: Session, coalition: Coalition, existing: dict[str, Person],
                   row: dict[str, Any], org: Organisation, summary: LoadSummary) -> None:
    values = {"name": row["name"], "organisation_id": org.id or 0, "role": row["role"],
              "active": True}
    person = existing.get(row["email"])
    if person is None:
        person = Person(coalition_id=coalition.id or 0, email=row["email"], **values)
        summary.count(summary.created, "people")
    elif _assign(person, **values):
        summary.count(summary.updated, "people")
    session.add(person)


def load_coalition(session: Session, path: Path) -> LoadSummary:
    """Create or update one coalition from a TOML file; people left out are deactivated."""
    try:
        # utf-8-sig: editors on Windows save a byte order mark, which TOML does not allow.
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise LoadError(str(path), [f"cannot read the file: {exc.strerror}"]) from exc
    except UnicodeDecodeError as exc:
        raise LoadError(str(path), [f"not UTF-8 text (byte {exc.start}): save the file as "
                                    "UTF-8 and load it again"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise LoadError(str(path), [f"not valid TOML: {exc}"]) from exc
    data, problems = parse_coalition_file(raw)
    if problems:
        raise LoadError(str(path), problems)
    head = data["coalition"]
    summary = LoadSummary(head["slug"])

    coalition = session.exec(select(Coalition).where(Coalition.slug == head["slug"])).first()
    is_new = coalition is None
    if coalition is None:
        coalition = Coalition(slug=head["slug"], name=head["name"], win=head["win"])
        summary.count(summary.created, "coalition")
    changed = _assign(coalition, name=head["name"], win=head["win"], timezone=head["timezone"],
                      stage=head["stage"])
    session.add(coalition)
    session.flush()

    orgs = _organisations(session, coalition, data["organisations"], summary,
                          deactivate_others=True)
    lead = orgs[head["lead_organisation"]].id if head["lead_organisation"] else None
    if (_assign(coalition, lead_organisation_id=lead) or changed) and not is_new:
        summary.count(summary.updated, "coalition")
    session.add(coalition)

    people = {p.email: p for p in session.exec(
        select(Person).where(Person.coalition_id == coalition.id))}
    for row in data["people"]:
        _upsert_person(session, coalition, people, row, orgs[row["organisation"]], summary)
    _deactivate_unlisted(session, people, {row["email"] for row in data["people"]}, "people",
                         summary)

    metrics = {m.key: m for m in session.exec(
        select(Metric).where(Metric.coalition_id == coalition.id))}
    for row in data["metrics"]:
        values = {"name": row["name"], "unit": row["unit"], "direction": row["direction"],
                  "baseline": row["baseline"], "target": row["target"],
                  "owner_organisation_id": orgs[row["owner"]].id or 0, "active": True}
        metric = metrics.get(row["key"])
        if metric is None:
            metric = Metric(coalition_id=coalition.id or 0, key=row["key"], **values)
            summary.count(summary.created, "metrics")
        elif _assign(metric, **values):
            summary.count(summary.updated, "metrics")
        session.add(metric)
    _deactivate_unlisted(session, metrics, {row["key"] for row in data["metrics"]}, "metrics",
                         summary)

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
            summary.count(summary.created, "commitments")
        elif _assign(commitment, **values):
            summary.count(summary.updated, "commitments")
        session.add(commitment)
    # Commitments made in check-ins are not the file's to retire.
    from_file = {k: c for k, c in commitments.items() if k.startswith("file:")}
    _deactivate_unlisted(session, from_file, {f"file:{row['key']}" for row in data["commitments"]},
                         "commitments", summary)
    session.flush()
    return summary


def import_people(session: Session, slug: str, content: str, source: str = "CSV") -> LoadSummary:
    """Add or update people from CSV columns email,name,organisation,role; all or nothing."""
    coalition = session.exec(select(Coalition).where(Coalition.slug == slug)).first()
    if coalition is None:
        raise LoadError(source, [f"no coalition with slug {slug!r}: load it first with cos load"])
    content = content.lstrip("\ufeff")
    first_line = content.split("\n", 1)[0]
    # Spreadsheets set to a European locale save with semicolons; some exports use tabs.
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.DictReader(io.StringIO(content), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("email", "name", "organisation") if c not in header]
    if missing:
        raise LoadError(source, [f"line 1: the header needs the columns email,name,organisation,"
                                 f"role; missing: {', '.join(missing)}"])
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()
               if isinstance(v, str)}
        if not any(row.values()):
            continue
        where = f"line {line}"
        email = _validate_email(_str(row, "email", where, problems, required=False), where,
                                problems)
        if not email:
            problems.append(f"{where}: email is missing")
        elif email in seen:
            problems.append(f"{where}: {email} already on line {seen[email]}")
        seen[email] = line
        role = (row.get("role") or "partner").lower()
        if role not in tuple(Role):
            problems.append(f"{where}: role must be one of {', '.join(tuple(Role))}, got {role!r}")
        rows.append({"email": email, "name": _str(row, "name", where, problems),
                     "organisation": _str(row, "organisation", where, problems), "role": role})
    if problems:
        raise LoadError(source, problems)
    summary = LoadSummary(slug)
    orgs = _organisations(session, coalition, sorted({r["organisation"] for r in rows}), summary,
                          deactivate_others=False)
    people = {p.email: p for p in session.exec(
        select(Person).where(Person.coalition_id == coalition.id))}
    for row in rows:
        _upsert_person(session, coalition, people, row, orgs[row["organisation"]], summary)
    session.flush()
    return summary
