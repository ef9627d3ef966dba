"""Logging for every `cos` process: plain lines for people, or one JSON object per line.

COS_LOG_FORMAT=json gives {"time", "level", "logger", "message", "job_id", "round_id",
"coalition"} per line (plus "exception" with the traceback), for log shippers; anything else
gives `time LEVEL [job round coalition] logger: message`. COS_LOG_LEVEL (DEBUG, INFO, WARNING,
ERROR) overrides the level a command chooses. Link tokens and passwords are redacted from every
line (pipeline.logcontext.RedactFilter).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

from pipeline.config import ConfigError
from pipeline.logcontext import FIELDS, ContextFilter, install_redaction

PLAIN = ("%(asctime)s %(levelname)s [%(job_id)s %(round_id)s %(coalition)s] %(name)s: "
         "%(message)s")


class JsonFormatter(logging.Formatter):
    """Write a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record's fields as JSON; the traceback, if any, as one string."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            **{name: getattr(record, name, "-") for name in FIELDS},
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(level: int, *, own_process: bool = False) -> None:
    """Send every logger's records to stderr in the format COS_LOG_FORMAT asks for.

    A long-running process (`own_process`) replaces whatever handlers were there; a command
    run inside another program (a test, a script) keeps that program's handlers.
    """
    root = logging.getLogger()
    if root.handlers and not own_process:
        return
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    wanted = os.environ.get("COS_LOG_FORMAT", "").strip().lower()
    handler.setFormatter(JsonFormatter() if wanted == "json" else logging.Formatter(PLAIN))
    chosen = os.environ.get("COS_LOG_LEVEL", "").strip().upper()
    if chosen:
        if not isinstance(logging.getLevelName(chosen), int):
            raise ConfigError(f"COS_LOG_LEVEL={chosen!r} is not one of DEBUG, INFO, WARNING, "
                              "ERROR")
        level = logging.getLevelName(chosen)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    install_redaction(handler)
