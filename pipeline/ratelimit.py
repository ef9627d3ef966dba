"""A per-minute limit on messages handed to the mail server, shared by every sender via Redis.

A fixed window: each minute (of the Unix clock) has a counter that every sender increments
before it sends; past the limit it waits for the next minute. Two minutes' worth can go out
around a minute's edge; a mail provider's per-minute quota has the same shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from pipeline.config import Settings

log = logging.getLogger(__name__)

KEY = "cos:mail-rate:{minute}"


def take(conn: redis.Redis, limit: int, now: float) -> float:
    """Take a slot in the minute of `now`; return 0 when granted, else the seconds to wait."""
    minute = int(now // 60)
    key = KEY.format(minute=minute)
    pipe = conn.pipeline()
    pipe.incr(key)
    pipe.expire(key, 120)
    count, _ = pipe.execute()
    return 0.0 if int(count) <= limit else 60 - (now % 60)


def wait_for_slot(settings: Settings, *, clock: Callable[[], float] = time.time,
                  sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until this sender may hand over one more message (COS_MAIL_RATE per minute)."""
    if settings.mail_rate <= 0:
        return
    from pipeline import queues  # queues imports the send path, which imports this

    try:
        conn = queues.connect(settings)
        while (wait := take(conn, settings.mail_rate, clock())) > 0:
            sleep(wait)
    except (queues.QueueUnavailable, redis.exceptions.RedisError, OSError) as exc:
        # Redis holds the queue too: without it only a command sending in-process gets here.
        log.warning("mail rate limit not applied (Redis unreachable: %s)", exc)
