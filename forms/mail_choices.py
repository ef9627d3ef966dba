"""A partner's say over the mail: "not this week" and unsubscribe.

GET shows a page with one button and changes nothing (mail scanners open every link); the
button POSTs. The unsubscribe POST also works on its own, without a cookie or a page, for
mail programs' one-click unsubscribe (RFC 8058: List-Unsubscribe-Post).
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlmodel import select
from wtforms import SubmitField

from pipeline.checkin import LinkProblem, open_checkin
from pipeline.config import Settings
from pipeline.core.vocab import Role
from pipeline.db import session_scope
from pipeline.lifecycle import not_this_week, opt_out
from pipeline.models import Coalition, Invitation, Person
from pipeline.queues import QueueUnavailable, enqueue_opt_out_notice
from pipeline.tokens import hash_token, person_of_optout_token

log = logging.getLogger(__name__)
bp = Blueprint("mail_choices", __name__)


class NotThisWeekForm(FlaskForm):
    """One button: nothing to report this round."""

    submit = SubmitField("Nothing to report this week")


class UnsubscribeForm(FlaskForm):
    """One button: no more emails. Not CSRF-checked: RFC 8058 one-click must work bare."""

    class Meta:
        csrf = False

    submit = SubmitField("Unsubscribe me")


def _settings() -> Settings:
    settings: Settings = current_app.config["COS_SETTINGS"]
    return settings


def _problem(exc: LinkProblem) -> ResponseReturnValue:
    return render_template("problem.html", title=exc.title, message=exc.message), exc.status


@bp.route("/c/<token>/not-this-week", methods=["GET", "POST"])
def skip_week(token: str) -> ResponseReturnValue:
    """Show the "not this week" button (GET) or record it (POST)."""
    form = NotThisWeekForm()
    with session_scope(_settings().database_url) as session:
        try:
            checkin = open_checkin(session, token)
        except LinkProblem as exc:
            return _problem(exc)
        if not form.validate_on_submit():
            return render_template("mail_choice.html", form=form, done=False,
                                   title="Nothing to report this week?",
                                   message=f"Tell {checkin.coalition_name} you have nothing to "
                                           "report this round: you won't be reminded again "
                                           "this round, and you won't be counted as silent. "
                                           "You can still check in any time before it closes.")
        invitation = session.exec(select(Invitation).where(
            Invitation.token_hash == hash_token(token))).one()
        not_this_week(session, invitation)
    return render_template("mail_choice.html", form=None, done=True,
                           title="Thanks, noted",
                           message="No more reminders this round. See you next round!")


@bp.route("/u/<token>", methods=["GET"])
def unsubscribe_page(token: str) -> ResponseReturnValue:
    """Show the unsubscribe button; changes nothing."""
    person = _person(token)
    if person is None:
        return _unknown()
    return render_template("mail_choice.html", form=UnsubscribeForm(), done=False,
                           title="Unsubscribe?",
                           message=f"Stop the recurring emails {person[1]} sends to "
                                   f"{person[0]}.")


@bp.route("/u/<token>", methods=["POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """Opt the person out: the button on the page, or a mail program's one-click POST."""
    person_id = person_of_optout_token(_settings().secret_key, token)
    said = opt_out(_settings(), person_id) if person_id is not None else None
    if said is None:
        return _unknown()
    if said.changed and said.person.role == Role.PARTNER:
        try:
            enqueue_opt_out_notice(_settings(), said.person.id or 0)
        except QueueUnavailable as exc:  # the opt-out itself is saved
            log.warning("opt-out of person %s saved; the leads' notice was not queued: %s",
                        said.person.id, exc)
    return render_template("mail_choice.html", form=None, done=True,
                           title="You're unsubscribed",
                           message=f"{said.person.email} gets no more of these emails. "
                                   "Changed your mind? Write to the coalition's convener.")


def _person(token: str) -> tuple[str, str] | None:
    """Return (email, coalition name) of an opt-out token's person, or None."""
    person_id = person_of_optout_token(_settings().secret_key, token)
    if person_id is None:
        return None
    with session_scope(_settings().database_url, read_only=True) as session:
        person = session.get(Person, person_id)
        coalition = session.get(Coalition, person.coalition_id) if person else None
        return (person.email, coalition.name) if person and coalition else None


def _unknown() -> ResponseReturnValue:
    return render_template("problem.html", title="This link does not work",
                           message="It may have been copied incompletely. Use the link in "
                                   "your most recent email."), 404
