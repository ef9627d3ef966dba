"""Sending one ledger row's email: claim it, build it, hand it to the transport, record it."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from sqlalchemy import select as core_select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from emails import (
    Backend,
    DeliveryError,
    SMTPBackend,
    SMTPConnection,
    backend_from_url,
    build_message,
    list_id,
    render_email,
    reused_connection,
)
from emails.message import header_text
from emails.transport import make_ready
from pipeline import ledger, recipients
from pipeline.config import Settings
from pipeline.core.vocab import DeliveryStatus, Role
from pipeline.db import get_engine, session_scope
from pipeline.email_kinds import BATCH_MEMO, batch_get, builder_for, keep_in_batch, memoised
from pipeline.ledger import LedgerRow, Outcome
from pipeline.models import Coalition, Delivery, Invitation, Organisation, Person, Round
from pipeline.ratelimit import wait_for_slot

log = logging.getLogger(__name__)


def compose(session: Session, settings: Settings, delivery: LedgerRow) -> EmailMessage:
    """Render the email a ledger row stands for, with the builder registered for its kind."""
    round_ = batch_get(session, Round, delivery.round_id)
    person = batch_get(session, Person, delivery.person_id)
    assert round_ is not None and person is not None
    coalition = batch_get(session, Coalition, round_.coalition_id)
    assert coalition is not None
    context = builder_for(delivery.kind)(session, settings, round_, coalition, person)
    contact = memoised(session, ("contact", coalition.id), lambda: contact_for(session, coalition))
    headers = {"Auto-Submitted": "auto-generated",
               "List-Id": list_id(coalition.name, coalition.slug, settings.mail_domain)}
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


# Rows claimed and sent together. Each sent row is recorded as soon as the server accepts it
# (`_recording_each_send`), so a crash mid-chunk leaves in `sending` the one email in flight
# (the documented duplicate window) and the rows not tried yet; both are sent again once their
# claim is seen to be abandoned.
CLAIM_CHUNK = 100
FIRST_CHUNK = 4
# The chunks grow to CLAIM_CHUNK: a small first one so the first email leaves at once, then
# bigger ones (fewer statements per email) once the server is busy with the first.
RAMP = (FIRST_CHUNK, 20)


@dataclass
class _Row:
    """One claimed row on its way: its message, then what became of it."""

    delivery_id: int
    message: EmailMessage | None = None
    status: DeliveryStatus | None = None
    error: str = ""
    exc: BaseException | None = None
    tried: bool = False  # handed to the transport
    round_id: int = 0
    held: str = ""  # its round is paused: put back in the queue, untried
    smtp_reply: str = ""
    recorded: bool = False  # its outcome is in the ledger already


def send_batch(settings: Settings, delivery_ids: Iterable[int], *, pooled: bool = True,
               backend: Backend | None = None) -> list[Outcome]:
    """Send many ledger rows over a few reused connections; return each row's outcome, in order.

    Rows are claimed CLAIM_CHUNK at a time in one statement (claim before send, as for one
    row), built, sent over COS_MAIL_CONNECTIONS reused SMTP connections (each taking every
    n-th row of a chunk), and their outcomes recorded in one transaction per chunk (each sent
    row at once, as the server accepts it). One row's failure (a refused address, an email
    that cannot be built) is recorded for that row and the batch goes on. When the server
    cannot be reached at all, the chunk's remaining rows are recorded as failed with the same
    reason and the rows after it are left as they were, for the retry. Temporary failures
    come back as "failed".
    """
    return [outcome for outcome, _ in _send_rows(settings, list(delivery_ids), pooled=pooled,
                                                 backend=backend)]


def send_delivery(settings: Settings, delivery_id: int, *, pooled: bool = True,
                  backend: Backend | None = None) -> Outcome:
    """Send one ledger row's email unless it was sent or is being sent; return what happened.

    The claim is committed before the send, so two workers (or a job run twice) cannot both
    send it. A temporary failure is recorded and raised, for RQ to retry.
    """
    [(outcome, exc)] = _send_rows(settings, [delivery_id], pooled=pooled, backend=backend)
    if exc is not None:
        raise exc
    return outcome


def _send_rows(settings: Settings, delivery_ids: list[int], *, pooled: bool,
               backend: Backend | None) -> list[tuple[Outcome, BaseException | None]]:
    """Send the rows; return each one's outcome and, for a temporary failure, its error."""
    backend = backend or backend_from_url(settings.mail_url)  # a bad URL fails before a claim
    asked, delivery_ids = delivery_ids, list(dict.fromkeys(delivery_ids))  # each row once
    results: dict[int, tuple[Outcome, BaseException | None]] = {}
    unreachable: DeliveryError | None = None
    # The SMTP exchange of one chunk runs in sender threads, one per connection, while the
    # next chunk is claimed and built here, so building and the server's round trips overlap.
    # Each connection waits for the server's reply to its message while the others' messages
    # keep the server busy. A sender thread writes each row down as soon as the server accepts
    # it, so a crash can send again only the emails in flight, one per connection (the
    # duplicate window); the chunk claimed and built meanwhile was not handed over, and its
    # claims are taken over after the crash.
    in_flight: tuple[list[_Row], list[Future[DeliveryError | None]]] | None = None
    connections = settings.mail_connections if isinstance(backend, SMTPBackend) else 1

    def finish() -> None:
        nonlocal in_flight, unreachable
        if in_flight is None:
            return
        rows, futures = in_flight
        in_flight = None
        wait(futures)  # every connection's part is over before the chunk is written down
        try:
            for future in futures:
                unreachable = future.result() or unreachable
        finally:  # whatever happened, what was sent is written down
            _record_rows_patiently(settings, pooled, rows, via)
        for row in rows:
            results[row.delivery_id] = _outcome(row)

    with _short_turns(), ExitStack() as stack, ThreadPoolExecutor(
            connections, thread_name_prefix="cos-smtp") as pool, \
            session_scope(settings.database_url, pooled=pooled, read_only=True) as reader:
        senders = [stack.enter_context(reused_connection(backend)) for _ in range(connections)]
        via = senders[0].describe()
        try:
            for chunk in _chunks(delivery_ids):
                if unreachable is not None:
                    for delivery_id in chunk:
                        results[delivery_id] = (
                            Outcome(DeliveryStatus.FAILED, str(unreachable)), unreachable)
                    continue
                with session_scope(settings.database_url, pooled=pooled) as session:
                    claimed = ledger.claim_many(session, chunk)
                rows = [_Row(d) for d in claimed]
                for delivery_id in chunk:
                    results[delivery_id] = (Outcome("skipped", "already sent or being sent"),
                                            None)
                try:
                    _build(reader, settings, rows,
                           ready=isinstance(senders[0], SMTPConnection))
                    finish()  # the previous chunk's exchange, while this one was built
                except BaseException:
                    _record_rows_patiently(settings, pooled, rows, via)
                    raise
                if unreachable is not None:  # found by the previous chunk: none of these tried
                    for row in rows:
                        if row.message is not None:
                            row.status, row.error = DeliveryStatus.FAILED, str(unreachable)
                            row.exc, row.message = unreachable, None
                    _record_rows_patiently(settings, pooled, rows, via)
                    for row in rows:
                        results[row.delivery_id] = _outcome(row)
                    continue
                # Every connection takes every n-th row of the chunk.
                in_flight = (rows, [
                    pool.submit(_send_and_record, settings, pooled, sender, rows[n::connections])
                    for n, sender in enumerate(senders) if rows[n::connections]])
        finally:
            finish()
    return [results[d] for d in asked]


