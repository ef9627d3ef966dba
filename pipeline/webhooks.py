"""Signed webhooks: a coalition's own systems hear about answers and closed rounds.

Messages follow the Standard Webhooks scheme (https://www.standardwebhooks.com): each carries
`webhook-id` (the same on every retry, so a receiver can drop duplicates), `webhook-timestamp`
and `webhook-signature` (`v1,` + base64 HMAC-SHA256 over "id.timestamp.body" with the
endpoint's `whsec_` secret). The body is {"type", "timestamp", "data"}.

An event is written to the delivery log in the same transaction as what it reports, so a
dead Redis or a crash loses none: the worker delivers the row, and the reconcile sweep
re-queues any whose job was lost. A failed attempt is tried again on a growing schedule; after
the last one the row is `failed` until an admin redelivers it (`cos webhooks redeliver`).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import redis
import requests
from sqlalchemy import bindparam
from sqlmodel import Session, col, select
from standardwebhooks.webhooks import Webhook

from pipeline import queues
from pipeline.config import Settings
from pipeline.core.display import error_line, iso_utc
from pipeline.db import session_scope
from pipeline.errors import FixableError
from pipeline.models import (
    Coalition,
    Commitment,
    Metric,
    Organisation,
    Person,
    Response,
    Round,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)

log = logging.getLogger(__name__)

EVENTS = ("answer.created", "answer.updated", "round.closed")
# After the first attempt, wait this long before each next one (the schedule Standard
# Webhooks' reference implementation uses): eight attempts over about a day.
RETRY_DELAYS = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30),
                timedelta(hours=2), timedelta(hours=5), timedelta(hours=10),
                timedelta(hours=10))
TIMEOUT = (3.05, 10)  # seconds to connect, to read the answer


class Status:
    """Where one webhook message stands."""

    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed: redeliver by hand


class WebhookError(FixableError):
    """A webhook command that cannot be done as asked."""


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: whsec_ + base64 of 24 bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WebhookError(f"{url!r} is not an http(s) URL: give the full address, e.g. "
                           "https://example.org/hooks/cos")
    return url.strip()


def _check_events(events: Sequence[str]) -> str:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise WebhookError(f"unknown event {', '.join(unknown)}: choose from {', '.join(EVENTS)}")
    return ",".join(e for e in EVENTS if e in events)


def add_endpoint(session: Session, coalition: Coalition, url: str,
                 events: Sequence[str] = ()) -> WebhookEndpoint:
    """Register a URL for the coalition's events (all of them when none are named)."""
    endpoint = WebhookEndpoint(coalition_id=coalition.id or 0, url=_check_url(url),
                               secret=new_secret(), events=_check_events(events))
    session.add(endpoint)
    session.flush()
    return endpoint


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise WebhookError(f"no webhook {endpoint_id}: `cos webhooks list SLUG` shows them")
    return endpoint


def endpoints(session: Session, coalition: Coalition) -> list[WebhookEndpoint]:
    return list(session.exec(select(WebhookEndpoint)
                             .where(WebhookEndpoint.coalition_id == coalition.id)
                             .order_by(col(WebhookEndpoint.id))))


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return endpoint.active and (not endpoint.events or event_type in endpoint.events.split(","))


