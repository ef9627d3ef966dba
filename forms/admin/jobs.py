"""The admin jobs page: what waits, runs and failed in each queue, and a retry for failures.

Admins only (the gate refuses leads: these endpoints are not lead-readable). The page reads
and acts through pipeline.jobs, as `cos jobs` does.
"""

from __future__ import annotations

import redis
from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

from forms.admin.access import settings
from forms.admin.views import bp
from pipeline import jobs
from pipeline.core.display import plural
from pipeline.queues import QueueUnavailable, connect


class RetryJobForm(FlaskForm):
    """Put one failed job back on its queue."""

    job_id = HiddenField(validators=[DataRequired(), Length(max=200)])


class RetryQueueForm(FlaskForm):
    """Put every failed job of one queue back."""

    queue = HiddenField(validators=[DataRequired(), Length(max=100)])


STALE = "Nothing was retried: the page was open too long. Press the button again."


@bp.get("/jobs")
def jobs_page() -> ResponseReturnValue:
    """List each queue's queued, scheduled, started and failed jobs."""
    problem, found = "", []
    try:
        found = jobs.list_jobs(connect(settings()))
    except (QueueUnavailable, redis.exceptions.RedisError, OSError) as exc:
        problem = f"The queues cannot be read: {exc}"
    return render_template("admin/jobs.html", queues=found, problem=problem,
                           states=jobs.STATES, retry_form=RetryJobForm(),
                           retry_all_form=RetryQueueForm())


@bp.post("/jobs/retry")
def retry_job() -> ResponseReturnValue:
    """Put one failed job back on its queue."""
    form = RetryJobForm()
    if form.validate_on_submit():
        job = jobs.retry(connect(settings()), form.job_id.data or "")
        flash(f"Job {job.id} ({job.function}) is back on {job.queue}: a worker runs it next.")
    else:
        flash(STALE)
    return redirect(url_for("admin.jobs_page"), code=303)


@bp.post("/jobs/retry-all")
def retry_all_jobs() -> ResponseReturnValue:
    """Put every failed job of one queue back."""
    form = RetryQueueForm()
    if form.validate_on_submit():
        count = jobs.retry_all(connect(settings()), form.queue.data or "")
        flash(f"{plural(count, 'failed job')} of {form.queue.data} back on the queue.")
    else:
        flash(STALE)
    return redirect(url_for("admin.jobs_page"), code=303)
