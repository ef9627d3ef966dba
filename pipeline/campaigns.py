"""Rounds of check-ins: open one, invite everyone, watch it, close it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from pipeline.deliveries import ensure_deliveries
from pipeline.models import (
    Campaign,
    Coalition,
    Delivery,
    Invitation,
    Organisation,
    Person,
    Response,
    utcnow,
)
from pipeline.tokens import derive_token, hash_token, new_salt

DURATION_RE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_ROUND = timedelta(days=90)


class CampaignError(Exception):
    """A campaign command cannot go ahead; the message says why and what to do."""


def parse_duration(text: str) -> timedelta:
    """Parse '72h', '3d', '90m' or '1w' into a timedelta."""
    match = DURATION_RE.match(text)
    if not match or int(match.group(1)) == 0:
        raise CampaignError(f"{text!r} is not a duration like 72h, 3d, 90m or 1w")
    amount = int(match.group(1))
    if amount > 100_000 or timedelta(**{UNITS[match.group(2)]: amount}) > MAX_ROUND:
        raise CampaignError(f"{text!r} is longer than a round can stay open (at most 90 days)")
    return timedelta(**{UNITS[match.group(2)]: amount})


def get_coalition(session: Session, slug: str) -> Coalition:
    """Return a coalition by slug, or say how to create it."""
    coalition = session.exec(select(Coalition).where(Coalition.slug == slug)).first()
    if coalition is None:
        known = ", ".join(session.exec(select(Coalition.slug)).all()) or "none yet"
        raise CampaignError(f"no coalition {slug!r} (known: {known}); create it with cos load")
    return coalition


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    """Return a campaign by id, or say that it does not exist."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignError(f"no campaign {campaign_id}")
    return campaign


def open_campaign(session: Session, coalition: Coalition) -> Campaign | None:
    """Return the coalition's open campaign, if any."""
    return session.exec(select(Campaign).where(Campaign.coalition_id == coalition.id,
                                               col(Campaign.closed_at).is_(None))
                        .order_by(col(Campaign.number).desc())).first()


def latest_campaign(session: Session, coalition: Coalition) -> Campaign | None:
    """Return the coalition's most recent campaign, open or closed."""
    return session.exec(select(Campaign).where(Campaign.coalition_id == coalition.id)
                        .order_by(col(Campaign.number).desc())).first()


def active_partners(session: Session, coalition_id: int) -> list[Person]:
    """Return the people asked to check in: active partners of active organisations."""
    return list(session.exec(
        select(Person).join(Organisation, col(Organisation.id) == col(Person.organisation_id))
        .where(Person.coalition_id == coalition_id, Person.role == "partner",
               col(Person.active).is_(True), col(Organisation.active).is_(True))
        .order_by(col(Person.id))))


def start_campaign(session: Session, secret_key: str, slug: str, closes_in: timedelta,
                   *, force: bool = False) -> tuple[Campaign, list[int]]:
    """Open a round and invite every active partner; return it and the deliveries to send."""
    coalition = get_coalition(session, slug)
    current = open_campaign(session, coalition)
    if current is not None and not force:
        raise CampaignError(
            f"{slug} already has an open campaign (id {current.id}, round {current.number}): "
            f"close it with `cos campaign close {current.id}`, or pass --force to open another")
    if not active_partners(session, coalition.id or 0):
        raise CampaignError(f"{slug} has no active partners to invite: add people first")
    number = (session.exec(select(func.max(Campaign.number))
                           .where(Campaign.coalition_id == coalition.id)).one() or 0) + 1
    now = utcnow()
    campaign = Campaign(coalition_id=coalition.id or 0, number=number, opened_at=now,
                        closes_at=now + closes_in)
    session.add(campaign)
    session.flush()
    return campaign, fan_out(session, secret_key, campaign.id or 0)


