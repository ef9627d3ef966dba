"""A round's life and the partners' say: pause, resume, cancel, failures that pause a round,
bounces and suppression, "not this week", unsubscribe, and the shared send rate."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import lxml.html
import redis
from sqlmodel import Session, select

from pipeline.coalitions import load_coalition
from pipeline.config import Settings
from pipeline.core.vocab import DeliveryStatus
from pipeline.db import session_scope
from pipeline.models import Delivery, Person, Round
from pipeline.ratelimit import take
from pipeline.sending import send_in_process
from tests.helpers import DATA, cos, link_for, open_round


def load_with(settings: Settings, tmp_path: Path, replace: dict[str, str],
              extra: str = "") -> None:
    text = (DATA / "harbour.toml").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "harbour.toml"
    path.write_text(text + extra)
    with session_scope(settings.database_url) as session:
        load_coalition(session, path)


def statuses(session: Session) -> dict[str, str]:
    session.expire_all()
    return {p.email: d.status for d, p in session.exec(
        select(Delivery, Person).join(Person, Person.id == Delivery.person_id))}


def test_a_paused_round_holds_its_mail_and_resuming_sends_it(
        settings: Settings, session: Session, smtp_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    load_with(settings, tmp_path, {})
    round_id, deliveries = open_round(settings)
    paused = cos(settings, "campaign", "pause", str(round_id))
    assert paused.exit_code == 0, paused.output
    outcomes = send_in_process(settings, deliveries)
    assert {o.status for o in outcomes} == {"held"}
    assert smtp_server.messages == []
    assert set(statuses(session).values()) == {DeliveryStatus.QUEUED}
    status = cos(settings, "campaign", "status", str(round_id))
    assert "open until" in status.stdout.splitlines()[0]
    assert status.stdout.splitlines()[0].endswith("(paused: paused by an admin)")

    resumed = cos(settings, "campaign", "resume", str(round_id))
    assert resumed.exit_code == 0, resumed.output
    assert "4 waiting emails queued" in resumed.stdout
    from tests.helpers import work

    work(settings)
    assert len(smtp_server.wait_for(4)) == 4
    assert "open until" in cos(settings, "campaign", "status", str(round_id)).stdout


def test_a_cancelled_round_sends_nothing_more_and_its_links_stop_working(
        settings: Settings, session: Session, smtp_server, app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    load_with(settings, tmp_path, {})
    round_id, deliveries = open_round(settings)
    link = link_for(settings, session, "raj@schools.example", round_id)
    cancelled = cos(settings, "campaign", "cancel", str(round_id))
    assert cancelled.exit_code == 0, cancelled.output
    assert "4 emails not sent" in cancelled.stdout
    send_in_process(settings, deliveries)
    assert smtp_server.messages == []
    assert set(statuses(session).values()) == {DeliveryStatus.WITHHELD}
    assert app.test_client().get(link).status_code == 410
    assert "cancelled" in cos(settings, "campaign", "status", str(round_id)).stdout


def test_a_round_pauses_itself_after_failures_in_a_row_and_tells_the_admins(
        settings: Settings, session: Session, smtp_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The server answers 451 to every "defer" address: three partners cannot be reached.
    load_with(settings, tmp_path, {"raj@": "raj.defer@", "kim@": "kim.defer@",
                                   "dee@": "dee.defer@"},
              '[cadence]\nopen = "Tuesday 09:00"\npause_after_failures = 2\n')
    round_id, deliveries = open_round(settings)
    outcomes = send_in_process(settings, deliveries)
    # The pause takes effect from the next chunk the senders claim.
    assert [o.status for o in outcomes] == ["sent", "failed", "failed", "failed"]
    round_ = session.get(Round, round_id)
    assert round_ is not None and round_.paused_at is not None
    with session_scope(settings.database_url) as s:
        for row in s.exec(select(Delivery)):
            row.retry_at = None
    assert {o.status for o in send_in_process(settings, deliveries[1:])} == {"held"}
    assert round_.pause_reason == "paused itself after 2 delivery failures in a row"
    messages = smtp_server.wait_for(2)
    notice = messages[-1]
    assert notice.rcpt_tos == ["lee@harbourtrust.org"]
    assert "Round 1 paused itself" in str(notice.message["Subject"])
    body = notice.message.get_body(preferencelist=("plain",)).get_content()
    words = " ".join(body.split())  # the text part is wrapped at 78 columns
    assert f"cos campaign resume {round_id}" in words and "451" in words
    assert notice.message.get_body(preferencelist=("html",)) is not None


def test_a_refused_address_bounces_is_suppressed_and_restored_by_an_admin(
        settings: Settings, session: Session, smtp_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    load_with(settings, tmp_path, {"raj@schools.example": "raj.reject@schools.example"})
    round_id, deliveries = open_round(settings)
    send_in_process(settings, deliveries)
    assert statuses(session)["raj.reject@schools.example"] == DeliveryStatus.BOUNCED
    session.expire_all()
    raj = session.exec(select(Person).where(Person.email == "raj.reject@schools.example")).one()
    assert raj.suppressed_at is not None and raj.suppressed_reason.startswith("550 5.1.1")
    delivery = session.exec(select(Delivery).where(Delivery.person_id == raj.id)).one()
    assert delivery.smtp_reply.startswith("550 5.1.1")
    accepted = session.exec(select(Delivery).join(Person, Person.id == Delivery.person_id)
                            .where(Person.email == "dee@clinic.example")).one()
    assert accepted.smtp_reply == "250 2.0.0 Message accepted for delivery"
    status = cos(settings, "campaign", "status", str(round_id))
    assert "bounced 1" in status.stdout.splitlines()[1]
    assert "bounced: address suppressed" in status.stdout

    # Even asked to send again, a suppressed address gets nothing.
    with session_scope(settings.database_url) as s:
        row = s.get(Delivery, delivery.id)
        assert row is not None
        row.status = DeliveryStatus.QUEUED
    smtp_server.clear()
    [outcome] = send_in_process(settings, [delivery.id or 0])
    assert outcome.status == DeliveryStatus.WITHHELD and "bounced" in outcome.detail
    assert smtp_server.messages == []

    restored = cos(settings, "people", "restore", "RAJ.reject@schools.example")
    assert restored.exit_code == 0, restored.output
    session.expire_all()
    assert session.get(Person, raj.id).suppressed_at is None  # type: ignore[union-attr]
    again = cos(settings, "people", "restore", "raj.reject@schools.example")
    assert again.exit_code == 1 and "is not suppressed" in again.stderr


def test_every_recurring_email_carries_one_click_unsubscribe_that_works_without_cookies(
        settings: Settings, session: Session, smtp_server, app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    load_with(settings, tmp_path, {})
    round_id, deliveries = open_round(settings)
    send_in_process(settings, deliveries)
    received = {m.rcpt_tos[0]: m for m in smtp_server.wait_for(4)}
    message = received["kim@cyclists.example"].message
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https_link, mailto = (part.strip(" <>") for part in
                          str(message["List-Unsubscribe"]).split(","))
    assert https_link.startswith(settings.base_url + "/u/")
    assert mailto.startswith("mailto:cos@cadence.test?subject=unsubscribe")
    assert https_link in message.get_body(preferencelist=("plain",)).get_content()
    path = https_link.removeprefix(settings.base_url)

    client = app.test_client()
    page = client.get(path)  # a mail scanner, or the person reading first
    assert page.status_code == 200 and b"Unsubscribe me" in page.data
    session.expire_all()
    kim = session.exec(select(Person).where(Person.email == "kim@cyclists.example")).one()
    assert kim.opted_out_at is None
    smtp_server.clear()
    fresh = app.test_client()  # no cookie, no CSRF token: what a mail program sends
    done = fresh.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"unsubscribed" in done.data
    session.expire_all()
    assert session.get(Person, kim.id).opted_out_at is not None  # type: ignore[union-attr]
    # The leads hear that a partner left the table, from a worker (not the request).
    assert smtp_server.messages == []
    from tests.helpers import work

    work(settings)
    [notice] = smtp_server.wait_for(1)
    assert notice.rcpt_tos == ["lee@harbourtrust.org"]
    assert "Kim O'Neil opted out" in str(notice.message["Subject"])
    assert fresh.post(path + "x").status_code == 404
    # Someone reading the page first: GET shows the button, pressing it opts them out.
    dee_link = [m for m in received.values() if m.rcpt_tos == ["dee@clinic.example"]][0]
    dee_path = str(dee_link.message["List-Unsubscribe"]).split(",")[0].strip(" <>") \
        .removeprefix(settings.base_url)
    page = client.get(dee_path)
    form = lxml.html.fromstring(page.get_data(as_text=True)).forms[0]
    assert form.action in (dee_path, None, "") and form.method.lower() == "post"
    assert client.post(dee_path, data=dict(form.fields)).status_code == 200
    session.expire_all()
    dee = session.exec(select(Person).where(Person.email == "dee@clinic.example")).one()
    assert dee.opted_out_at is not None
    assert "opted out 2" in cos(settings, "campaign", "status", str(round_id)).stdout


def test_not_this_week_is_confirmed_by_a_post_and_then_the_person_is_not_silent(
        settings: Settings, session: Session, app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    load_with(settings, tmp_path, {})
    round_id, _ = open_round(settings)
    link = link_for(settings, session, "dee@clinic.example", round_id) + "/not-this-week"
    client = app.test_client()
    page = client.get(link)
    assert page.status_code == 200 and b"Nothing to report this week" in page.data
    status = cos(settings, "campaign", "status", str(round_id))
    assert "silent 4" in status.stdout.splitlines()[1]
    token = lxml.html.fromstring(page.get_data(as_text=True)).forms[0].fields["csrf_token"]
    assert client.post(link, data={}).status_code == 200  # no token: the page again
    status = cos(settings, "campaign", "status", str(round_id))
    assert "silent 4" in status.stdout.splitlines()[1]
    done = client.post(link, data={"csrf_token": token})
    assert done.status_code == 200 and b"No more reminders this round" in done.data
    status = cos(settings, "campaign", "status", str(round_id))
    assert "silent 3, not this week 1" in status.stdout.splitlines()[1]
    from pipeline.recipients import reminder_recipients

    with session_scope(settings.database_url, read_only=True) as s:
        people = {s.get(Person, p).email for p in reminder_recipients(s, round_id)}  # type: ignore[union-attr]
    assert "dee@clinic.example" not in people and len(people) == 3


def _take_slots(url: str, limit: int, now: float, tries: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    conn = redis.Redis.from_url(url)
    out.put(sum(1 for _ in range(tries) if take(conn, limit, now) == 0))


def test_the_send_rate_is_shared_by_every_sender_through_redis(
        redis_url: str, redis_conn: redis.Redis) -> None:
    now = 1_800_000_030.0  # half a minute into a minute: a controllable clock
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    senders = [multiprocessing.Process(target=_take_slots, args=(redis_url, 25, now, 40, out))
               for _ in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=60)
    granted = [out.get(timeout=5) for _ in senders]
    assert sum(granted) == 25  # of 80 tries by two processes in one minute
    assert take(redis_conn, 25, now) == 30.0  # the rest wait for the next minute
    assert take(redis_conn, 25, now + 30) == 0.0


def test_an_admin_can_opt_someone_out_by_address(
        settings: Settings, session: Session, smtp_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    load_with(settings, tmp_path, {})
    result = cos(settings, "people", "opt-out", "Raj@Schools.example")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Raj Patel <raj@schools.example>: opted out"
    assert "had already opted out" in cos(settings, "people", "opt-out",
                                          "raj@schools.example").stdout
    assert cos(settings, "people", "opt-out", "nobody@example.org").exit_code == 1
    [notice] = smtp_server.wait_for(1)
    assert "Raj Patel opted out" in str(notice.message["Subject"])
