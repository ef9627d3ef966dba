"""The SMTP server down for the whole fan-out, and for longer than all of RQ's retries:
nothing is lost, the status says each invitation is being retried, and each is sent exactly
once when the server is back."""

from __future__ import annotations

import pytest
import redis
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from pipeline import queues
from tests.chaos.test_killed_workers import PARTNERS, all_sent, rows
from tests.helpers import cos, load, open_round

pytestmark = pytest.mark.chaos


def test_invitations_outlive_an_smtp_outage_longer_than_every_retry(chaos, chaos_smtp):
    load(chaos)
    round_id, ids = open_round(chaos)
    assert queues.enqueue_sends(chaos, ids) == 4  # the server is not listening yet

    burst = cos(chaos, "worker", "--burst")
    assert burst.exit_code == 0, burst.output
    assert {d.status for d in rows(chaos)} == {"failed"}
    assert all(d.retry_at is not None and d.attempts >= 1 for d in rows(chaos))
    status = cos(chaos, "campaign", "status", str(round_id))
    assert status.stdout.count("retrying at ") == 4, status.stdout
    assert "Connection refused" in status.stdout or "connect" in status.stdout.lower()

    # Longer than all retries: RQ gives up on every job (they end in its failed registry).
    conn = redis.Redis.from_url(chaos.redis_url)
    mail = queues.queue(queues.MAIL_QUEUE, conn)
    scheduled = ScheduledJobRegistry(queue=mail)
    waiting = [mail.fetch_job(job_id) for job_id in scheduled.get_job_ids()]
    # Whatever the jobs are called and however they batch the rows, they cover every row.
    assert sorted(row for job in waiting if job is not None for row in job.args[0]) == sorted(ids)
    for job in waiting:
        assert job is not None
        scheduled.remove(job)
        FailedJobRegistry(queue=mail).add(job, exc_string="gave up")
    assert {d.status for d in rows(chaos)} == {"failed"}  # nothing lost from the ledger

    chaos_smtp.start()
    reconciled = cos(chaos, "reconcile")
    assert reconciled.exit_code == 0, reconciled.output
    assert "queued 4 emails" in reconciled.stdout
    assert cos(chaos, "worker", "--burst").exit_code == 0
    assert chaos_smtp.recipients() == PARTNERS
    assert all_sent(chaos)
    status = cos(chaos, "campaign", "status", str(round_id))
    assert status.stdout.count(f"accepted by SMTP 127.0.0.1:{chaos_smtp.port}") == 4, (
        status.stdout)
    # Sending again sends nothing twice.
    assert "queued 0 emails" in cos(chaos, "reconcile").stdout
    assert cos(chaos, "worker", "--burst").exit_code == 0
    assert chaos_smtp.recipients() == PARTNERS
