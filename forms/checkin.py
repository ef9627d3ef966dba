"""The partner check-in pages: GET shows the form and changes nothing, POST records a revision."""

from __future__ import annotations

import functools
import logging
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from emails.format import N_
from forms.checkin_form import (
    answers_from,
    checkboxes,
    make_form,
    note_field,
    radios,
    reading_field,
    recorded,
    status_field,
)
from forms.languages import use_language
from forms.ratelimit import rate_limited
from pipeline import webhooks
from pipeline.checkin import (
    PULSE_LABELS,
    STATUS_LABELS,
    Checkin,
    LinkProblem,
    ensure_still_open,
    open_checkin,
    organisations_named,
    record_answers,
)
from pipeline.config import Settings
from pipeline.core.phases import ReadinessItem
from pipeline.db import session_scope
from pipeline.queues import QueueUnavailable, enqueue_merge

log = logging.getLogger(__name__)
bp = Blueprint("checkin", __name__)
bp.add_app_template_global(radios)
bp.add_app_template_global(checkboxes)


def settings() -> Settings:
    """Return the app's settings."""
    settings: Settings = current_app.config["COS_SETTINGS"]
    return settings


def problem(exc: LinkProblem) -> ResponseReturnValue:
    """Render a link problem page, the same for every bad token."""
    return render_template("problem.html", title=exc.title, message=exc.message), exc.status


def page(checkin: Checkin, form: Any, *, status: int = 200,
         notice: str | None = None) -> ResponseReturnValue:
    """Render the check-in page."""
    use_language(checkin.language)
    return render_template(
        "checkin.html", checkin=checkin, form=form, notice=notice,
        status_field=status_field, note_field=note_field, reading_field=reading_field,
        status_labels=STATUS_LABELS, pulse_labels=PULSE_LABELS,
        readiness_items=[i.value for i in ReadinessItem],
    ), status


def _read(token: str) -> Checkin | ResponseReturnValue:
    """Open a check-in read-only, or render the page that says why the link does not work."""
    with session_scope(settings().database_url, read_only=True) as session:
        try:
            return open_checkin(session, token)
        except LinkProblem as exc:
            return problem(exc)


@bp.route("/c/<token>", methods=["GET"])
@rate_limited("token")
def show(token: str) -> ResponseReturnValue:
    """Show the check-in form, prefilled with the latest answers (read-only: scanners GET too)."""
    checkin = _read(token)
    if not isinstance(checkin, Checkin):
        return checkin
    return page(checkin, make_form(checkin))


@bp.route("/c/<token>", methods=["POST"])
@rate_limited("token")
def submit(token: str) -> ResponseReturnValue:
    """Validate and store the answers, queue the merge, and send the partner to the thanks page.

    The link is read and the answers checked without a write lock; only storing them takes
    one (on SQLite, one writer at a time), in a short transaction that first makes sure the
    check-in is still open."""
    url = settings().database_url
    with session_scope(url, read_only=True) as reader:
        try:
            checkin = open_checkin(reader, token)
        except LinkProblem as exc:
            return problem(exc)
        use_language(checkin.language)  # the fields' errors are written in it
        form = make_form(checkin, formdata=request.form,
                         find_organisations=functools.partial(organisations_named, reader,
                                                              checkin))
        if not form.validate():
            if "csrf_token" in form.errors and len(form.errors) == 1:
                notice = N_("This page was open for a long time (or cookies are off), so for "
                            "your safety nothing was saved yet. Your answers are still here: "
                            "press \u201cSave my check-in\u201d again.")
            else:
                notice = N_("Some answers need a fix (marked below). Everything else is kept.")
            return page(checkin, form, status=400, notice=notice)
        answers = answers_from(form, checkin)
        announce = webhooks.listening(reader, checkin.round_id)
    with session_scope(url) as session:
        try:
            ensure_still_open(session, checkin)
        except LinkProblem as exc:
            return problem(exc)
        response = record_answers(session, checkin, answers)
        hooks = webhooks.announce_answer(session, response) if announce else []
    webhooks.queue_quietly(settings(), hooks)
    # Committed above, so the answer is safe even if Redis is down: reconcile merges it later.
    try:
        enqueue_merge(settings(), checkin.round_id)
    except QueueUnavailable as exc:
        log.warning("answer saved, merge not queued for round %s: %s", checkin.round_id, exc)
    return redirect(url_for("checkin.thanks", token=token), code=303)


@bp.route("/c/<token>/thanks", methods=["GET"])
@rate_limited("token")
def thanks(token: str) -> ResponseReturnValue:
    """Show what was recorded, with a link back to edit."""
    checkin = _read(token)
    if not isinstance(checkin, Checkin):
        return checkin
    if checkin.latest is None:
        return redirect(url_for("checkin.show", token=token), code=303)
    use_language(checkin.language)
    return render_template("thanks.html", checkin=checkin, summary=summarise(checkin),
                           pulse_labels=PULSE_LABELS)


def summarise(checkin: Checkin) -> dict[str, Any]:
    """Turn the latest answers into labelled lines for the thank-you page."""
    answers = checkin.latest or {}
    by_id = {str(c.id): c for c in checkin.commitments}
    metrics = {str(m.id): m for m in checkin.metrics}
    orgs = dict(checkin.other_organisations)
    return {
        "commitments": [
            (by_id[k].text, STATUS_LABELS.get(v.get("status", ""), N_("No status")),
             v.get("note", ""))
            for k, v in (answers.get("commitments") or {}).items() if k in by_id
        ],
        "readings": [(metrics[k].name, recorded(v, checkin.locale), metrics[k].unit)
                     for k, v in (answers.get("readings") or {}).items() if k in metrics],
        "new_commitment": answers.get("new_commitment"),
        "win": answers.get("win"),
        "blocker": answers.get("blocker"),
        "help_wanted": answers.get("help_wanted"),
        "pulse": answers.get("pulse"),
        "helped_by": [orgs.get(i, "?") for i in answers.get("helped_by") or []],
    }


