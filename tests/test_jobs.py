"""Queue visibility through a real Redis: a failed job shows on the admin jobs page and in
`cos jobs`, a retry puts it back and a worker then runs it; leads and strangers are refused."""

from __future__ import annotations

from typing import Any

import pytest
from rq.job import Job

from forms import create_app
from pipeline import jobs
from pipeline.admins import create_admin
from pipeline.db import session_scope
from pipeline.queues import connect, enqueue_merge
from pipeline.workers import run_burst
from tests.helpers import cos, load, open_round, work
from tests.test_admin import ADMIN, LEE, PASSWORD, csrf_of, sign_in, sign_in_lead


@pytest.fixture
def jobs_app(settings):  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as db:
        create_admin(db, ADMIN, PASSWORD)
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


def failed_merge(settings: Any, tmp_path: Any) -> str:
    """Queue a merge and run it while the database is out of reach, so it fails."""
    load(settings)
    round_id, _ = open_round(settings, "harbour-air")
    enqueue_merge(settings, round_id)
    from pipeline.queues import MERGE_QUEUE, queue

    for job in queue(MERGE_QUEUE, connect(settings)).get_jobs():  # a merge retries: not this one
        job.retries_left = 0
        job.save()
    run_burst(settings.with_(database_url=f"sqlite:///{tmp_path}/gone/nowhere/cos.db"))
    failed = jobs.list_jobs(connect(settings), failed_only=True)
    ids = [j.id for q in failed for j in q.jobs["failed"]]
    assert len(ids) == 1, failed
    return ids[0]


def test_a_failed_job_is_listed_and_a_retry_from_the_page_runs_it_again(
        jobs_app, settings, tmp_path):
    job_id = failed_merge(settings, tmp_path)
    client = jobs_app.test_client()
    sign_in(client)
    page = client.get("/admin/jobs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "<h1>Jobs" in html, html.split("<main")[1]
    assert job_id in html and "merge_job" in html and "OperationalError" in html
    assert "1 failed" in html

    refused = client.post("/admin/jobs/retry", data={"job_id": job_id})  # no CSRF token
    assert refused.status_code == 303
    assert jobs.list_jobs(connect(settings), failed_only=True)[0].counts["failed"] == 1

    done = client.post("/admin/jobs/retry", data={"job_id": job_id, "csrf_token": csrf_of(html)})
    assert done.status_code == 303
    after = client.get("/admin/jobs").get_data(as_text=True)
    assert "is back on cos-merge" in after
    merge = next(q for q in jobs.list_jobs(connect(settings)) if q.name == "cos-merge")
    assert merge.counts["failed"] == 0 and [j.id for j in merge.jobs["queued"]] == [job_id]

    work(settings)
    job = Job.fetch(job_id, connection=connect(settings))
    assert job.get_status() == "finished" and "merged 0 answers" in str(job.return_value())


def test_retry_all_puts_back_every_failed_job_of_a_queue(jobs_app, settings, tmp_path):
    job_id = failed_merge(settings, tmp_path)
    client = jobs_app.test_client()
    sign_in(client)
    html = client.get("/admin/jobs").get_data(as_text=True)
    client.post("/admin/jobs/retry-all", data={"queue": "cos-merge",
                                              "csrf_token": csrf_of(html)})
    assert "1 failed job of cos-merge back" in client.get("/admin/jobs").get_data(as_text=True)
    work(settings)
    assert Job.fetch(job_id, connection=connect(settings)).get_status() == "finished"


def test_retrying_a_job_that_is_not_failed_says_so(jobs_app, settings):
    client = jobs_app.test_client()
    sign_in(client)
    html = client.get("/admin/jobs").get_data(as_text=True)
    response = client.post("/admin/jobs/retry", data={"job_id": "merge-1-nope",
                                                     "csrf_token": csrf_of(html)})
    assert response.status_code == 404
    assert "no failed job" in response.get_data(as_text=True)


def test_a_lead_and_a_signed_out_visitor_are_refused(jobs_app, settings, tmp_path):
    job_id = failed_merge(settings, tmp_path)
    stranger = jobs_app.test_client()
    for method, url in (("GET", "/admin/jobs"), ("POST", "/admin/jobs/retry"),
                        ("POST", "/admin/jobs/retry-all")):
        response = stranger.open(url, method=method, data={"job_id": job_id})
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/sign-in")
    lead = jobs_app.test_client()
    sign_in_lead(lead, settings, LEE)
    assert lead.get("/admin/").status_code == 200
    for method, url in (("GET", "/admin/jobs"), ("POST", "/admin/jobs/retry"),
                        ("POST", "/admin/jobs/retry-all")):
        assert lead.open(url, method=method, data={"job_id": job_id}).status_code == 403
    assert "Jobs" not in lead.get("/admin/").get_data(as_text=True).split("<main")[0]
    assert jobs.list_jobs(connect(settings), failed_only=True)[0].counts["failed"] == 1


def test_cos_jobs_lists_failures_and_retries_them(settings, tmp_path):
    job_id = failed_merge(settings, tmp_path)
    listed = cos(settings, "jobs", "--failed")
    assert listed.exit_code == 0, listed.output
    assert job_id in listed.stdout and "cos-merge: 1 failed" in listed.stdout
    assert "OperationalError" in listed.stdout
    missing = cos(settings, "jobs", "--retry", "no-such-job")
    assert missing.exit_code == 1 and "no failed job" in missing.output
    retried = cos(settings, "jobs", "--retry", job_id)
    assert retried.exit_code == 0 and "back on cos-merge" in retried.stdout
    assert job_id in cos(settings, "jobs").stdout
    work(settings)
    assert Job.fetch(job_id, connection=connect(settings)).get_status() == "finished"
    assert "0 failed jobs" in cos(settings, "jobs", "--retry-all").stdout