def record_event(session: Session, coalition_id: int, event_type: str,
                 data: dict[str, Any], *, now: datetime | None = None) -> list[int]:
    """Write one message per interested endpoint to the log; the caller commits and queues.

    Returns the delivery ids (none when the coalition has no webhook for the event).
    """
    assert event_type in EVENTS, event_type
    now = now or utcnow()
    targets = [e for e in session.exec(select(WebhookEndpoint).where(
        WebhookEndpoint.coalition_id == coalition_id, col(WebhookEndpoint.active).is_(True)))
        if wants(e, event_type)]
    if not targets:
        return []
    body = json.dumps({"type": event_type, "timestamp": iso_utc(now), "data": data},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    rows = [WebhookDelivery(endpoint_id=e.id or 0, event_id=f"msg_{uuid.uuid4().hex}",
                            event_type=event_type, payload=body, next_attempt_at=now,
                            created_at=now) for e in targets]
    session.add_all(rows)
    session.flush()
    return [r.id or 0 for r in rows]


def signed_headers(endpoint: WebhookEndpoint, delivery: WebhookDelivery,
                   now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt (signed over the exact body sent)."""
    stamp = now.astimezone(UTC).replace(tzinfo=None)
    return {
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(delivery.event_id, stamp,
                                                           delivery.payload),
        "content-type": "application/json",
        "user-agent": "COS-Cadence-Webhooks/1",
    }


@dataclass
class Attempt:
    """What one delivery attempt did."""

    delivery_id: int
    status: str
    status_code: int | None = None
    error: str = ""
    retry_in: timedelta | None = None


def _post(url: str, body: str, headers: dict[str, str]) -> tuple[int | None, str]:
    try:
        answer = requests.post(url, data=body.encode(), headers=headers, timeout=TIMEOUT,
                               allow_redirects=False)
    except requests.RequestException as exc:
        return None, error_line(exc)[:500]
    if 200 <= answer.status_code < 300:
        return answer.status_code, ""
    return answer.status_code, f"HTTP {answer.status_code} {answer.reason or ''}".strip()


def attempt(session: Session, delivery_id: int, *, now: datetime | None = None) -> Attempt:
    """Try a pending message once and log the outcome (the caller chose the moment)."""
    now = now or utcnow()
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != Status.PENDING:
        return Attempt(delivery_id, delivery.status if delivery else "gone")
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.active:
        delivery.status, delivery.last_error = Status.FAILED, "the webhook was removed"
        session.add(delivery)
        return Attempt(delivery_id, delivery.status, error=delivery.last_error)
    code, problem = _post(endpoint.url, delivery.payload, signed_headers(endpoint, delivery, now))
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = code, problem
    result = Attempt(delivery_id, Status.DELIVERED, code, problem)
    if not problem:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            Status.DELIVERED, now, None)
    elif code == 410:  # the receiver says the URL is gone for good: stop sending to it
        endpoint.active, endpoint.disabled_reason = False, f"answered 410 Gone on {iso_utc(now)}"
        delivery.status, delivery.next_attempt_at = Status.FAILED, None
        session.add(endpoint)
        result.status = Status.FAILED
    elif delivery.attempts > len(RETRY_DELAYS):
        delivery.status, delivery.next_attempt_at = Status.FAILED, None
        result.status = Status.FAILED
    else:
        result.retry_in = RETRY_DELAYS[delivery.attempts - 1]
        delivery.next_attempt_at = now + result.retry_in
        result.status = Status.PENDING
    session.add(delivery)
    log.log(logging.WARNING if problem else logging.INFO,
            "webhook %s (%s) attempt %s: %s", delivery.event_id, delivery.event_type,
            delivery.attempts, problem or f"delivered, HTTP {code}")
    return result


def enqueue(settings: Settings, delivery_ids: Sequence[int],
            delay: timedelta | None = None) -> int:
    """Queue delivery jobs; raise QueueUnavailable when Redis is down (the log keeps them)."""
    if not delivery_ids:
        return 0
    try:
        q = queues.queue(queues.HOOK_QUEUE, queues.connect(settings))
        for delivery_id in delivery_ids:
            job_id = f"hook-{delivery_id}-{uuid.uuid4().hex[:8]}"
            if delay:
                q.enqueue_in(delay, deliver_job, delivery_id, job_id=job_id, result_ttl=60,
                             failure_ttl=7 * 86400)
            else:
                q.enqueue(deliver_job, delivery_id, job_id=job_id, result_ttl=60,
                          failure_ttl=7 * 86400)
    except (redis.exceptions.RedisError, OSError) as exc:
        raise queues.QueueUnavailable(f"Redis unreachable ({exc})") from exc
    return len(delivery_ids)


def queue_quietly(settings: Settings, delivery_ids: Sequence[int]) -> None:
    """Queue deliveries after a commit; with Redis down, the next reconcile sweep sends them."""
    try:
        enqueue(settings, delivery_ids)
    except queues.QueueUnavailable as exc:
        log.warning("%s webhook message(s) wait for the next reconcile: %s",
                    len(delivery_ids), exc)


def deliver_job(delivery_id: int) -> str:
    """Deliver one webhook message (RQ job); a failure schedules the next attempt."""
    settings = queues.current_settings()
    with session_scope(settings.database_url, pooled=False) as session:
        result = attempt(session, delivery_id)
    if result.retry_in is not None:
        queue_quietly_in(settings, delivery_id, result.retry_in)
    return f"{result.status} {result.error}".strip()


def queue_quietly_in(settings: Settings, delivery_id: int, delay: timedelta) -> None:
    try:
        enqueue(settings, [delivery_id], delay)
    except queues.QueueUnavailable as exc:
        log.warning("webhook %s: next attempt waits for the reconcile sweep: %s",
                    delivery_id, exc)


def due(session: Session, now: datetime | None = None) -> list[int]:
    """Pending messages whose attempt is due: the sweep re-queues them (jobs lost with Redis)."""
    now = now or utcnow()
    ids = session.exec(select(col(WebhookDelivery.id)).where(
        WebhookDelivery.status == Status.PENDING,
        col(WebhookDelivery.next_attempt_at) <= now - timedelta(minutes=1)))
    return [i for i in ids if i is not None]


def redeliver(session: Session, delivery_id: int) -> WebhookDelivery:
    """Make a failed (or delivered) message pending again, with the same webhook-id."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise WebhookError(f"no webhook message {delivery_id}: `cos webhooks log SLUG` "
                           "lists them")
    endpoint = get_endpoint(session, delivery.endpoint_id)
    if not endpoint.active:
        why = endpoint.disabled_reason or "removed"
        raise WebhookError(f"webhook {endpoint.id} is off ({why}): add the URL again with "
                           "`cos webhooks add` to send to it")
    delivery.status, delivery.attempts, delivery.next_attempt_at = Status.PENDING, 0, utcnow()
    session.add(delivery)
    session.flush()
    return delivery


def remove_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """Stop sending to an endpoint; its log is kept."""
    endpoint = get_endpoint(session, endpoint_id)
    endpoint.active, endpoint.disabled_reason = False, "removed by an admin"
    session.add(endpoint)
    for delivery in session.exec(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == Status.PENDING)):
        delivery.status, delivery.last_error = Status.FAILED, "the webhook was removed"
        session.add(delivery)
    session.flush()
    return endpoint


