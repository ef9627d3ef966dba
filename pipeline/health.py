"""Readiness: can this process reach what it needs (the database and Redis) right now?"""

from __future__ import annotations

from sqlalchemy import text

from pipeline.config import Settings
from pipeline.core.display import error_line
from pipeline.db import get_engine
from pipeline.queues import find_redis_url, ping


def readiness(settings: Settings, timeout: float = 1.0) -> dict[str, str]:
    """Return "ok" or what went wrong for the database and for Redis (no passwords)."""
    checks: dict[str, str] = {}
    try:
        with get_engine(settings.database_url).connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, never raised: this is the check
        checks["database"] = error_line(exc).split(" (Background")[0]
    url = find_redis_url(settings.redis_url, settings.instance)
    if url is None:
        checks["redis"] = "not configured (COS_REDIS_URL) and no private Redis is running"
    else:
        checks["redis"] = "ok" if ping(url, timeout) else "not answering"
    return checks
