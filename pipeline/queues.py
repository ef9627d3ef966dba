"""Where work waits: the Redis connection, queues named by purpose, enqueue helpers that survive
a dead Redis, and the job functions the workers run.

Job arguments are ids only. Every job opens its own session and is safe to run twice.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from rq import Queue, Retry

from emails import DeliveryError
from pipeline.config import Settings
from pipeline.core.vocab import DeliveryStatus
from pipeline.errors import FixableError
from pipeline.ledger import MAX_RETRIES, RETRY_INTERVALS
from pipeline.logcontext import bound

log = logging.getLogger(__name__)

MERGE_QUEUE = "cos-merge"
MAIL_QUEUE = "cos-mail"
HOOK_QUEUE = "cos-hooks"  # webhook deliveries: a slow receiver must not hold up the mail
QUEUES = (MERGE_QUEUE, MAIL_QUEUE, HOOK_QUEUE)
# The file a private Redis of this instance leaves behind, so other commands find it.
REDIS_STATE_FILE = "redis.json"

_settings: Settings | None = None


class QueueUnavailable(FixableError):
    """Redis cannot be reached; the work is saved in the database and can be re-queued."""


def load_job_modules() -> None:
    """Import what the jobs run (the merge, the sender, every email kind): a worker does this
    once before it forks, so no work horse imports them again. Commands that only queue work
    do not, and start faster."""
    import pipeline.merge  # noqa: F401
    import pipeline.sending  # noqa: F401
    from pipeline.email_kinds import load_kinds

    load_kinds()


def configure(settings: Settings | None) -> None:
    """Give jobs in this process the settings they run with (the worker calls this)."""
    global _settings
    _settings = settings


@contextmanager
def configured(settings: Settings) -> Iterator[Settings]:
    """Run jobs in this block with these settings, then put back what was there."""
    before = _settings
    configure(settings)
    try:
        yield settings
    finally:
        configure(before)


def current_settings() -> Settings:
    """Return the settings jobs run with, read from the environment if nobody configured them."""
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def ping(url: str, timeout: float = 1.0) -> bool:
    """Say whether a Redis answers at this URL."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        return bool(client.ping())
    except (redis.exceptions.RedisError, OSError):
        return False


def find_redis_url(configured_url: str | None, instance: Path) -> str | None:
    """Return COS_REDIS_URL if set, else the URL of a live private Redis of this instance."""
    if configured_url:
        return configured_url
    try:
        url = json.loads((instance / REDIS_STATE_FILE).read_text())["url"]
    except (OSError, ValueError, KeyError):
        return None
    return str(url) if ping(url) else None


def redis_url(settings: Settings) -> str:
    """Return the Redis URL to use, or raise QueueUnavailable saying how to get one."""
    url = find_redis_url(settings.redis_url, settings.instance)
    if url is None:
        raise QueueUnavailable(
            "COS_REDIS_URL is not set and no private Redis of this instance is running: "
            "set COS_REDIS_URL, or run `cos serve` (it starts one, with a worker)"
        )
    return url


_clients: dict[str, redis.Redis] = {}


def connect(settings: Settings) -> redis.Redis:
    """Return a Redis client with short timeouts, so a dead Redis fails fast.

    One client (and connection pool) per URL and process: every answer queues a merge, and a
    new pool per request costs a connection each time. redis-py pools notice a fork and start
    afresh in the child.
    """
    url = redis_url(settings)
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=2,
                                                      socket_timeout=5)
    return client


def queue(name: str, connection: redis.Redis) -> Queue:
    """Return one of the project's queues."""
    return Queue(name, connection=connection)


# While this key exists, a merge of the round waits in the queue: later answers need no other.
MERGE_PENDING = "cos:merge-pending:{round_id}"
# How long a pending mark may outlive its job (a queue emptied by hand): reconcile merges
# whatever is left unmerged anyway.
MERGE_PENDING_TTL = 600
# A merge that failed (the database locked or restarting) is tried again after these waits;
# merges are idempotent, and reconcile merges whatever is still left after the last one.
MERGE_RETRY_INTERVALS = (2, 10, 60, 300)


def enqueue_merge(settings: Settings, round_id: int) -> None:
    """Queue a merge of a round unless one is already waiting (merges are coalesced per round).

    The mark is set with SET NX before the job is queued and removed by the job as it starts,
    so at most one merge per round waits, whatever state an earlier job was left in (a worker
    killed mid-merge leaves its job "started" for ever: that must not block or multiply).
    """
    try:
        conn = connect(settings)
        if not conn.set(MERGE_PENDING.format(round_id=round_id), "1", nx=True,
                        ex=MERGE_PENDING_TTL):
            return
        queue(MERGE_QUEUE, conn).enqueue(merge_job, round_id,
                                         job_id=f"merge-{round_id}-{uuid.uuid4().hex[:12]}",
                                         retry=Retry(max=len(MERGE_RETRY_INTERVALS),
                                                     interval=list(MERGE_RETRY_INTERVALS)),
                                         result_ttl=60, failure_ttl=7 * 86400)
    except (redis.exceptions.RedisError, OSError) as exc:
        raise QueueUnavailable(f"Redis unreachable ({exc})") from exc


# Ledger rows per send job: one job (its SMTP connections, one warm-up of the template
# caches) per this many emails.
SEND_BATCH = 1000