# How long a thread may hold the interpreter while another waits for it, during a batch. The
# sender thread mostly waits for the server; with Python's default turn (5 ms) each reply
# then waits for the building thread to let go, and the server idles meanwhile. Shorter turns
# let the sender answer at once (bench/fanout.py: 357 -> 440 msg/s at 10,000 people).
GIL_TURN = 0.0005


@contextmanager
def _short_turns() -> Iterator[None]:
    """Shorten the interpreter's thread switch interval to GIL_TURN for the block."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, GIL_TURN))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _chunks(delivery_ids: list[int]) -> list[list[int]]:
    """Cut the rows into claim chunks: a small first one, so the first email leaves at once
    (a coalition of ten feels instant), a bigger one, then CLAIM_CHUNK rows each."""
    chunks, start = [], 0
    for size in RAMP:
        if start < len(delivery_ids):
            chunks.append(delivery_ids[start:start + size])
            start += size
    return chunks + [delivery_ids[i:i + CLAIM_CHUNK]
                     for i in range(start, len(delivery_ids), CLAIM_CHUNK)]


def _build(session: Session, settings: Settings, rows: list[_Row], *,
           ready: bool = False) -> None:
    """Compose each claimed row's email, or say why it will not be sent; with `ready`, also
    prepare it for the SMTP connection (emails.transport.make_ready)."""
    # The columns deciding and composing read, without an ORM object per row.
    deliveries = {d.id: d for d in (_Ledgered(*values) for values in session.execute(
        core_select(col(Delivery.id), col(Delivery.round_id), col(Delivery.person_id),
                    col(Delivery.kind), col(Delivery.created_at))
        .where(col(Delivery.id).in_([r.delivery_id for r in rows]))))}
    _prefetch(session, list(deliveries.values()))
    # Pauses are read afresh for each chunk: a round may pause itself halfway through a batch.
    with session_scope(settings.database_url, read_only=True) as fresh:
        firsts = {d.round_id: d for d in deliveries.values()}  # the hold is per round
        holds = {round_id: recipients.reason_to_hold(fresh, d) for round_id, d in firsts.items()}
    for row in rows:
        delivery = deliveries[row.delivery_id]
        row.round_id = delivery.round_id
        if stale := ledger.reason_not_to_send(session, delivery):
            row.status, row.error = DeliveryStatus.EXPIRED, f"not sent: {stale}"
            continue
        if why := recipients.reason_to_withhold(session, delivery):
            row.status, row.error = DeliveryStatus.WITHHELD, f"not sent: {why}"
            continue
        if hold := holds.get(delivery.round_id):
            row.held = hold
            continue
        try:
            row.message = compose(session, settings, delivery)
            if ready:
                make_ready(row.message)
        except Exception as exc:  # one email that cannot be built stops no other
            log.exception("delivery %s: could not build the email", row.delivery_id)
            row.status, row.error = DeliveryStatus.FAILED, f"could not build the email: {exc}"
            row.exc = exc


@dataclass(frozen=True)
class _Ledgered:
    """The columns of a ledger row that deciding and composing read (a LedgerRow)."""

    id: int
    round_id: int
    person_id: int
    kind: str
    created_at: datetime


def _prefetch(session: Session, deliveries: list[_Ledgered]) -> None:
    """Load what the chunk's emails need in a few queries and keep it in the batch's memo
    (for batch_get; the memo's references also keep the rows in the session's identity map).
    Only the chunk's people's organisations are loaded, and the leads' (not the coalition's
    every organisation for every chunk: that grew with the square of the coalition)."""
    memo = session.info.setdefault(BATCH_MEMO, {})
    people = session.exec(select(Person).where(
        col(Person.id).in_({d.person_id for d in deliveries}))).all()
    rounds = session.exec(select(Round).where(
        col(Round.id).in_({d.round_id for d in deliveries}))).all()
    coalitions = session.exec(select(Coalition).where(
        col(Coalition.id).in_({r.coalition_id for r in rounds}))).all()
    wanted = ({p.organisation_id for p in people}
              | {c.lead_organisation_id for c in coalitions}) - {None}
    organisations = session.exec(select(Organisation).where(col(Organisation.id).in_(
        [i for i in wanted if (Organisation, i) not in memo]))).all()
    keep_in_batch(session, [*people, *rounds, *coalitions, *organisations])
    for invitation in session.exec(select(Invitation).where(
            col(Invitation.round_id).in_({r.id for r in rounds}),
            col(Invitation.person_id).in_({p.id for p in people}))):
        memo[("invitation", invitation.round_id, invitation.person_id)] = invitation


def _hand_over(settings: Settings, sender: Any, rows: list[_Row],
               on_sent: Callable[[_Row], None]) -> DeliveryError | None:
    """Send each built message; return the error if the server could not be reached at all
    (the rest of the rows then get that error without being tried)."""
    # The next message's envelope may go out behind this one's content (SMTP PIPELINING):
    # not under a rate limit, where the wait for a slot would leave the server waiting.
    announce = isinstance(sender, SMTPConnection) and settings.mail_rate <= 0
    for index, row in enumerate(rows):
        if row.message is None:
            continue
        row.tried = True
        try:
            wait_for_slot(settings)
            if announce:
                then = next((r.message for r in rows[index + 1:] if r.message is not None), None)
                sender.send(row.message, then=then)
            else:
                sender.send(row.message)
        except DeliveryError as exc:
            # A permanent refusal (a 5xx) is not worth retrying: "rejected"; a refused address
            # bounced, and is suppressed.
            row.status = (DeliveryStatus.FAILED if exc.temporary else DeliveryStatus.BOUNCED
                          if exc.recipient_refused else DeliveryStatus.REJECTED)
            row.error, row.exc = str(exc), exc if exc.temporary else None
            row.smtp_reply = exc.reply
            log.warning("delivery %s %s: %s", row.delivery_id,
                        "failed, will retry" if exc.temporary else "refused", exc)
            if exc.unreachable:
                for rest in rows[index + 1:]:
                    if rest.message is not None:
                        rest.status, rest.error, rest.exc = DeliveryStatus.FAILED, str(exc), exc
                        rest.message = None
                return exc
            continue
        row.status = DeliveryStatus.SENT
        row.smtp_reply = str(getattr(sender, "last_reply", ""))
        on_sent(row)
    return None


def _send_and_record(settings: Settings, pooled: bool, sender: Any,
                     rows: list[_Row]) -> DeliveryError | None:
    """Hand a chunk to the server, writing each accepted row down at once (sender thread)."""
    with _recording_each_send(settings, pooled, sender.describe()) as on_sent:
        return _hand_over(settings, sender, rows, on_sent)


@contextmanager
def _recording_each_send(settings: Settings, pooled: bool,
                         via: str) -> Iterator[Callable[[_Row], None]]:
    """Give a function that writes down a row the server accepted, at once, in its own short
    transaction (one connection for the chunk, no lock held between sends): a crash after
    the server's acceptance and before this commit is the only way an email goes out twice.

    Each record is one UPDATE (the round's failure count is reset with the first sent row of
    each round in the chunk: the chunk's failures are recorded after its sent rows). Its commit
    does not wait for the disk (SQLite synchronous=NORMAL, PostgreSQL synchronous_commit off):
    it survives a crash of this process, and the next claim's commit, which waits, makes it
    durable; only a power cut of the database machine in between could forget it."""
    engine = get_engine(settings.database_url, pooled=pooled)
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        driver: Any = connection.connection.driver_connection
        if sqlite:  # on the driver's connection: outside any transaction
            driver.execute("PRAGMA synchronous=NORMAL")
        reset: set[int] = set()

        def on_sent(row: _Row) -> None:
            assert row.message is not None
            # A failure here propagates: the chunk's record tries again, then stops the batch.
            with connection.begin():
                if not sqlite:
                    connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                ledger.record_sent(connection, row.delivery_id,
                                   message_id=header_text(row.message, "Message-ID"),
                                   via=via, smtp_reply=row.smtp_reply,
                                   reset_round=None if row.round_id in reset else row.round_id)
            reset.add(row.round_id)
            row.recorded = True

        try:
            yield on_sent
        finally:
            if sqlite:  # the connection may go back to a pool: as every other one is
                driver.execute("PRAGMA synchronous=FULL")


# How long to keep trying to write down a chunk whose emails the server accepted, while the
# database is locked or away: a record lost there sends those emails again, so waiting out a
# long lock (a backup, a big merge, an admin's open transaction) beats giving up after a few
# busy timeouts.
RECORD_PATIENCE = 120.0


def _record_rows_patiently(settings: Settings, pooled: bool, rows: list[_Row],
                           via: str) -> None:
    """Record the chunk's rows; while the database is locked or unreachable and some row
    was accepted by the server but not recorded yet, keep trying for RECORD_PATIENCE seconds
    before giving up."""
    deadline = time.monotonic() + RECORD_PATIENCE
    attempt = 0
    while True:
        attempt += 1
        try:
            _record_rows(settings, pooled, rows, via)
            return
        except OperationalError as exc:
            unrecorded = any(r.status == DeliveryStatus.SENT and not r.recorded for r in rows)
            if not unrecorded or time.monotonic() >= deadline:
                raise
            log.warning("recording sent emails failed (%s); trying again", exc)
            time.sleep(min(attempt, 5))


def _record_rows(settings: Settings, pooled: bool, rows: list[_Row], via: str) -> None:
    """Write down what became of a chunk's rows, in one transaction."""
    done = [r for r in rows if r.status is not None and not r.recorded]
    held = [r for r in rows if r.status is None and r.held]
    if not (done or held):
        return
    paused: set[int] = set()
    with session_scope(settings.database_url, pooled=pooled) as session:
        # Held in a variable: the session's identity map keeps rows only while something refers
        # to them, and ledger.record's session.get then finds each without a query.
        loaded = session.exec(select(Delivery).where(  # noqa: F841
            col(Delivery.id).in_([r.delivery_id for r in done]))).all()
        reset: set[int] = set()  # rounds whose failures-in-a-row count was reset, no failure since
        for row in done:
            assert row.status is not None
            message_id = ""
            sent = row.status == DeliveryStatus.SENT
            if sent and row.message is not None:
                message_id = header_text(row.message, "Message-ID")
            if ledger.record(session, row.delivery_id, row.status, row.error,
                             message_id=message_id, via=via if row.tried else "",
                             smtp_reply=row.smtp_reply,
                             count_failures=not (sent and row.round_id in reset)):
                paused.add(row.round_id)
            if sent:
                reset.add(row.round_id)
            else:
                reset.discard(row.round_id)
        for row in held:
            ledger.release(session, row.delivery_id, row.held)
    for row in done:
        row.recorded = True
    for round_id in paused:
        from pipeline.lifecycle import round_paused  # it needs rounds, which need us

        round_paused(settings, round_id)


def _outcome(row: _Row) -> tuple[Outcome, BaseException | None]:
    if row.status == DeliveryStatus.SENT and row.message is not None:
        return Outcome(DeliveryStatus.SENT, header_text(row.message, "To")), None
    if row.status is None and row.held:
        return Outcome("held", row.held), None
    if row.status is None:  # claimed, never tried: the batch stopped before it
        return Outcome(DeliveryStatus.FAILED, "not tried"), None
    return Outcome(row.status, row.error.removeprefix("not sent: ")), row.exc


def send_in_process(settings: Settings, delivery_ids: Iterable[int]) -> list[Outcome]:
    """Send ledger rows in this process (no worker, no retries), a chunk at a time over one
    connection; the ids are read as they are sent, so a progress bar over them moves."""
    outcomes: list[Outcome] = []
    chunk: list[int] = []
    for delivery_id in delivery_ids:
        chunk.append(delivery_id)
        if len(chunk) == CLAIM_CHUNK:
            outcomes.extend(send_batch(settings, chunk))
            chunk = []
    if chunk:
        outcomes.extend(send_batch(settings, chunk))
    return outcomes

