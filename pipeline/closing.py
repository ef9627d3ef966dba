"""Closing a round: stop its links, merge every answer, then send the leads their digest."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import select

from pipeline.campaigns import close_campaign
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.deliveries import send_in_process
from pipeline.digest import queue_digest
from pipeline.merge import merge_campaign
from pipeline.models import Delivery


@dataclass
class CloseReport:
    """What closing a round did."""

    campaign_id: int
    answers: int = 0
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: int = 0  # leads who already had this round's digest


def send_digest(settings: Settings, campaign_id: int, report: CloseReport) -> None:
    """Send the digest to every lead not sent it yet, recording each outcome in the report."""
    with session_scope(settings.database_url) as session:
        delivery_ids = queue_digest(session, campaign_id)
        report.skipped = len(session.exec(select(Delivery.id).where(
            Delivery.campaign_id == campaign_id, Delivery.kind == "digest",
            Delivery.status == "sent")).all())
    for outcome in send_in_process(settings, delivery_ids):
        if outcome.status == "sent":
            report.sent.append(outcome.detail)
        elif outcome.status == "skipped":
            report.skipped += 1  # another process sent it meanwhile
        else:
            report.failed.append(outcome.detail)


def finish_round(settings: Settings, campaign_id: int) -> CloseReport:
    """Close a round, merge what is left, and send the digest; safe to run again."""
    report = CloseReport(campaign_id)
    with session_scope(settings.database_url) as session:
        close_campaign(session, campaign_id)
    with session_scope(settings.database_url) as session:
        report.answers = merge_campaign(session, campaign_id).answers
    send_digest(settings, campaign_id, report)
    return report