def enqueue_sends(settings: Settings, delivery_ids: list[int]) -> int:
    """Queue the ledger rows for sending, SEND_BATCH rows per job; return how many rows."""
    if not delivery_ids:
        return 0
    # Temporary failures raise at the end of the batch, and RQ tries the batch again after the
    # ledger's growing intervals; rows sent meanwhile are skipped by the claim, and a row no
    # longer worth sending (its round closed) ends its retries quietly.
    retry = Retry(max=MAX_RETRIES, interval=list(RETRY_INTERVALS))
    batches = [delivery_ids[i:i + SEND_BATCH] for i in range(0, len(delivery_ids), SEND_BATCH)]
    try:
        q = queue(MAIL_QUEUE, connect(settings))
        q.enqueue_many([
            Queue.prepare_data(send_batch_job, (batch,),
                               job_id=f"send-{batch[0]}-{len(batch)}-{uuid.uuid4().hex[:8]}",
                               retry=retry, result_ttl=60, failure_ttl=7 * 86400,
                               description=f"send {len(batch)} emails from ledger row {batch[0]}")
            for batch in batches
        ])
    except (redis.exceptions.RedisError, OSError) as exc:
        raise QueueUnavailable(f"Redis unreachable ({exc})") from exc
    return len(delivery_ids)


SEND_JOBS = (f"{__name__}.send_job", f"{__name__}.send_batch_job")


def rows_waiting(settings: Settings) -> set[int]:
    """Return the ledger rows a send job queued or scheduled for a retry will try: a sweep
    need not queue them again (a job that was running is left out: its worker may be dead)."""
    from rq.job import Job
    from rq.registry import DeferredJobRegistry, ScheduledJobRegistry

    try:
        conn = connect(settings)
        mail = queue(MAIL_QUEUE, conn)
        job_ids = (mail.get_job_ids() + ScheduledJobRegistry(queue=mail).get_job_ids()
                   + DeferredJobRegistry(queue=mail).get_job_ids())
        jobs = Job.fetch_many(job_ids, connection=conn) if job_ids else []
    except (redis.exceptions.RedisError, OSError) as exc:
        raise QueueUnavailable(f"Redis unreachable ({exc})") from exc
    waiting: set[int] = set()
    for job in jobs:
        if job is None or not job.args or job.func_name not in SEND_JOBS:
            continue
        rows = job.args[0]
        waiting.update(rows if isinstance(rows, list) else [rows])
    return waiting


def merge_job(round_id: int) -> str:
    """Merge a round's answers (RQ job)."""
    settings = current_settings()
    # From here on, a new answer queues a new merge: this one may already have read the answers.
    connect(settings).delete(MERGE_PENDING.format(round_id=round_id))
    from pipeline.merge import merge_round_at  # the job's modules load in the job, not at enqueue
    with bound(round_id=round_id):
        result = merge_round_at(settings.database_url, round_id, pooled=False)
        log.info("merged round %s: %s answers, %s new", round_id, result.answers,
                 result.newly_merged)
    return f"merged {result.answers} answers ({result.newly_merged} new)"


# True while a send job runs in the worker's own process (pipeline.workers runs send jobs
# without a fork): its database connections are pooled for the worker's lifetime then.
_in_worker_process = False


@contextmanager
def in_worker_process() -> Iterator[None]:
    """Mark the jobs run in this block as running in the long-lived worker process."""
    global _in_worker_process
    before, _in_worker_process = _in_worker_process, True
    try:
        yield
    finally:
        _in_worker_process = before


def send_job(delivery_id: int) -> str:
    """Send one email of the ledger (RQ job; jobs queued before batches still run)."""
    from pipeline.sending import send_delivery

    return str(send_delivery(current_settings(), delivery_id, pooled=False))


def send_batch_job(delivery_ids: list[int]) -> str:
    """Send a batch of the ledger's emails over the job's SMTP connections (RQ job).

    Every row's outcome is recorded; when some failed for now, the job raises at the end so
    RQ runs it again later, and only the rows not sent yet are claimed then.
    """
    from pipeline.sending import send_batch

    outcomes = send_batch(current_settings(), delivery_ids, pooled=_in_worker_process)
    counts = Counter(o.status for o in outcomes)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    if counts[DeliveryStatus.FAILED]:
        first = next(o for o in outcomes if o.status == DeliveryStatus.FAILED)
        raise DeliveryError(f"{counts[DeliveryStatus.FAILED]} of {len(outcomes)} emails failed "
                            f"for now and will be tried again ({summary}); first: {first.detail}",
                            temporary=True)
    return summary


def enqueue_opt_out_notice(settings: Settings, person_id: int) -> None:
    """Queue the email that tells the leads a partner opted out (a web request sends none)."""
    try:
        queue(MAIL_QUEUE, connect(settings)).enqueue(
            opt_out_notice_job, person_id,
            job_id=f"opt-out-notice-{person_id}-{uuid.uuid4().hex[:12]}",
            result_ttl=60, failure_ttl=7 * 86400)
    except (redis.exceptions.RedisError, OSError) as exc:
        raise QueueUnavailable(f"Redis unreachable ({exc})") from exc


def opt_out_notice_job(person_id: int) -> str:
    """Tell the leads that a partner opted out (RQ job)."""
    from pipeline.lifecycle import tell_leads_of_opt_out  # it needs rounds, which need us

    return tell_leads_of_opt_out(current_settings(), person_id)
