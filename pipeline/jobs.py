"""What waits, runs and failed in the queues, and putting failed jobs back: the admin jobs page
and `cos jobs` both read and act through here, so neither touches Redis by hand."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import redis
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from pipeline import queues
from pipeline.errors import FixableError

log = logging.getLogger(__name__)

# The states listed, in the order a job passes through them.
STATES = ("queued", "scheduled", "started", "failed")
# Jobs listed per queue and state: a page, not a dump of a week of failures.
LIMIT = 50


class NoSuchFailedJob(FixableError):
    """The job asked for is not among the failed jobs (retried already, expired, or a typo)."""


@dataclass(frozen=True)
class JobInfo:
    """One job as an admin sees it: its arguments are ids, so they can be shown as they are."""

    id: str
    queue: str
    state: str
    function: str
    args: str
    enqueued_at: datetime | None
    ended_at: datetime | None
    failure: str  # the last line of the traceback, for failed jobs

    def as_json(self) -> dict[str, object]:
        """Return the job as plain JSON values."""
        return {"id": self.id, "queue": self.queue, "state": self.state,
                "function": self.function, "args": self.args,
                "enqueued_at": self.enqueued_at.isoformat() if self.enqueued_at else None,
                "ended_at": self.ended_at.isoformat() if self.ended_at else None,
                "failure": self.failure}


@dataclass
class QueueJobs:
    """A queue's jobs by state, and how many there are in all (the lists stop at LIMIT)."""

    name: str
    jobs: dict[str, list[JobInfo]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def last_line(text: str | None) -> str:
    """Return the line of a traceback that names the exception and its message.

    That is the last line at the margin, less SQLAlchemy's "(Background on this error ...)".
    """
    lines = [line.rstrip() for line in (text or "").splitlines() if line.strip()]
    told = [line for line in lines if not line[0].isspace() and not line.startswith("(")
            and not line.startswith("Traceback")]
    found = told[-1] if told else (lines[-1].strip() if lines else "")
    return found[:300]


def _short_function(name: str | None) -> str:
    return (name or "?").rsplit(".", 1)[-1]


def _info(job: Job, queue_name: str, state: str) -> JobInfo:
    try:
        args = ", ".join(repr(a) for a in job.args)
    except Exception:  # noqa: BLE001 - a job whose data cannot be read is still listed
        args = "?"
    failure = ""
    if state == "failed":
        try:
            result = job.latest_result()
            failure = last_line(result.exc_string if result else None)
        except Exception:  # noqa: BLE001
            failure = "(the failure could not be read)"
    return JobInfo(id=job.id, queue=queue_name, state=state, function=_short_function(
        job.func_name), args=args[:200], enqueued_at=job.enqueued_at, ended_at=job.ended_at,
        failure=failure)


def _ids(conn: redis.Redis, name: str, state: str) -> tuple[list[str], int]:
    q = queues.queue(name, conn)
    if state == "queued":
        return q.get_job_ids(0, LIMIT), q.count
    registry = {"scheduled": ScheduledJobRegistry, "started": StartedJobRegistry,
                "failed": FailedJobRegistry}[state](queue=q)
    ids = registry.get_job_ids()
    # Newest failures first: the one just seen is the one the admin is looking for.
    return (list(reversed(ids))[:LIMIT] if state == "failed" else ids[:LIMIT]), len(ids)


def list_jobs(conn: redis.Redis, *, failed_only: bool = False) -> list[QueueJobs]:
    """Return every project queue's queued, scheduled, started and failed jobs."""
    found = []
    for name in queues.QUEUES:
        entry = QueueJobs(name)
        for state in (("failed",) if failed_only else STATES):
            ids, total = _ids(conn, name, state)
            jobs = [j for j in Job.fetch_many(ids, connection=conn) if j is not None]
            entry.jobs[state] = [_info(j, name, state) for j in jobs]
            entry.counts[state] = total
        found.append(entry)
    return found


def retry(conn: redis.Redis, job_id: str) -> JobInfo:
    """Put one failed job back on its queue, to run again from the start (jobs are idempotent)."""
    for name in queues.QUEUES:
        registry = FailedJobRegistry(queue=queues.queue(name, conn))
        if job_id in registry.get_job_ids():
            job = registry.requeue(job_id)
            log.info("job %s re-queued on %s", job_id, name)
            return _info(job, name, "queued")
    raise NoSuchFailedJob(f"no failed job {job_id!r}: it may have been retried already or "
                          "expired; `cos jobs --failed` lists the failed jobs")


def retry_all(conn: redis.Redis, queue_name: str | None = None) -> int:
    """Put every failed job of one queue (or of all of them) back; return how many."""
    if queue_name is not None and queue_name not in queues.QUEUES:
        raise NoSuchFailedJob(f"no queue {queue_name!r}: the queues are "
                              f"{', '.join(queues.QUEUES)}")
    done = 0
    for name in (queue_name,) if queue_name else queues.QUEUES:
        registry = FailedJobRegistry(queue=queues.queue(name, conn))
        for job_id in registry.get_job_ids():
            try:
                registry.requeue(job_id)
            except Exception as exc:  # noqa: BLE001 - one unreadable job never stops the rest
                log.warning("job %s could not be re-queued: %s", job_id, exc)
                continue
            done += 1
    if done:
        log.info("%s failed jobs re-queued", done)
    return done