def delivery_log(session: Session, coalition: Coalition,
                 limit: int = 50) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
    """The latest messages of a coalition's webhooks, newest first."""
    rows = session.exec(select(WebhookDelivery, WebhookEndpoint).join(
        WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .where(WebhookEndpoint.coalition_id == coalition.id)
        .order_by(col(WebhookDelivery.id).desc()).limit(limit))
    return [(d, e) for d, e in rows]


def _readable_answers(session: Session, coalition_id: int, answers: dict[str, Any]
                      ) -> dict[str, Any]:
    """The answers with names instead of ids: commitments by text, readings by metric key."""
    commitment_ids = [int(k) for k in (answers.get("commitments") or {}) if str(k).isdigit()]
    metric_ids = [int(k) for k in (answers.get("readings") or {}) if str(k).isdigit()]
    texts = {c.id: c.text for c in session.exec(select(Commitment).where(
        col(Commitment.id).in_(commitment_ids)))} if commitment_ids else {}
    keys = {m.id: m.key for m in session.exec(select(Metric).where(
        col(Metric.id).in_(metric_ids)))} if metric_ids else {}
    helpers = [int(h) for h in answers.get("helped_by") or [] if str(h).isdigit()]
    orgs = {o.id: o.name for o in session.exec(select(Organisation).where(
        col(Organisation.id).in_(helpers), Organisation.coalition_id == coalition_id))
        } if helpers else {}
    return {
        "commitments": [
            {"text": texts.get(int(k), ""), "status": v.get("status", ""),
             "note": v.get("note", "")}
            for k, v in (answers.get("commitments") or {}).items()
            if str(k).isdigit() and isinstance(v, dict)],
        "readings": {keys[int(k)]: v for k, v in (answers.get("readings") or {}).items()
                     if str(k).isdigit() and int(k) in keys},
        "new_commitment": answers.get("new_commitment") or None,
        "win": answers.get("win") or None,
        "blocker": answers.get("blocker") or None,
        "help_wanted": bool(answers.get("help_wanted")),
        "pulse": answers.get("pulse"),
        "helped_by": [orgs[h] for h in helpers if h in orgs],
    }


# The active endpoints of a round's coalition (built once: every answer asks).
_ROUND_ENDPOINTS = (
    select(WebhookEndpoint)
    .join(Round, col(Round.coalition_id) == col(WebhookEndpoint.coalition_id))
    .where(col(Round.id) == bindparam("round"), col(WebhookEndpoint.active).is_(True)))


def listening(session: Session, round_id: int) -> bool:
    """Say whether the round's coalition has an active webhook at all (most have none): the
    partner's POST asks before its writing transaction, which then stays shorter."""
    return session.exec(_ROUND_ENDPOINTS, params={"round": round_id}).first() is not None


def announce_answer(session: Session, response: Response) -> list[int]:
    """Log answer.created (a first answer) or answer.updated (an edit) for the webhooks."""
    event = "answer.created" if response.revision == 1 else "answer.updated"
    # Most coalitions have no webhook: one statement says so, before the message is composed.
    if not any(wants(e, event) for e in session.exec(_ROUND_ENDPOINTS,
                                                      params={"round": response.round_id})):
        return []
    round_ = session.get(Round, response.round_id)
    person = session.get(Person, response.person_id)
    if round_ is None or person is None:
        return []
    coalition = session.get(Coalition, round_.coalition_id)
    organisation = session.get(Organisation, person.organisation_id)
    data = {
        "coalition": coalition.slug if coalition else "",
        "round": round_.number,
        "person": {"name": person.name, "email": person.email},
        "organisation": organisation.name if organisation else "",
        "revision": response.revision,
        "submitted_at": iso_utc(response.submitted_at),
        "answers": _readable_answers(session, round_.coalition_id, response.answers),
    }
    return record_event(session, round_.coalition_id, event, data)


def announce_round_closed(session: Session, round_id: int, *, invited: int,
                          answered: int) -> list[int]:
    """Log round.closed for the webhooks (the caller calls it once, when the round closes)."""
    round_ = session.get(Round, round_id)
    if round_ is None:
        return []
    coalition = session.get(Coalition, round_.coalition_id)
    data = {
        "coalition": coalition.slug if coalition else "",
        "round": round_.number,
        "opened_at": iso_utc(round_.opened_at),
        "closed_at": iso_utc(round_.closed_at or utcnow()),
        "invited": invited,
        "answered": answered,
    }
    return record_event(session, round_.coalition_id, "round.closed", data)
