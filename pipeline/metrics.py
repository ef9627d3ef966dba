"""Prometheus figures, read fresh from the database and Redis at each scrape.

Nothing is counted in process memory, so any number of web nodes and workers give one truth,
and a restart loses nothing: the ledger and the queues are the counters.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func
from sqlmodel import col, select

from pipeline import queues
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.models import Delivery, Response, WebhookDelivery


class CosCollector(Collector):
    """Queue depths, jobs done and failed, emails by status and kind, answers received."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        """Yield each figure; a service that does not answer yields cos_up{service} 0."""
        up = GaugeMetricFamily("cos_up", "Whether the service answered this scrape.",
                               labels=["service"])
        emails = GaugeMetricFamily("cos_emails", "Ledger rows by email kind and status "
                                   "(sent, failed, rejected, expired, queued, sending).",
                                   labels=["kind", "status"])
        answers = GaugeMetricFamily("cos_answers", "Answers received (every revision).")
        hooks = GaugeMetricFamily("cos_webhook_messages", "Webhook messages by event and "
                                  "status (pending, delivered, failed).",
                                  labels=["event", "status"])
        try:
            with session_scope(self.settings.database_url, read_only=True) as session:
                for kind, status, count in session.exec(
                        select(Delivery.kind, Delivery.status, func.count())
                        .group_by(col(Delivery.kind), col(Delivery.status))):
                    emails.add_metric([kind, status], count)
                answers.add_metric([], session.exec(select(func.count(col(Response.id)))).one())
                for event, status, count in session.exec(
                        select(WebhookDelivery.event_type, WebhookDelivery.status, func.count())
                        .group_by(col(WebhookDelivery.event_type),
                                  col(WebhookDelivery.status))):
                    hooks.add_metric([event, status], count)
            up.add_metric(["database"], 1)
            yield emails
            yield answers
            yield hooks
        except Exception:  # noqa: BLE001 - a scrape reports the outage, it does not fail
            up.add_metric(["database"], 0)
        depth = GaugeMetricFamily("cos_queue_jobs", "RQ jobs by queue and state.",
                                  labels=["queue", "state"])
        try:
            conn = queues.connect(self.settings)
            for name in queues.QUEUES:
                q = queues.queue(name, conn)
                for state, count in (("queued", q.count),
                                     ("started", q.started_job_registry.count),
                                     ("scheduled", q.scheduled_job_registry.count),
                                     ("finished", q.finished_job_registry.count),
                                     ("failed", q.failed_job_registry.count)):
                    depth.add_metric([name, state], count)
            yield depth
            yield from _worker_figures(conn)
            up.add_metric(["redis"], 1)
        except (redis.exceptions.RedisError, OSError, queues.QueueUnavailable):
            up.add_metric(["redis"], 0)
        yield up


def _worker_figures(conn: redis.Redis) -> Iterator[Metric]:
    """Live workers, and the jobs they finished and failed since each started (RQ's own
    per-worker counts: a worker that exits takes its counts with it)."""
    from rq import Worker

    live = Worker.all(connection=conn)
    workers = GaugeMetricFamily("cos_workers", "RQ workers alive now.")
    workers.add_metric([], len(live))
    jobs = GaugeMetricFamily("cos_worker_jobs", "Jobs the live workers have done, by outcome.",
                             labels=["outcome"])
    jobs.add_metric(["done"], sum(w.successful_job_count or 0 for w in live))
    jobs.add_metric(["failed"], sum(w.failed_job_count or 0 for w in live))
    yield workers
    yield jobs


def exposition(settings: Settings) -> bytes:
    """Return the figures in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CosCollector(settings))
    return generate_latest(registry)
