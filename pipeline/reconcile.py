"""The reconcile sweep: merge answers left unmerged and re-queue emails not sent.

It repairs what a dead Redis or a stopped worker left behind; `cos worker` runs it at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline import ledger, queues
from pipeline.config import Settings
from pipeline.core.display import plural
from pipeline.db import session_scope
from pipeline.merge import merge_round, unmerged_rounds


@dataclass
class ReconcileReport:
    """What a reconcile sweep found and did."""

    merged: list[int] = field(default_factory=list)
    queued_emails: int = 0
    queue_problem: str = ""


def reconcile(settings: Settings) -> ReconcileReport:
    """Merge every answer left unmerged and re-queue every email not sent yet."""
    report = ReconcileReport()
    with session_scope(settings.database_url) as session:
        round_ids = unmerged_rounds(session)
    for round_id in round_ids:
        with session_scope(settings.database_url) as session:
            merge_round(session, round_id)
        report.merged.append(round_id)
    with session_scope(settings.database_url) as session:
        delivery_ids = ledger.pending_rows(session)
    try:
        report.queued_emails = queues.enqueue_sends(settings, delivery_ids)
    except queues.QueueUnavailable as exc:
        report.queue_problem = f"{plural(len(delivery_ids), 'email')} still waiting: {exc}"
    return report
