"""The reconcile sweep: merge answers left unmerged and re-queue emails not sent.

It repairs what a dead Redis or a stopped worker left behind; `cos worker` runs it at start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pipeline import ledger, queues, webhooks
from pipeline.config import Settings
from pipeline.core.display import error_line, plural
from pipeline.db import session_scope
from pipeline.merge import merge_round_at, unmerged_rounds

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What a reconcile sweep found and did."""

    merged: list[int] = field(default_factory=list)
    queued_emails: int = 0
    queued_webhooks: int = 0  # webhook messages whose job was lost (a Redis restart)
    queue_problem: str = ""
    # Rounds whose merge failed, and why: each is left for the next sweep, the rest go on.
    failed: dict[int, str] = field(default_factory=dict)
    # Answers a merge had to leave out: round -> {person name: why}.
    skipped: dict[int, dict[str, str]] = field(default_factory=dict)


def reconcile(settings: Settings) -> ReconcileReport:
    """Merge every answer left unmerged and re-queue every email not sent yet."""
    report = ReconcileReport()
    with session_scope(settings.database_url) as session:
        round_ids = unmerged_rounds(session)
    for round_id in round_ids:
        try:
            result = merge_round_at(settings.database_url, round_id)
        except Exception as exc:  # noqa: BLE001 - one round's failure must not stop the sweep
            log.exception("reconcile: merging round %s failed", round_id)
            report.failed[round_id] = error_line(exc)
            continue
        report.merged.append(round_id)
        if result.skipped:
            report.skipped[round_id] = result.skipped
    with session_scope(settings.database_url) as session:
        delivery_ids = ledger.pending_rows(session)
    try:
        waiting = queues.rows_waiting(settings)  # a sweep run twice queues each row once
        report.queued_emails = queues.enqueue_sends(
            settings, [d for d in delivery_ids if d not in waiting])
    except queues.QueueUnavailable as exc:
        report.queue_problem = f"{plural(len(delivery_ids), 'email')} still waiting: {exc}"
    with session_scope(settings.database_url) as session:
        hook_ids = webhooks.due(session)
    try:
        report.queued_webhooks = webhooks.enqueue(settings, hook_ids)
    except queues.QueueUnavailable as exc:
        report.queue_problem = report.queue_problem or (
            f"{plural(len(hook_ids), 'webhook message')} still waiting: {exc}")
    return report


# Waits before a sweep that failed (the database locked or restarting) is tried again.
SWEEP_RETRY_INTERVALS = (5, 30, 120, 600)


def reconcile_job() -> str:
    """Run the sweep as an RQ job (queued when a worker's own sweep failed); raising lets
    RQ try it again after SWEEP_RETRY_INTERVALS."""
    report = reconcile(queues.current_settings())
    if report.failed:
        raise RuntimeError(f"rounds not merged: {report.failed}")
    return f"merged rounds {report.merged}, queued {plural(report.queued_emails, 'email')}"


def enqueue_reconcile(settings: Settings) -> None:
    """Queue a sweep for a worker to run (and retry), e.g. after the start-up one failed."""
    import redis
    from rq import Retry

    try:
        queues.queue(queues.MERGE_QUEUE, queues.connect(settings)).enqueue(
            reconcile_job, retry=Retry(max=len(SWEEP_RETRY_INTERVALS),
                                       interval=list(SWEEP_RETRY_INTERVALS)),
            result_ttl=60, failure_ttl=7 * 86400)
    except (redis.exceptions.RedisError, OSError) as exc:
        raise queues.QueueUnavailable(f"Redis unreachable ({exc})") from exc
