"""What every log line says about where it comes from: the job, the round and the coalition.

Code that works on a round wraps the work in `bound(round_id=..., coalition=...)`; a filter
puts those fields, and the RQ job's id, on every record logged inside, whatever the logger.
"""

from __future__ import annotations

import logging
import re
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



# A link's token in a path (/c/<token>, /c/<token>/thanks), and a password in a URL.
SECRETS = (
    (re.compile(r"(/c/)[A-Za-z0-9_-]{16,}"), r"\1[token]"),
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+(@)"), r"\1***\2"),
)


def redact(text: str) -> str:
    """Return the text with link tokens and URL passwords replaced by placeholders."""
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactFilter(logging.Filter):
    """Take link tokens and passwords out of a record's message and traceback.

    On a handler it cleans everything that handler writes; on a logger (werkzeug's and
    gunicorn's access logs, the Flask app's) it cleans the records made there, for every handler.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops one."""
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# Loggers that write request paths: the development server's, gunicorn's and Flask's own.
PATH_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error", "forms", "flask.app")


def install_redaction(*handlers: logging.Handler) -> None:
    """Put one RedactFilter on each logger that writes request paths, and on these handlers."""
    targets: list[logging.Filterer] = [logging.getLogger(n) for n in PATH_LOGGERS]
    for target in [*targets, *handlers]:
        if not any(isinstance(f, RedactFilter) for f in target.filters):
            target.addFilter(RedactFilter())
