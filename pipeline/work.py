"""Running RQ workers on the project's queues, and the reconcile sweep they start with."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field

from rq import SimpleWorker, Worker

from pipeline import jobs
from pipeline.campaigns import pending_deliveries, unmerged_campaigns
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.merge import merge_campaign

log = logging.getLogger(__name__)


class JobIdFilter(logging.Filter):
    """Stamp every log line a job writes with the job's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add job_id to the record (or '-' outside a job)."""
        from rq import get_current_job

        job = get_current_job()
        record.job_id = job.id if job else "-"
        return True


@dataclass
class ReconcileReport:
    """What a reconcile sweep found and did."""

    merged: list[int] = field(default_factory=list)
    queued_emails: int = 0
    queue_problem: str = ""


def reconcile(settings: Settings) -> ReconcileReport:
    """Merge every answer left unmerged and re-queue every email not sent yet."""
    report = ReconcileReport()
    with session_scope(settings.database_url) as session:
        campaign_ids = unmerged_campaigns(session)
    for campaign_id in campaign_ids:
        with session_scope(settings.database_url) as session:
            merge_campaign(session, campaign_id)
        report.merged.append(campaign_id)
    with session_scope(settings.database_url) as session:
        delivery_ids = pending_deliveries(session)
    try:
        report.queued_emails = jobs.enqueue_sends(settings, delivery_ids)
    except jobs.QueueUnavailable as exc:
        report.queue_problem = f"{len(delivery_ids)} email(s) still waiting: {exc}"
    return report


def run_burst(settings: Settings) -> None:
    """Run every queued job in this process until the queues are empty.

    RQ installs its own SIGINT/SIGTERM handlers; they are put back afterwards so that Ctrl-C
    in the calling program (the demo, a test run) still means what it meant before.
    """
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        jobs.configure(settings)
        connection = jobs.connect(settings)
        queues = [jobs.queue(name, connection) for name in jobs.QUEUES]
        SimpleWorker(queues, connection=connection).work(burst=True, logging_level="WARNING")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def run_worker(settings: Settings, *, burst: bool = False, simple: bool = False) -> bool:
    """Work the project's queues until stopped (or until empty with burst)."""
    jobs.configure(settings)
    connection = jobs.connect(settings)
    queues = [jobs.queue(name, connection) for name in jobs.QUEUES]
    worker_class = SimpleWorker if simple else Worker
    worker = worker_class(queues, connection=connection)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    return bool(worker.work(burst=burst, with_scheduler=True, logging_level=level))
