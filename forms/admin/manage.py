"""Admin pages that change how a coalition runs: its cadence, its rounds' life (pause, resume,
cancel), suppressed addresses, the coalition's win, stage and metrics, and win-echo marks.

Each view reads a form and calls the pipeline function the matching `cos` command calls.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlmodel import col, select

from forms.admin.access import settings, viewer
from forms.admin.forms import MAPPING_KEYS, ActionForm, CadenceForm, EditCoalitionForm
from forms.admin.views import bp, queue
from pipeline.coalitions import (
    LoadError,
    MetricEdit,
    cadence_of,
    change_cadence,
    edit_coalition,
    upcoming_steps,
)
from pipeline.core.display import format_local_short, plural
from pipeline.db import session_scope
from pipeline.errors import FixableError
from pipeline.lifecycle import (
    cancel_round,
    pause_round,
    restore_people,
    resume_round,
    round_state,
    stepped_back,
)
from pipeline.models import Metric, Organisation, Round
from pipeline.rounds import get_coalition, get_round

log = logging.getLogger(__name__)


def _form_problems(form: Any) -> list[str]:
    if form.errors.get("csrf_token"):
        return ["The page was open too long or cookies are off: nothing was saved. "
                "Please try again."]
    return [f"{form[f].label.text}: {' '.join(map(str, e))}" if f in form else str(e)
            for f, e in form.errors.items()]


# --- cadence ---------------------------------------------------------------------------------


@bp.route("/c/<slug>/cadence", methods=["GET", "POST"])
def cadence(slug: str) -> ResponseReturnValue:
    """See the schedule and its next steps, edit it, and act on the rounds and addresses."""
    form = CadenceForm()
    problems: list[str] = []
    if request.method == "POST":
        if form.validate_on_submit():
            changes = [f"{key}={(getattr(form, key).data or '').strip()}"
                       for key in MAPPING_KEYS]
            if (form.pause_after_failures.data or "").strip():
                changes.append(f"pause_after_failures={form.pause_after_failures.data}")
            try:
                with session_scope(settings().database_url) as db:
                    change_cadence(db, slug, changes)
                flash("The cadence is saved; it applies from now on.")
                return redirect(url_for("admin.cadence", slug=slug), code=303)
            except LoadError as exc:
                problems = list(exc.problems)
        else:
            problems = _form_problems(form)
    with session_scope(settings().database_url, read_only=True) as db:
        found = get_coalition(db, slug)
        current = cadence_of(found)
        steps = upcoming_steps(db, found, 8)
        rounds = [(r, round_state(db, r)) for r in db.exec(
            select(Round).where(Round.coalition_id == found.id)
            .order_by(col(Round.number).desc())).all()[:5]]
        back = stepped_back(db, found)
    tz = current.timezone if current else found.timezone
    if request.method == "GET":
        stored = current.to_mapping() if current else {}
        for key in MAPPING_KEYS:
            value = stored.get(key, "")
            getattr(form, key).data = ", ".join(value) if isinstance(value, list) else str(value)
        form.pause_after_failures.data = str(found.pause_after_failures)
    shown_steps = [{"at": format_local_short(st.due_at, tz), "period": st.period,
                    "kind": st.kind} for st in steps]
    return render_template(
        "admin/cadence.html", coalition=found, cadence=current, steps=shown_steps, tz=tz,
        rounds=rounds, back=back, form=form if viewer().is_admin else None,
        problems=problems, keys=MAPPING_KEYS, action=ActionForm()), 400 if problems else 200


def _round_action(round_id: int, act: Any) -> ResponseReturnValue:
    """Run a round action after checking the form's CSRF token; go back to the cadence page."""
    with session_scope(settings().database_url, read_only=True) as db:
        slug = get_coalition_slug(db, round_id)
    if not ActionForm().validate_on_submit():
        flash("Nothing was done: the page was open too long. Press the button again.")
    else:
        try:
            flash(act())
        except FixableError as exc:
            flash(f"Nothing was done: {exc}.")
    return redirect(url_for("admin.cadence", slug=slug), code=303)


def get_coalition_slug(db: Any, round_id: int) -> str:
    """Return the slug of a round's coalition."""
    from pipeline.models import Coalition

    round_ = get_round(db, round_id)
    coalition = db.get(Coalition, round_.coalition_id)
    return str(coalition.slug)


@bp.post("/rounds/<int:round_id>/pause")
def pause(round_id: int) -> ResponseReturnValue:
    """Hold a round's emails until it is resumed (`cos campaign pause`)."""
    def act() -> str:
        with session_scope(settings().database_url) as db:
            number = pause_round(db, str(round_id)).number
        return f"Round {number} is paused: nothing more of it is sent until you resume it."
    return _round_action(round_id, act)


