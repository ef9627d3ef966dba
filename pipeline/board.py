"""A round's live status board as the admin pages show it: counts and one line per person,
every time written in the coalition's time zone (the same data as `cos campaign status`)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from pipeline.core.display import delivery_state, format_local_short
from pipeline.rounds import round_status

# What the board calls each delivery state, in a word a person scans for.
EMAIL_WORDS = {"sent": "delivered", "failed": "bounced", "rejected": "bounced",
               "queued": "queued", "sending": "sending", "expired": "not sent", "none": "none"}


def status_board(session: Session, round_id: int) -> dict[str, Any]:
    """Return the round's counts and people, ready for a page or a JSON poll."""
    status = round_status(session, round_id)
    round_, tz = status.round_, status.coalition.timezone

    def when(moment: Any) -> str:
        return format_local_short(moment, tz) if moment else ""

    people = []
    for row in status.rows:
        email = "revoked" if row["revoked"] else EMAIL_WORDS.get(row["delivery"], "")
        people.append({
            "name": row["name"], "organisation": row["organisation"], "email": row["email"],
            "email_state": email,
            "email_detail": "link revoked" if row["revoked"] else delivery_state(
                row["delivery"], attempts=row["attempts"], retry_at=row["retry_at"],
                via=row["via"], timezone=tz),
            "sent_at": when(row["sent_at"]),
            "answer_state": "answered" if row["answered"] else "silent",
            "answered_at": when(row["answered_at"]),
            "revisions": row["revisions"],
        })
    return {
        "campaign": round_.id, "round": round_.number, "coalition": status.coalition.slug,
        "open": round_.closed_at is None,
        "state": (f"closed {when(round_.closed_at)}" if round_.closed_at
                  else f"open until {when(round_.closes_at)}"),
        "counts": status.counts(), "people": people,
    }
