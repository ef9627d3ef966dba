"""The scheduler's tick on a controllable clock: each step once, catch-up, DST, two schedulers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from pipeline.coalitions import load_coalition
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.models import Coalition, Delivery, Invitation, Person, Round, SchedulerStep, utcnow
from pipeline.scheduler import tick
from tests.helpers import DATA, work

NY = ZoneInfo("America/New_York")
WEEKLY = """
[cadence]
open = "Tuesday 09:00"
close = "Friday 17:00"
reminders = ["48h", "24h"]
digest_after = "1h"
"""


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)  # type: ignore[misc]


def load_weekly(settings: Settings, tmp_path: Path, cadence: str = WEEKLY,
                since: datetime | None = None, source: str = "harbour.toml") -> None:
    path = tmp_path / "coalition.toml"
    path.write_text((DATA / source).read_text() + cadence)
    with session_scope(settings.database_url) as session:
        load_coalition(session, path)
        coalition = session.exec(select(Coalition)).one()
        coalition.cadence_since = since or ny(2026, 11, 30, 0)  # the Monday before
        session.add(coalition)


def steps(session: Session) -> list[str]:
    session.expire_all()
    return sorted(f"{s.period_key}:{s.kind}:{s.outcome}" for s in session.exec(
        select(SchedulerStep)))


def rounds(session: Session) -> list[Round]:
    session.expire_all()
    return list(session.exec(select(Round).order_by(col(Round.number))))


def test_a_tick_at_the_open_opens_the_round_and_a_second_tick_does_nothing_again(
        db_settings: Settings, tmp_path: Path, session: Session) -> None:
    load_weekly(db_settings, tmp_path)
    assert tick(db_settings, ny(2026, 12, 1, 8, 59)).done == []
    first = tick(db_settings, ny(2026, 12, 1, 9, 0))
    assert [line.split(":", 2)[:2] for line in first.done] == [["harbour-air 2026-W49", "open"]]
    again = tick(db_settings, ny(2026, 12, 1, 9, 0))
    assert again.done == [] and again.failed == []
    [opened] = rounds(session)
    assert opened.period_key == "2026-W49"
    assert opened.closes_at == ny(2026, 12, 4, 17)
    assert len(session.exec(select(Delivery)).all()) == 4  # one invitation per partner
    # Asked again for the whole past, a tick still finds every step claimed.
    with session_scope(db_settings.database_url) as s:
        s.exec(select(Coalition)).one().scheduled_through = None
    assert tick(db_settings, ny(2026, 12, 1, 9, 30)).done == []
    assert steps(session) == ["2026-W49:open:done"]


def test_reminders_go_only_to_partners_who_are_silent_and_reachable(
        settings: Settings, tmp_path: Path, session: Session, smtp_server) -> None:  # type: ignore[no-untyped-def]
    load_weekly(settings, tmp_path)
    tick(settings, ny(2026, 12, 1, 9))
    work(settings)
    assert len(smtp_server.wait_for(4)) == 4
    smtp_server.clear()
    [round_] = rounds(session)
    with session_scope(settings.database_url) as s:
        people = {p.email: p for p in s.exec(select(Person))}
        from pipeline.models import Response

        s.add(Response(invitation_id=s.exec(select(Invitation).where(
            Invitation.person_id == people["ana@harbourtrust.org"].id)).one().id or 0,
            round_id=round_.id or 0, person_id=people["ana@harbourtrust.org"].id or 0,
            revision=1, answers={}))
        invitation = s.exec(select(Invitation).where(
            Invitation.person_id == people["raj@schools.example"].id)).one()
        invitation.not_this_week_at = utcnow()
        people["kim@cyclists.example"].opted_out_at = utcnow()
    report = tick(settings, ny(2026, 12, 2, 17, 1))
    assert any("reminder 1 of round 1 to 1 silent person" in d for d in report.done), report
    work(settings)
    [reminder] = smtp_server.wait_for(1)
    assert reminder.rcpt_tos == ["dee@clinic.example"]
    assert "reminder, Round 1 closes" in str(reminder.message["Subject"])
    text = reminder.message.get_body(preferencelist=("plain",)).get_content()
    assert "/not-this-week" in text
    row = session.exec(select(Delivery).where(Delivery.kind == "reminder")).one()
    assert (row.reminder, row.status) == (1, "sent")
    # Deterministic per ledger row: a retry of this row would carry the same Message-ID.
    assert reminder.message["Message-ID"] == (
        f"<cos.{round_.id}.{row.person_id}.reminder.{row.id}@cadence.test>")
    # dee answers; the second reminder goes to nobody.
    smtp_server.clear()
    with session_scope(settings.database_url) as s:
        dee = s.exec(select(Person).where(Person.email == "dee@clinic.example")).one()
        dee_inv = s.exec(select(Invitation).where(Invitation.person_id == dee.id)).one()
        from pipeline.models import Response

        s.add(Response(invitation_id=dee_inv.id or 0, round_id=round_.id or 0,
                       person_id=dee.id or 0, revision=1, answers={}))
    report = tick(settings, ny(2026, 12, 3, 17, 1))
    assert any("reminder 2 of round 1 to 0 silent people" in d for d in report.done), report
    work(settings)
    assert smtp_server.messages == []


def test_the_round_closes_and_the_digest_goes_out_on_time(
        settings: Settings, tmp_path: Path, session: Session, smtp_server) -> None:  # type: ignore[no-untyped-def]
    load_weekly(settings, tmp_path)
    tick(settings, ny(2026, 12, 1, 9))
    work(settings)
    smtp_server.wait_for(4)
    smtp_server.clear()
    tick(settings, ny(2026, 12, 4, 17, 0))
    [round_] = rounds(session)
    assert round_.closed_at is not None
    report = tick(settings, ny(2026, 12, 4, 18, 0))
    assert any("digest of round 1 queued for 1 lead" in d for d in report.done), report
    work(settings)
    [digest] = smtp_server.wait_for(1)
    assert digest.rcpt_tos == ["lee@harbourtrust.org"]
    assert "2026-W49:close:done" in steps(session)


def test_a_scheduler_down_for_hours_opens_the_round_late_but_sends_no_stale_reminder(
        db_settings: Settings, tmp_path: Path, session: Session) -> None:
    load_weekly(db_settings, tmp_path)
    # Down from Monday to Thursday 18:00: the open is still meaningful, reminder 1 is not.
    report = tick(db_settings, ny(2026, 12, 3, 18, 0))
    assert [d.split(":")[1] for d in report.done] == ["open"]
    assert "min late" in report.done[0]
    assert len(rounds(session)) == 1
    assert session.exec(select(Delivery).where(Delivery.kind == "reminder")).all() == []


def test_a_scheduler_down_past_the_close_opens_no_round_for_a_week_gone_by(
        db_settings: Settings, tmp_path: Path, session: Session) -> None:
    load_weekly(db_settings, tmp_path)
    report = tick(db_settings, ny(2026, 12, 5, 10, 0))
    assert report.done == [] and rounds(session) == []
    # The next week runs as usual.
    tick(db_settings, ny(2026, 12, 8, 9, 5))
    assert [r.period_key for r in rounds(session)] == ["2026-W50"]


def test_a_round_started_by_hand_in_the_week_is_that_weeks_round(
        db_settings: Settings, tmp_path: Path, session: Session) -> None:
    from tests.helpers import open_round

    load_weekly(db_settings, tmp_path)
    open_round(db_settings)
    report = tick(db_settings, ny(2026, 12, 1, 9, 0))
    assert "started by hand, is this period's round" in report.done[0]
    assert [r.period_key for r in rounds(session)] == ["2026-W49"]


def test_a_skipped_week_opens_nothing(db_settings: Settings, tmp_path: Path,
                                      session: Session) -> None:
    load_weekly(db_settings, tmp_path, WEEKLY + 'skip = ["2026-12-01"]\n')
    for day in range(1, 6):
        tick(db_settings, ny(2026, 12, day, 12))
    assert rounds(session) == []
    tick(db_settings, ny(2026, 12, 8, 9, 0))
    assert [r.period_key for r in rounds(session)] == ["2026-W50"]


def test_two_schedulers_ticking_at_once_do_every_step_once(
        db_settings: Settings, tmp_path: Path, session: Session) -> None:
    load_weekly(db_settings, tmp_path)
    moments = [ny(2026, 12, 1, 9), ny(2026, 12, 2, 17, 1), ny(2026, 12, 3, 17, 1),
               ny(2026, 12, 4, 17), ny(2026, 12, 4, 18)]
    errors: list[BaseException] = []
    done: list[str] = []

    def scheduler() -> None:
        try:
            for moment in moments:
                barrier.wait(timeout=30)
                report = tick(db_settings, moment)
                done.extend(report.done)
                assert report.failed == [], report.failed
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
            barrier.abort()

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    kinds = sorted(line.split(" ")[1].rstrip(":") for line in done)
    assert kinds == ["2026-W49:close", "2026-W49:digest", "2026-W49:open",
                     "2026-W49:remind:1", "2026-W49:remind:2"]
    assert len(rounds(session)) == 1
    assert len(session.exec(select(Delivery).where(Delivery.kind == "invitation")).all()) == 4
    assert len(session.exec(select(Delivery).where(Delivery.kind == "reminder")).all()) == 8


@pytest.mark.parametrize(("zone", "weekend"), [
    ("Europe/London", datetime(2026, 3, 29)),  # Sunday: clocks go forward 01:00 -> 02:00
    ("Europe/London", datetime(2026, 10, 25)),  # Sunday: clocks go back 02:00 -> 01:00
])
def test_ticking_hourly_across_a_daylight_saving_weekend_keeps_local_times(
        db_settings: Settings, tmp_path: Path, session: Session, zone: str,
        weekend: datetime) -> None:
    # Opens Sunday 01:30 (a time that does not exist in spring, happens twice in autumn),
    # closes Tuesday 09:00; reminders 48h and 24h before the close on the wall clock.
    cadence = (f'[cadence]\ntimezone = "{zone}"\nopen = "Sunday 01:30"\n'
               'close = "Tuesday 09:00"\nreminders = ["48h", "24h"]\ndigest_after = "1h"\n')
    local = ZoneInfo(zone)
    start = datetime(weekend.year, weekend.month, weekend.day - 2, tzinfo=local).astimezone(UTC)
    load_weekly(db_settings, tmp_path, cadence, since=start)
    now = start
    while now < start + timedelta(days=5):
        now += timedelta(minutes=30)
        assert tick(db_settings, now).failed == []
    [round_] = rounds(session)
    opened_local = round_.opened_at.astimezone(local)
    assert opened_local.date() == weekend.date()
    assert round_.closes_at.astimezone(local).replace(tzinfo=None) == weekend + timedelta(
        days=2, hours=9)
    # In spring 01:30 does not exist and the open moves to 02:30 BST; in autumn it is the
    # first 01:30 (BST). The tick that opens it comes within 30 minutes.
    planned = {3: datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # 02:30 BST
               10: datetime(2026, 10, 25, 0, 30, tzinfo=UTC)}[weekend.month]  # 01:30 BST
    assert timedelta(0) <= round_.opened_at - planned <= timedelta(minutes=30)
    reminders = sorted(s.due_at.astimezone(local) for s in session.exec(
        select(SchedulerStep).where(col(SchedulerStep.kind).startswith("remind"))))
    # 48h and 24h before Tuesday 09:00 on the wall clock: Sunday 09:00 and Monday 09:00.
    assert [(r.weekday(), r.hour, r.minute) for r in reminders] == [(6, 9, 0), (0, 9, 0)]
    assert steps(session) == [f"{round_.period_key}:{k}:done"
                              for k in ("close", "digest", "open", "remind:1", "remind:2")]


def test_cos_scheduler_once_says_where_it_works_and_what_it_did(
        settings: Settings, tmp_path: Path) -> None:
    from tests.helpers import cos

    load_weekly(settings, tmp_path, since=utcnow())
    result = cos(settings, "scheduler", "--once")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("using database ")
    assert "Redis redis://" in result.stderr and "mail SMTP" in result.stderr
    assert result.stdout.strip() == "nothing due"


def test_cos_worker_with_scheduler_ticks_alongside_the_worker(
        settings: Settings, tmp_path: Path) -> None:
    from tests.helpers import cos

    load_weekly(settings, tmp_path, since=utcnow())
    result = cos(settings, "worker", "--burst", "--simple", "--with-scheduler")
    assert result.exit_code == 0, result.output
    assert "scheduler: ticking every minute alongside the worker" in result.stderr


def test_a_lead_who_opted_out_gets_no_digest_and_the_other_leads_do(
        settings: Settings, tmp_path: Path, session: Session, smtp_server) -> None:  # type: ignore[no-untyped-def]
    second_lead = ('\n[[people]]\nemail = "mo@harbourtrust.org"\nname = "Mo Lind"\n'
                   'organisation = "Harbour Trust"\nrole = "lead"\n')
    path = tmp_path / "coalition.toml"
    text = (DATA / "harbour.toml").read_text()
    path.write_text(text + second_lead + WEEKLY)
    with session_scope(settings.database_url) as s:
        load_coalition(s, path)
        coalition = s.exec(select(Coalition)).one()
        coalition.cadence_since = ny(2026, 11, 30, 0)
        s.exec(select(Person).where(Person.email == "mo@harbourtrust.org")).one() \
            .opted_out_at = utcnow()
    tick(settings, ny(2026, 12, 1, 9))
    tick(settings, ny(2026, 12, 4, 17))
    work(settings)
    smtp_server.clear()
    tick(settings, ny(2026, 12, 4, 18))
    work(settings)
    [digest] = smtp_server.wait_for(1)
    assert digest.rcpt_tos == ["lee@harbourtrust.org"]
    session.expire_all()
    withheld = session.exec(select(Delivery).where(Delivery.kind == "digest",
                                                   Delivery.status == "withheld")).one()
    assert "opted out" in withheld.last_error


def test_a_reminder_missed_until_quiet_hours_waits_for_no_one(
        db_settings: Settings, tmp_path: Path, session: Session) -> None:
    load_weekly(db_settings, tmp_path, WEEKLY.replace('digest_after = "1h"',
                                                      'digest_after = "1h"\nquiet_hours = '
                                                      '"21:00-08:00"'))
    tick(db_settings, ny(2026, 12, 1, 9))
    # Down from before the first reminder (Wednesday 17:00) until 23:00, inside quiet hours:
    # it is not sent at night; the second reminder comes as planned.
    report = tick(db_settings, ny(2026, 12, 2, 23, 0))
    assert report.done == []
    report = tick(db_settings, ny(2026, 12, 3, 17, 0))
    assert [d.split(" ")[1] for d in report.done] == ["2026-W49:remind:2:"]


def _scheduler_process(settings: Settings, moments: list[datetime], start: float) -> list[str]:
    import time

    time.sleep(max(0.0, start - time.time()))  # both begin together
    done: list[str] = []
    for moment in moments:
        report = tick(settings, moment)
        assert report.failed == [], report.failed
        done += [line.split(" ")[1].rstrip(":") for line in report.done]
    return done


def test_two_scheduler_processes_at_once_do_every_step_once(
        db_settings: Settings, tmp_path: Path, session: Session) -> None:
    import multiprocessing
    import time

    load_weekly(db_settings, tmp_path)
    moments = [ny(2026, 12, 1, 9) + timedelta(minutes=m) for m in range(0, 4 * 24 * 60, 97)]
    moments.append(ny(2026, 12, 4, 18))
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        start = time.time() + 3
        results = pool.starmap(_scheduler_process, [(db_settings, moments, start)] * 2)
    done = sorted(results[0] + results[1])
    assert done == ["2026-W49:close", "2026-W49:digest", "2026-W49:open",
                    "2026-W49:remind:1", "2026-W49:remind:2"]
    assert len(rounds(session)) == 1