@bp.post("/rounds/<int:round_id>/resume")
def resume(round_id: int) -> ResponseReturnValue:
    """Send a paused round's waiting emails again (`cos campaign resume`)."""
    def act() -> str:
        with session_scope(settings().database_url) as db:
            round_, waiting = resume_round(db, str(round_id))
            number = round_.number
        return f"Round {number} is resumed. " + (queue(waiting) if waiting
                                                 else "No emails were waiting.")
    return _round_action(round_id, act)


@bp.post("/rounds/<int:round_id>/cancel")
def cancel(round_id: int) -> ResponseReturnValue:
    """Cancel a round: its links stop working, no more of its emails go (`cos campaign
    cancel`)."""
    def act() -> str:
        with session_scope(settings().database_url) as db:
            round_, stopped = cancel_round(db, str(round_id))
            number = round_.number
        return f"Round {number} is cancelled; {plural(stopped, 'email')} not sent."
    return _round_action(round_id, act)


@bp.post("/c/<slug>/restore")
def restore(slug: str) -> ResponseReturnValue:
    """Let mail go again to an address that bounced (`cos people restore`)."""
    email = request.form.get("email", "")
    if not ActionForm().validate_on_submit():
        flash("Nothing was restored: the page was open too long. Press the button again.")
    else:
        try:
            with session_scope(settings().database_url) as db:
                get_coalition(db, slug)
                names = [f"{p.name} <{p.email}>" for p in restore_people(db, email)]
            flash(f"Restored {', '.join(names)}: mail to this address goes out again.")
        except FixableError as exc:
            flash(f"Nothing was restored: {exc}.")
    return redirect(url_for("admin.cadence", slug=slug), code=303)


# --- editing the coalition --------------------------------------------------------------------


def _number(text: str | None) -> float | None:
    """Read a number typed in a box; None when empty or not a finite number."""
    try:
        value = float((text or "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@bp.route("/c/<slug>/edit", methods=["GET", "POST"])
def edit(slug: str) -> ResponseReturnValue:
    """Edit the win sentence, stage and metrics, checked as the coalition file is."""
    with session_scope(settings().database_url, read_only=True) as db:
        found = get_coalition(db, slug)
        orgs = {o.id: o.name for o in db.exec(
            select(Organisation).where(Organisation.coalition_id == found.id))}
        stored = [{"key": m.key, "name": m.name, "unit": m.unit, "baseline": f"{m.baseline:g}",
                   "target": f"{m.target:g}", "direction": m.direction,
                   "owner": orgs.get(m.owner_organisation_id, "")}
                  for m in db.exec(select(Metric).where(
                      Metric.coalition_id == found.id, col(Metric.active).is_(True))
                      .order_by(col(Metric.id)))]
    problems: list[str] = []
    if request.method == "POST":
        form = EditCoalitionForm()
        if form.validate_on_submit():
            edits, keys = [], {m["key"] for m in stored}
            for i, entry in enumerate(form.metrics.entries, start=1):
                m = entry.form
                filled = [m.key.data, m.name.data, m.unit.data, m.baseline.data,
                          m.target.data, m.owner.data]
                if not any((v or "").strip() for v in filled):
                    continue  # the empty row for a new metric, left empty
                for label, text in (("baseline", m.baseline.data), ("target", m.target.data)):
                    if (text or "").strip() and _number(text) is None:
                        problems.append(f"metric {i}, {label}: {text!r} is not a number")
                key = (m.key.data or "").strip()
                if i <= len(stored) and key not in keys:
                    problems.append(f"metric {i}: its key cannot change")
                edits.append(MetricEdit(
                    key=key, name=(m.name.data or "").strip(),
                    unit=(m.unit.data or "").strip(), baseline=_number(m.baseline.data),
                    target=_number(m.target.data), owner=(m.owner.data or "").strip(),
                    direction=m.direction.data or "up"))
            if not problems:
                try:
                    with session_scope(settings().database_url) as db:
                        summary = edit_coalition(db, slug, win=form.win.data or "",
                                                 stage=form.stage.data or "", metrics=edits)
                    flash("Saved: " + ("; ".join(summary.lines()) or "nothing changed") + ".")
                    for warning in summary.warnings:
                        flash(f"Warning: {warning}")
                    return redirect(url_for("admin.coalition", slug=slug), code=303)
                except LoadError as exc:
                    problems = list(exc.problems)
        else:
            problems = _form_problems(form)
    else:
        form = EditCoalitionForm(data={"win": found.win, "stage": found.stage,
                                       "metrics": [*stored, {}]})
    return render_template("admin/edit.html", coalition=found, form=form, problems=problems,
                           stored=len(stored)), 400 if problems else 200
