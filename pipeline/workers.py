"""Running RQ workers on the project's queues."""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import redis
from rq import SimpleWorker, Worker, worker_registration
from rq.worker import WorkerStatus

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
        queues.load_job_modules()
        connection = queues.connect(settings)
        work_queues = [queues.queue(name, connection) for name in queues.QUEUES]
        SimpleWorker(work_queues, connection=connection).work(burst=True, logging_level="WARNING")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# How long to wait between pings while Redis is away, at most.
RECONNECT_WAIT_MAX = 10.0


def run_worker(settings: Settings, *, burst: bool = False, simple: bool = False,
               on_reconnect: Callable[[], None] | None = None) -> bool:
    """Work the project's queues until stopped (or until empty with burst).

    RQ's loop ends by itself when Redis goes away (a timeout, a restart that lost its
    registrations). Unless a stop was asked for, wait for Redis to answer again, call
    on_reconnect (the reconcile sweep: a Redis restarted empty lost the queued work, which
    the database still knows) and work on with a fresh RQ worker.
    """
    queues.configure(settings)
    queues.load_job_modules()
    quiet_expected_failures()
    if not simple:
        # The forking Worker runs each job in a child that starts from this process's memory:
        # templates, Premailer's parsed CSS and the inliner's shapes made here are every job's.
        from emails.render import warm

        warm()
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    worker_class = watching(SimpleWorker if simple else SendingWorker, on_reconnect)
    worked = False
    while True:
        worker = None
        try:
            connection = queues.connect(settings)
            work_queues = [queues.queue(name, connection) for name in queues.QUEUES]
            worker = worker_class(work_queues, connection=connection)
            worked |= bool(worker.work(burst=burst, with_scheduler=True, logging_level=level))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            log.warning("lost Redis: %s", exc)
        if burst or stop_was_asked(worker):
            return worked
        try:
            wait_for_redis(settings)
        except KeyboardInterrupt:
            return worked
        log.warning("Redis answers again: rebuilding the queued work and working on")
        if on_reconnect is not None:
            try:
                on_reconnect()
            except Exception:  # noqa: BLE001 - the queues are worked anyway
                log.exception("the reconcile sweep after reconnecting failed")


class SendingWorker(Worker):
    """RQ's forking Worker, except that send jobs run in the worker's own process.

    A send job is a batch of ledger rows over a few SMTP connections; in the worker's process it
    keeps, from one job to the next, the rendered shapes of the emails (emails.personal,
    emails.inline), the SMTP and database connections' set-up and the compiled statements,
    and pays no fork. Every other job (merges, webhooks) still runs in a work horse. The
    ledger's guarantees do not depend on where a send runs: a killed worker leaves its claims
    to be taken over (its process is gone) exactly as a killed work horse does.
    """

    def execute_job(self, job: Any, queue: Any) -> None:
        """Run a send job here, as SimpleWorker runs every job; fork for the others."""
        if job.func_name not in queues.SEND_JOBS:
            super().execute_job(job, queue)
            return
        self.prepare_execution(job)
        with queues.in_worker_process():
            self.perform_job(job, queue)
        self.set_state(WorkerStatus.IDLE)

    def get_heartbeat_ttl(self, job: Any) -> int:
        """As SimpleWorker's for a send job: nothing beats the heartbeat while it runs here."""
        if job.func_name in queues.SEND_JOBS:
            return SimpleWorker.get_heartbeat_ttl(self, job)  # type: ignore[arg-type]
        return int(super().get_heartbeat_ttl(job))


def watching(base: type[Any], on_restart: Callable[[], None] | None) -> type[Any]:
    """Return a worker class that notices a Redis restarted under it.

    RQ reconnects by itself after a short outage, but a Redis that restarted empty lost the
    queued work and the worker's registration: each heartbeat compares Redis's run_id with
    the one seen before and, when it changed, registers the worker again and calls
    on_restart (the reconcile sweep, which queues again what the database says is left).
    """

    class RedisWatchingWorker(base):
        redis_run_id: str | None = None

        def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
            result = super().heartbeat(*args, **kwargs)
            try:
                run_id = str(self.connection.info("server").get("run_id", ""))
            except redis.exceptions.RedisError:
                return result
            if self.redis_run_id is None:
                self.redis_run_id = run_id
            elif run_id != self.redis_run_id:
                self.redis_run_id = run_id
                log.warning("Redis restarted (its queues may be empty): rebuilding the "
                            "queued work from the database")
                try:
                    worker_registration.register(self)
                    if on_restart is not None:
                        on_restart()
                except Exception:  # noqa: BLE001 - the worker goes on either way
                    log.exception("rebuilding the queued work after a Redis restart failed")
            return result

    RedisWatchingWorker.__name__ = base.__name__
    return RedisWatchingWorker


def stop_was_asked(worker: Worker | None) -> bool:
    """Say whether the worker got SIGTERM or SIGINT (a warm or cold shutdown), as opposed
    to its loop ending by itself when Redis went away."""
    if worker is None:
        return False
    return bool(worker._stop_requested or getattr(worker, "_shutdown_requested_date", None))


def wait_for_redis(settings: Settings) -> None:
    """Ping Redis until it answers, waiting longer each time (at most RECONNECT_WAIT_MAX s).

    SIGTERM while waiting stops the worker (KeyboardInterrupt), as Ctrl-C does.
    """

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    wait = 0.5
    while not queues.ping(queues.redis_url(settings)):
        log.warning("waiting for Redis at %s", queues.redis_url(settings))
        time.sleep(wait)
        wait = min(wait * 2, RECONNECT_WAIT_MAX)
