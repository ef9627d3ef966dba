"""What every log line says about where it comes from: the job, the round and the coalition.

Code that works on a round wraps the work in `bound(round_id=..., coalition=...)`; a filter
puts those fields, and the RQ job's id, on every record logged inside, whatever the logger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

FIELDS = ("job_id", "round_id", "coalition")
_context: ContextVar[dict[str, Any] | None] = ContextVar("cos_log_context", default=None)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add fields to every log record written inside the block (nested blocks add more)."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Stamp each record with job_id, round_id and coalition ('-' where unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields; never drops a record."""
        from rq import get_current_job

        context = _context.get() or {}
        job = get_current_job()
        record.job_id = job.id if job else context.get("job_id", "-")
        record.round_id = context.get("round_id", "-")
        record.coalition = context.get("coalition", "-")
        return True
