"""Running RQ workers on the project's queues."""

from __future__ import annotations

import logging
import signal
import sys

from rq import SimpleWorker, Worker

from emails import DeliveryError
from pipeline import queues
from pipeline.config import Settings

log = logging.getLogger(__name__)


class ExpectedFailureFilter(logging.Filter):
    """Drop RQ's traceback for a temporary mail failure: the sender already logged it in one
    line ("delivery 12 failed, will retry: ..."), and RQ retries it; real bugs keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False for RQ's "exception raised while executing" record of a DeliveryError."""
        current = sys.exc_info()[1]
        return not (isinstance(current, DeliveryError) and "exception raised" in str(record.msg))


def quiet_expected_failures() -> None:
    """Install ExpectedFailureFilter on RQ's worker logger once."""
    rq_log = logging.getLogger("rq.worker")
    if not any(isinstance(f, ExpectedFailureFilter) for f in rq_log.filters):
        rq_log.addFilter(ExpectedFailureFilter())


def run_burst(settings: Settings) -> None:
    """Run every queued job in this process until the queues are empty.

    RQ installs its own SIGINT/SIGTERM handlers; they are put back afterwards so that Ctrl-C
    in the calling program (the demo, a test run) still means what it meant before.
    """
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    quiet_expected_failures()
    try:
        queues.configure(settings)
        connection = queues.connect(settings)
        work_queues = [queues.queue(name, connection) for name in queues.QUEUES]
        SimpleWorker(work_queues, connection=connection).work(burst=True, logging_level="WARNING")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def run_worker(settings: Settings, *, burst: bool = False, simple: bool = False) -> bool:
    """Work the project's queues until stopped (or until empty with burst)."""
    queues.configure(settings)
    quiet_expected_failures()
    connection = queues.connect(settings)
    work_queues = [queues.queue(name, connection) for name in queues.QUEUES]
    worker_class = SimpleWorker if simple else Worker
    if not simple:
        # The forking Worker runs each job in a child that starts from this process's memory:
        # templates, Premailer's parsed CSS and the inliner's shapes made here are every job's.
        from emails.render import warm

        warm()
    worker = worker_class(work_queues, connection=connection)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    return bool(worker.work(burst=burst, with_scheduler=True, logging_level=level))