def fan_out(session: Session, secret_key: str, campaign_id: int) -> list[int]:
    """Give every active partner one invitation and one ledger row; safe to run again."""
    campaign = get_campaign(session, campaign_id)
    invited = set(session.exec(select(Invitation.person_id)
                               .where(Invitation.campaign_id == campaign_id)).all())
    partners = active_partners(session, campaign.coalition_id)
    for person in partners:
        if person.id not in invited:
            salt = new_salt()
            session.add(Invitation(campaign_id=campaign_id, person_id=person.id or 0, salt=salt,
                                   token_hash=hash_token(derive_token(secret_key, salt))))
    session.flush()
    everyone = list(session.exec(select(Invitation.person_id)
                                 .where(Invitation.campaign_id == campaign_id,
                                        col(Invitation.revoked_at).is_(None))).all())
    return ensure_deliveries(session, campaign_id, everyone, "invitation")


@dataclass
class CampaignStatus:
    """Where a round stands: who was invited, reached, and who answered."""

    campaign: Campaign
    coalition: Coalition
    rows: list[dict[str, Any]]

    def count(self, key: str, value: Any = True) -> int:
        """Count the people whose row has this value."""
        return sum(1 for r in self.rows if r[key] == value)


def campaign_status(session: Session, campaign_id: int) -> CampaignStatus:
    """Return each invited person's delivery and answer state."""
    campaign = get_campaign(session, campaign_id)
    coalition = session.get(Coalition, campaign.coalition_id)
    assert coalition is not None
    deliveries = {d.person_id: d for d in session.exec(
        select(Delivery).where(Delivery.campaign_id == campaign_id,
                               Delivery.kind == "invitation"))}
    revisions = dict(session.exec(
        select(Response.person_id, func.max(Response.revision))
        .where(Response.campaign_id == campaign_id).group_by(col(Response.person_id))).all())
    rows = []
    stmt = (select(Invitation, Person, Organisation)
            .join(Person, col(Person.id) == col(Invitation.person_id))
            .join(Organisation, col(Organisation.id) == col(Person.organisation_id))
            .where(Invitation.campaign_id == campaign_id)
            .order_by(col(Organisation.name), col(Person.name)))
    for invitation, person, org in session.exec(stmt):
        delivery = deliveries.get(person.id or 0)
        rows.append({
            "name": person.name, "email": person.email, "organisation": org.name,
            "delivery": delivery.status if delivery else "none",
            "error": delivery.last_error if delivery else "",
            "answered": person.id in revisions, "revisions": revisions.get(person.id or 0, 0),
            "revoked": invitation.revoked_at is not None,
        })
    return CampaignStatus(campaign, coalition, rows)


def close_campaign(session: Session, campaign_id: int) -> Campaign:
    """Mark a round closed: its links stop working; the caller merges and sends the digest."""
    campaign = get_campaign(session, campaign_id)
    if campaign.closed_at is None:
        campaign.closed_at = utcnow()
        session.add(campaign)
        session.flush()
    return campaign


def unmerged_campaigns(session: Session) -> list[int]:
    """Return the rounds that have answers not merged yet."""
    return sorted(set(session.exec(select(Response.campaign_id)
                                   .where(col(Response.merged_at).is_(None))).all()))


def pending_deliveries(session: Session, *, stale_after: timedelta = timedelta(minutes=15)
                       ) -> list[int]:
    """Return ledger rows still to send, releasing claims left by a worker that died mid-send."""
    cutoff = utcnow() - stale_after
    for stuck in session.exec(select(Delivery).where(Delivery.status == "sending",
                                                     col(Delivery.claimed_at) < cutoff)):
        stuck.status = "failed"
        stuck.last_error = "the worker stopped while sending; sending again"
        session.add(stuck)
    session.flush()
    return [d or 0 for d in session.exec(select(Delivery.id).where(
        col(Delivery.status).in_(("queued", "failed")), Delivery.attempts < 4)).all()]
