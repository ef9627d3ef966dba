"""The read-only JSON API's data: per-coalition tokens and the documents it serves.

A token is shown once when made (`cos api-token create`); only its SHA-256 is stored, so a
copy of the database opens nothing. Each token reads one coalition. The documents are plain
dicts shaped as forms/openapi.yaml describes them (times in UTC ISO 8601 with a Z).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from pipeline.core.display import iso_utc
from pipeline.errors import FixableError
from pipeline.models import ApiToken, Coalition, PhaseSnapshot, Round, Scoreboard, utcnow
from pipeline.rounds import RoundSummary, list_rounds

TOKEN_PREFIX = "cosapi_"  # noqa: S105 - tells a token apart, is not one
# A token's last use is written at most this often, so reads stay reads.
LAST_USED_EVERY = timedelta(minutes=5)


class ApiTokenError(FixableError):
    """An API token command that cannot be done as asked."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, coalition: Coalition, name: str) -> tuple[ApiToken, str]:
    """Make a token for one coalition; return its row and the token itself (shown once)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiTokenError("give the token a name of 1 to 100 characters (who uses it)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(coalition_id=coalition.id or 0, name=name, token_hash=_digest(token),
                   prefix=token[:len(TOKEN_PREFIX) + 6])
    session.add(row)
    session.flush()
    return row, token


def tokens(session: Session, coalition: Coalition) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).where(ApiToken.coalition_id == coalition.id)
                             .order_by(col(ApiToken.id))))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise ApiTokenError(f"no API token {token_id}: `cos api-token list SLUG` shows them")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
    return row


def coalition_for_token(session: Session, token: str, *,
                        now: datetime | None = None) -> Coalition | None:
    """The coalition a live token reads, or None for a wrong or revoked token."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == _digest(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - _aware(row.last_used_at) > LAST_USED_EVERY:
        row.last_used_at = now
        session.add(row)
    return session.get(Coalition, row.coalition_id)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _round_doc(summary: RoundSummary) -> dict[str, Any]:
    return {
        "number": summary.number,
        "id": summary.campaign,
        "opened_at": iso_utc(summary.opened_at),
        "closes_at": iso_utc(summary.closes_at),
        "closed_at": iso_utc(summary.closed_at) if summary.closed_at else None,
        "state": "closed" if summary.closed_at else "open",
        "invited": summary.invited,
        "answered": summary.answered,
    }


def coalition_doc(session: Session, coalition: Coalition) -> dict[str, Any]:
    """The coalition and its rounds, newest first."""
    return {
        "slug": coalition.slug,
        "name": coalition.name,
        "win": coalition.win,
        "stage": str(coalition.stage),
        "timezone": coalition.timezone,
        "rounds": [_round_doc(r) for r in reversed(list_rounds(session, coalition))],
    }


def rounds_doc(session: Session, coalition: Coalition) -> dict[str, Any]:
    return {"coalition": coalition.slug,
            "rounds": [_round_doc(r) for r in reversed(list_rounds(session, coalition))]}


def round_doc(session: Session, coalition: Coalition, number: int) -> dict[str, Any] | None:
    """One round with its stored scoreboard (None when the coalition has no such round)."""
    summary = next((r for r in list_rounds(session, coalition) if r.number == number), None)
    if summary is None:
        return None
    board = session.exec(select(Scoreboard).where(Scoreboard.round_id == summary.campaign)
                         ).first()
    phases = session.exec(select(PhaseSnapshot).where(
        PhaseSnapshot.round_id == summary.campaign)).first()
    return {"coalition": coalition.slug, **_round_doc(summary),
            "scoreboard": _board_doc(board), "phases": _phases_doc(phases)}


def scoreboard_doc(session: Session, coalition: Coalition) -> dict[str, Any] | None:
    """The latest round's scoreboard (None before the first round)."""
    latest = session.exec(select(Round).where(Round.coalition_id == coalition.id)
                          .order_by(col(Round.number).desc())).first()
    if latest is None:
        return None
    return round_doc(session, coalition, latest.number)


def _board_doc(board: Scoreboard | None) -> dict[str, Any] | None:
    if board is None:
        return None
    return {"computed_at": iso_utc(board.computed_at), **board.data}


def _phases_doc(row: PhaseSnapshot | None) -> dict[str, Any] | None:
    """The round's phase snapshot as stored by the last merge (None before the first merge).

    Only the documented fields, so the snapshot's internals can change without breaking
    clients: each phase's score, band and exit tests, the focus, the ranked moves with their
    reasons, and what slipped since the round before.
    """
    if row is None:
        return None
    data = row.data
    return {
        "computed_at": iso_utc(row.computed_at),
        "as_of": data.get("as_of"),
        "stage": data.get("stage"),
        "focus": data.get("focus"),
        "phases": {
            name: {"label": p.get("label"), "score": p.get("score"), "band": p.get("band"),
                   "passed": bool(p.get("passed")),
                   "respondents": p.get("respondents", 0), "response": p.get("response", 0),
                   "exits": [{"name": e.get("name"), "passed": bool(e.get("passed")),
                              "detail": e.get("detail", "")} for e in p.get("exits", [])]}
            for name, p in (data.get("phases") or {}).items()
        },
        "moves": [{"rank": m.get("rank"), "id": m.get("id"), "phase": m.get("phase"),
                   "move": m.get("move"), "reason": m.get("reason"),
                   "evidence": m.get("evidence", ""), "script": m.get("script", "")}
                  for m in data.get("moves") or []],
        "slipped": [{"kind": x.get("kind"), "name": x.get("name"), "what": x.get("what"),
                     "why": x.get("why", "")} for x in data.get("slipped") or []],
    }
