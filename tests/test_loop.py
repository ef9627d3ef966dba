"""The whole weekly loop, from `cos campaign start` to the digest in the leads' inbox."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import select

from pipeline.ledger import MAX_RETRIES
from pipeline.models import Delivery, Reading, Response
from tests.helpers import (
    answer,
    commitment_field,
    cos,
    links_in,
    load,
    metric_field,
    organisation_id,
    work,
)

PARTNERS = ["ana@harbourtrust.org", "dee@clinic.example", "kim@cyclists.example",
            "raj@schools.example"]


def test_a_round_runs_from_campaign_start_to_the_digest_in_the_leads_inbox(
        settings, smtp_server, live_server, session):
    load(settings)
    started = cos(settings, "campaign", "start", "harbour-air", "--closes-in", "48h")
    assert started.exit_code == 0, started.output
    round_id = int(started.stdout.split()[0])

    work(settings)
    invitations = smtp_server.wait_for(4)
    assert sorted(r.rcpt_tos[0] for r in invitations) == PARTNERS  # no lead, no observer
    for received in invitations:
        msg = received.message
        assert msg["Message-ID"] and msg["Date"]
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    links = links_in(invitations)
    assert all(link.startswith(settings.base_url + "/c/") for link in links.values())

    raj = answer(links["raj@schools.example"], {
        commitment_field(session, "sensors"): "done",
        commitment_field(session, "sensors", "note"): "All five are live",
        metric_field(session, "no2"): "41.5",
        "win": "Sensors are live at five gates",
        "pulse": "4",
        "helped_by": [str(organisation_id(session, "Harbour Cyclists"))],
    })
    assert raj.status_code == 200 and "Thank you" in raj.text
    kim = answer(links["kim@cyclists.example"], {
        commitment_field(session, "petition"): "slipping",
        metric_field(session, "car_free"): "3",
        "blocker": "The council meeting moved to February",
        "help_wanted": "y",
        "pulse": "3",
    })
    assert kim.status_code == 200
    assert answer(links["ana@harbourtrust.org"], {"pulse": "5"}).status_code == 200

    work(settings)
    assert session.exec(select(Response).where(Response.merged_at == None)).all() == []  # noqa: E711
    assert {r.value for r in session.exec(select(Reading))} == {41.5, 3.0}

    status = cos(settings, "campaign", "status", str(round_id))
    assert "invited 4, delivered 4, failed 0, answered 3, silent 1" in status.output
    assert "Dee Brown" in status.output

    closed = cos(settings, "campaign", "close", str(round_id))
    assert closed.exit_code == 0, closed.output
    digest = smtp_server.wait_for(5)[4]
    assert digest.rcpt_tos == ["lee@harbourtrust.org"]
    assert "3 of 4" in digest.message["Subject"]
    text = digest.message.get_body(preferencelist=("plain",)).get_content()
    html = digest.message.get_body(preferencelist=("html",)).get_content()
    for expected in ("Dee Brown", "41.5", "The council meeting moved to February",
                     "Sensors are live at five gates", "4 / 5"):
        assert expected in text, expected
        assert expected in html, expected
    # The form closes with the round.
    import requests

    assert requests.get(links["raj@schools.example"], timeout=10).status_code == 410


def test_closing_again_sends_no_second_digest(settings, smtp_server, session):
    load(settings)
    round_id = int(cos(settings, "campaign", "start", "harbour-air",
                          "--send-now").stdout.split()[0])
    smtp_server.wait_for(4)
    assert cos(settings, "campaign", "close", str(round_id)).exit_code == 0
    again = cos(settings, "campaign", "close", str(round_id))
    assert again.exit_code == 0 and "already sent to 1 lead" in again.output
    resend = cos(settings, "digest", "harbour-air", "--send")
    assert "already sent to 1 lead" in resend.output
    assert len(smtp_server.messages) == 5
    sent = session.exec(select(Delivery).where(Delivery.kind == "digest")).all()
    assert [(d.status, d.attempts) for d in sent] == [("sent", 1)]


def test_a_dead_mail_server_at_close_is_reported_and_the_digest_can_be_sent_later(
        settings, smtp_server, session):
    from cos.local_redis import free_port

    load(settings)
    round_id = int(cos(settings, "campaign", "start", "harbour-air",
                          "--send-now").stdout.split()[0])
    smtp_server.wait_for(4)
    dead = settings.with_(mail_url=f"smtp://127.0.0.1:{free_port()}")
    closed = cos(dead, "campaign", "close", str(round_id))
    assert closed.exit_code == 1
    assert "could not connect to SMTP server" in closed.output
    assert "cos digest SLUG --send" in closed.output
    assert [d.status for d in session.exec(select(Delivery).where(
        Delivery.kind == "digest"))] == ["failed"]

    resent = cos(settings, "digest", "harbour-air", "--send")
    assert resent.exit_code == 0, resent.output
    assert smtp_server.wait_for(5)[4].rcpt_tos == ["lee@harbourtrust.org"]
    assert [d.status for d in session.exec(select(Delivery).where(
        Delivery.kind == "digest"))] == ["sent"]


def test_a_temporary_mail_failure_is_recorded_and_scheduled_for_a_retry(
        settings, smtp_server, session, redis_conn, tmp_path, caplog):
    from rq.job import Job, JobStatus
    from rq.registry import ScheduledJobRegistry

    from pipeline.queues import MAIL_QUEUE

    load(settings)
    people = tmp_path / "people.csv"
    people.write_text("email,name,organisation,role\n"
                      "sam.defer@clinic.example,Sam Later,Harbour Clinic,partner\n")
    assert cos(settings, "people", "import", "harbour-air", str(people)).exit_code == 0
    assert cos(settings, "campaign", "start", "harbour-air").exit_code == 0
    work(settings)
    smtp_server.wait_for(4)
    deferred = session.exec(select(Delivery).where(Delivery.status != "sent")).one()
    assert (deferred.status, deferred.attempts) == ("failed", 1)
    assert "451" in deferred.last_error
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in logged] == [
        f"delivery {deferred.id} failed, will retry"]  # one line, no RQ traceback
    assert not any(r.exc_info or "Traceback" in r.getMessage() for r in logged)
    # The batch that held the row is scheduled again; the rows it sent will be skipped then.
    scheduled = ScheduledJobRegistry(MAIL_QUEUE, connection=redis_conn).get_job_ids()
    [job] = [j for j in Job.fetch_many(scheduled, connection=redis_conn)
             if j is not None and deferred.id in j.args[0]]
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retries_left == MAX_RETRIES - 1
    assert deferred.retry_at is not None
    wait = deferred.retry_at - (deferred.claimed_at or deferred.created_at)
    assert timedelta(seconds=25) < wait < timedelta(seconds=40)

    status = cos(settings, "campaign", "status", "1")
    line = next(x for x in status.stdout.splitlines() if "Sam Later" in x)
    assert "retrying at" in line and "attempt 1" in line and "failed" not in line
