"""Sending one ledger row's email: claim it, build it, hand it to the transport, record it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import formataddr

from sqlmodel import Session, col, select

from emails import Backend, DeliveryError, backend_from_url, build_message, render_email
from pipeline import ledger, recipients
from pipeline.config import Settings
from pipeline.core.vocab import DeliveryStatus, Role
from pipeline.db import session_scope
from pipeline.email_kinds import builder_for
from pipeline.ledger import Outcome
from pipeline.models import Coalition, Delivery, Person, Round
from pipeline.ratelimit import wait_for_slot

log = logging.getLogger(__name__)


def compose(session: Session, settings: Settings, delivery: Delivery) -> EmailMessage:
    """Render the email a ledger row stands for, with the builder registered for its kind."""
    round_ = session.get(Round, delivery.round_id)
    person = session.get(Person, delivery.person_id)
    assert round_ is not None and person is not None
    coalition = session.get(Coalition, round_.coalition_id)
    assert coalition is not None
    context = builder_for(delivery.kind)(session, settings, round_, coalition, person)
    contact = contact_for(session, coalition)
    headers = {"Auto-Submitted": "auto-generated"}
    if contact is not None and contact.id != person.id:
        context.setdefault("contact", {"name": contact.name, "email": contact.email})
        headers["Reply-To"] = formataddr((contact.name, contact.email))
    if delivery.kind in recipients.RECURRING_KINDS:
        context["unsubscribe_link"] = recipients.unsubscribe_link(settings, person.id or 0)
        headers.update(recipients.unsubscribe_headers(settings, person.id or 0))
    rendered = render_email(delivery.kind, context)
    message_id = (f"<cos.{round_.id}.{person.id}.{delivery.kind}.{delivery.id}"
                  f"@{settings.mail_domain}>")
    return build_message(rendered, sender=settings.mail_from, to_name=person.name,
                         to_addr=person.email, message_id=message_id,
                         headers=headers)


def contact_for(session: Session, coalition: Coalition) -> Person | None:
    """Return whom partners write to with questions: the coalition's first active lead."""
    return session.exec(select(Person).where(
        Person.coalition_id == coalition.id, Person.role == Role.LEAD,
        col(Person.active).is_(True)).order_by(col(Person.id))).first()


def send_delivery(settings: Settings, delivery_id: int, *, pooled: bool = True,
                  backend: Backend | None = None) -> Outcome:
    """Send one ledger row's email unless it was sent or is being sent; return what happened.

    The claim is committed before the send, so two workers (or a job run twice) cannot both
    send it. A temporary failure is recorded and raised, for RQ to retry.
    """
    backend = backend or backend_from_url(settings.mail_url)  # a bad URL fails before the claim
    with session_scope(settings.database_url, pooled=pooled) as session:
        if not ledger.claim(session, delivery_id):
            return Outcome("skipped", "already sent or being sent")
    with session_scope(settings.database_url, pooled=pooled) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        if stale := ledger.reason_not_to_send(session, delivery):
            ledger.record(session, delivery_id, DeliveryStatus.EXPIRED, f"not sent: {stale}")
            return Outcome(DeliveryStatus.EXPIRED, stale)
        if why := recipients.reason_to_withhold(session, delivery):
            ledger.record(session, delivery_id, DeliveryStatus.WITHHELD, f"not sent: {why}")
            return Outcome(DeliveryStatus.WITHHELD, why)
        if hold := recipients.reason_to_hold(session, delivery):
            ledger.release(session, delivery_id, hold)
            return Outcome("held", hold)
        round_id = delivery.round_id
        try:
            message = compose(session, settings, delivery)
        except Exception as exc:
            _record(settings, pooled, delivery_id, DeliveryStatus.FAILED,
                    f"could not build the email: {exc}")
            raise
    try:
        wait_for_slot(settings)
        backend.send(message)
    except DeliveryError as exc:
        # A permanent refusal (a 5xx, a bad address) is not worth retrying: "rejected"; a
        # refused address bounced, and is suppressed.
        status = (DeliveryStatus.FAILED if exc.temporary else DeliveryStatus.BOUNCED
                  if exc.recipient_refused else DeliveryStatus.REJECTED)
        if _record(settings, pooled, delivery_id, status, str(exc), via=backend.describe(),
                   smtp_reply=exc.reply):
            from pipeline.lifecycle import round_paused  # it needs rounds, which need us

            round_paused(settings, round_id)
        log.warning("delivery %s %s: %s", delivery_id,
                    "failed, will retry" if exc.temporary else "refused", exc)
        if exc.temporary:
            raise
        return Outcome(status, str(exc))
    _record(settings, pooled, delivery_id, DeliveryStatus.SENT,
            message_id=str(message["Message-ID"]), via=backend.describe())
    return Outcome(DeliveryStatus.SENT, str(message["To"]))


def send_in_process(settings: Settings, delivery_ids: Iterable[int]) -> list[Outcome]:
    """Send ledger rows one after the other in this process (no worker, no retries)."""
    outcomes = []
    for delivery_id in delivery_ids:
        try:
            outcomes.append(send_delivery(settings, delivery_id))
        except DeliveryError as exc:  # temporary: recorded as failed, reconcile re-queues it
            outcomes.append(Outcome(DeliveryStatus.FAILED, str(exc)))
    return outcomes


def _record(settings: Settings, pooled: bool, delivery_id: int, status: DeliveryStatus,
            error: str = "", *, message_id: str = "", via: str = "",
            smtp_reply: str = "") -> bool:
    with session_scope(settings.database_url, pooled=pooled) as session:
        return ledger.record(session, delivery_id, status, error, message_id=message_id,
                             via=via, smtp_reply=smtp_reply)
