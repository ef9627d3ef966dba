"""The delivery ledger: one row per person, round and kind; claim, then send, then record."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from emails import Backend, DeliveryError, backend_from_url, build_message, render_email
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.models import (
    CLOSED_STATUSES,
    Campaign,
    Coalition,
    Commitment,
    Delivery,
    Invitation,
    Metric,
    Organisation,
    Person,
    utcnow,
)
from pipeline.tokens import derive_token

log = logging.getLogger(__name__)


def ensure_deliveries(session: Session, campaign_id: int, person_ids: list[int],
                      kind: str) -> list[int]:
    """Create the ledger rows that do not exist yet; return the ids of those not sent yet."""
    existing = {d.person_id: d for d in session.exec(
        select(Delivery).where(Delivery.campaign_id == campaign_id, Delivery.kind == kind))}
    for pid in person_ids:
        if pid not in existing:
            existing[pid] = Delivery(campaign_id=campaign_id, person_id=pid, kind=kind)
            session.add(existing[pid])
    session.flush()
    return [d.id or 0 for pid, d in existing.items()
            if pid in person_ids and d.status in ("queued", "failed")]


def format_local(moment: datetime, timezone: str) -> str:
    """Format a UTC moment in the coalition's time zone, e.g. 'Thursday 3 December 2026, 17:00'."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({timezone})"


def checkin_link(settings: Settings, invitation: Invitation) -> str:
    """Return a person's personal check-in link, built from COS_BASE_URL."""
    return f"{settings.base_url}/c/{derive_token(settings.secret_key, invitation.salt)}"


def round_label(campaign: Campaign) -> str:
    """Name a round the way people say it."""
    return f"Round {campaign.number}"


def invitation_context(session: Session, settings: Settings, campaign: Campaign,
                       coalition: Coalition, person: Person) -> dict[str, Any]:
    """Gather what the invitation email says to one person."""
    invitation = session.exec(select(Invitation).where(
        Invitation.campaign_id == campaign.id, Invitation.person_id == person.id)).one()
    org = session.get(Organisation, person.organisation_id)
    lead = session.get(Organisation, coalition.lead_organisation_id or 0)
    commitments = session.exec(select(Commitment).where(
        Commitment.organisation_id == person.organisation_id, col(Commitment.active).is_(True),
        col(Commitment.status).not_in(CLOSED_STATUSES)).order_by(col(Commitment.due))).all()
    metrics = session.exec(select(Metric).where(
        Metric.owner_organisation_id == person.organisation_id, col(Metric.active).is_(True))).all()
    return {
        "coalition_name": coalition.name, "win": coalition.win,
        "round_label": round_label(campaign), "person_name": person.name,
        "organisation_name": org.name if org else "",
        "link": checkin_link(settings, invitation),
        "closes_at": format_local(campaign.closes_at, coalition.timezone),
        "commitments": [{"text": c.text, "due": c.due.isoformat() if c.due else None}
                        for c in commitments],
        "metrics": [{"name": m.name, "unit": m.unit} for m in metrics],
        "lead_organisation": lead.name if lead else None,
        "footer_reason": f"you are a partner of {coalition.name}",
    }


def compose(session: Session, settings: Settings, delivery: Delivery) -> EmailMessage:
    """Render the email a ledger row stands for."""
    campaign = session.get(Campaign, delivery.campaign_id)
    person = session.get(Person, delivery.person_id)
    assert campaign is not None and person is not None
    coalition = session.get(Coalition, campaign.coalition_id)
    assert coalition is not None
    if delivery.kind == "invitation":
        context = invitation_context(session, settings, campaign, coalition, person)
    elif delivery.kind == "digest":
        from pipeline.digest import digest_context

        context = digest_context(session, settings, campaign.id or 0)
    else:
        raise ValueError(f"unknown email kind {delivery.kind!r}")
    rendered = render_email(delivery.kind, context)
    message_id = (f"<cos.{campaign.id}.{person.id}.{delivery.kind}.{delivery.id}"
                  f"@{settings.mail_domain}>")
    return build_message(rendered, sender=settings.mail_from, to_name=person.name,
                         to_addr=person.email, message_id=message_id,
                         headers={"Auto-Submitted": "auto-generated"})


@dataclass(frozen=True)
class Outcome:
    """What became of one ledger row's email."""

    status: str  # sent, rejected (refused for good), failed (will be retried), skipped
    detail: str

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


def send_delivery(settings: Settings, delivery_id: int, *, pooled: bool = True,
                  backend: Backend | None = None) -> Outcome:
    """Send one ledger row's email unless it was sent or is being sent; return what happened.

    The claim is a conditional UPDATE committed before the send, so two workers (or a job run
    twice) cannot both send it. A temporary failure is recorded and raised, for RQ to retry.
    """
    backend = backend or backend_from_url(settings.mail_url)  # a bad URL fails before the claim
    with session_scope(settings.database_url, pooled=pooled) as session:
        claimed = session.execute(
            update(Delivery)
            .where(col(Delivery.id) == delivery_id,
                   col(Delivery.status).in_(("queued", "failed")))
            .values(status="sending", claimed_at=utcnow(), attempts=Delivery.attempts + 1)
        )
        if claimed.rowcount == 0:  # type: ignore[attr-defined]
            return Outcome("skipped", "already sent or being sent")
    with session_scope(settings.database_url, pooled=pooled) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        try:
            message = compose(session, settings, delivery)
        except Exception as exc:
            _record(settings, delivery_id, "failed", f"could not build the email: {exc}", pooled)
            raise
    try:
        backend.send(message)
    except DeliveryError as exc:
        # A permanent refusal (a 5xx, a bad address) is not worth retrying: "rejected".
        _record(settings, delivery_id, "failed" if exc.temporary else "rejected", str(exc), pooled)
        log.warning("delivery %s failed: %s", delivery_id, exc)
        if exc.temporary:
            raise
        return Outcome("rejected", str(exc))
    _record(settings, delivery_id, "sent", "", pooled, message_id=str(message["Message-ID"]))
    return Outcome("sent", str(message["To"]))


def send_in_process(settings: Settings, delivery_ids: Iterable[int]) -> list[Outcome]:
    """Send ledger rows one after the other in this process (no worker, no retries)."""
    outcomes = []
    for delivery_id in delivery_ids:
        try:
            outcomes.append(send_delivery(settings, delivery_id))
        except DeliveryError as exc:  # temporary: recorded as failed, reconcile re-queues it
            outcomes.append(Outcome("failed", str(exc)))
    return outcomes


def _record(settings: Settings, delivery_id: int, status: str, error: str, pooled: bool,
            message_id: str = "") -> None:
    with session_scope(settings.database_url, pooled=pooled) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        delivery.status, delivery.last_error = status, error[:2000]
        if status == "sent":
            delivery.sent_at, delivery.message_id = utcnow(), message_id
        session.add(delivery)
