"""RQ wiring: queues named by purpose, enqueue helpers that survive a dead Redis, job entry points.

Job arguments are ids only. Every job opens its own session and is safe to run twice.
"""

from __future__ import annotations

import logging

import redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.redis_local import find_redis_url

log = logging.getLogger(__name__)

MERGE_QUEUE = "cos-merge"
MAIL_QUEUE = "cos-mail"
QUEUES = (MERGE_QUEUE, MAIL_QUEUE)
# Temporary mail failures (server down, 4xx) are retried after 30 s, 2 min and 10 min.
SEND_RETRY = Retry(max=3, interval=[30, 120, 600])

_settings: Settings | None = None


class QueueUnavailable(Exception):
    """Redis cannot be reached; the work is saved in the database and can be re-queued."""


def configure(settings: Settings) -> None:
    """Give jobs in this process the settings they run with (the worker calls this)."""
    global _settings
    _settings = settings


def current_settings() -> Settings:
    """Return the settings jobs run with, read from the environment if nobody configured them."""
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def redis_url(settings: Settings) -> str:
    """Return the Redis URL to use, or raise QueueUnavailable saying how to get one."""
    url = find_redis_url(settings.redis_url, settings.instance)
    if url is None:
        raise QueueUnavailable(
            "COS_REDIS_URL is not set and no private Redis of this instance is running: "
            "set COS_REDIS_URL, or run `cos serve` (it starts one, with a worker)"
        )
    return url


def connect(settings: Settings) -> redis.Redis:
    """Return a Redis client with short timeouts, so a dead Redis fails fast."""
    return redis.Redis.from_url(redis_url(settings), socket_connect_timeout=2, socket_timeout=5)


def queue(name: str, connection: redis.Redis) -> Queue:
    """Return one of the project's queues."""
    return Queue(name, connection=connection)


def enqueue_merge(settings: Settings, campaign_id: int) -> None:
    """Queue a merge of a round, unless one is already waiting (merges are coalesced per round)."""
    try:
        conn = connect(settings)
        job_id = f"merge-{campaign_id}"
        try:
            if Job.fetch(job_id, connection=conn).get_status() == JobStatus.QUEUED:
                return
        except NoSuchJobError:
            pass
        queue(MERGE_QUEUE, conn).enqueue(merge_job, campaign_id, job_id=job_id,
                                         result_ttl=60, failure_ttl=7 * 86400)
    except (redis.exceptions.RedisError, OSError) as exc:
        raise QueueUnavailable(f"Redis unreachable ({exc})") from exc


def enqueue_sends(settings: Settings, delivery_ids: list[int]) -> int:
    """Queue one send job per delivery; return how many were queued."""
    if not delivery_ids:
        return 0
    try:
        q = queue(MAIL_QUEUE, connect(settings))
        q.enqueue_many([
            Queue.prepare_data(send_job, (d,), job_id=f"send-{d}", retry=SEND_RETRY,
                               result_ttl=60, failure_ttl=7 * 86400)
            for d in delivery_ids
        ])
    except (redis.exceptions.RedisError, OSError) as exc:
        raise QueueUnavailable(f"Redis unreachable ({exc})") from exc
    return len(delivery_ids)


def merge_job(campaign_id: int) -> str:
    """Merge a round's answers (RQ job)."""
    from pipeline.merge import merge_campaign

    settings = current_settings()
    with session_scope(settings.database_url, pooled=False) as session:
        result = merge_campaign(session, campaign_id)
    log.info("merged round %s: %s answers, %s new", campaign_id, result.answers,
             result.newly_merged)
    return f"merged {result.answers} answers ({result.newly_merged} new)"


def send_job(delivery_id: int) -> str:
    """Send one email of the ledger (RQ job)."""
    from pipeline.deliveries import send_delivery

    return str(send_delivery(current_settings(), delivery_id, pooled=False))
