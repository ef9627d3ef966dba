"""The leads' digest: the round's scoreboard, rendered for email or for a file."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from emails import Rendered, render_email
from pipeline.config import Settings
from pipeline.deliveries import ensure_deliveries, format_local, round_label
from pipeline.models import Campaign, Coalition, Person, Scoreboard
from pipeline.scoreboard import store_scoreboard


def scoreboard_for(session: Session, campaign_id: int) -> dict[str, Any]:
    """Return a round's stored scoreboard, computing it if the round was never merged."""
    row = session.exec(select(Scoreboard).where(Scoreboard.campaign_id == campaign_id)).first()
    return row.data if row else store_scoreboard(session, campaign_id)


def digest_context(session: Session, settings: Settings, campaign_id: int) -> dict[str, Any]:
    """Gather what the digest says about a round."""
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    coalition = session.get(Coalition, campaign.coalition_id)
    assert coalition is not None
    return {
        "coalition_name": coalition.name, "win": coalition.win,
        "round_label": round_label(campaign),
        "closes_at": format_local(campaign.closed_at or campaign.closes_at, coalition.timezone),
        "closed": campaign.closed_at is not None,
        "web_link": None,
        "scoreboard": scoreboard_for(session, campaign_id),
        "footer_reason": f"you lead {coalition.name}",
    }


def render_digest(session: Session, settings: Settings, campaign_id: int) -> Rendered:
    """Render a round's digest (subject, text, HTML)."""
    return render_email("digest", digest_context(session, settings, campaign_id))


def leads(session: Session, coalition_id: int) -> list[Person]:
    """Return the active leads of a coalition, who receive the digest."""
    return list(session.exec(select(Person).where(
        Person.coalition_id == coalition_id, Person.role == "lead",
        col(Person.active).is_(True)).order_by(col(Person.id))))


def queue_digest(session: Session, campaign_id: int) -> list[int]:
    """Create the digest's ledger rows (one per lead); return those not sent yet."""
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    return ensure_deliveries(session, campaign_id,
                             [p.id or 0 for p in leads(session, campaign.coalition_id)], "digest")
