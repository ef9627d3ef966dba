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

from emails.format import N_
from emails.i18n import choose, gettext_for
from forms.languages import use_language
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

    submit = SubmitField(N_("Nothing to report this week"))


class UnsubscribeForm(FlaskForm):
    """One button: no more emails. Not CSRF-checked: RFC 8058 one-click must work bare."""

    class Meta:
        csrf = False

    submit = SubmitField(N_("Unsubscribe me"))


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
        _ = gettext_for(use_language(checkin.language))
        if not form.validate_on_submit():
            return render_template(
                "mail_choice.html", form=form, done=False,
                title=_("Nothing to report this week?"),
                message=_("Tell %(coalition)s you have nothing to report this round: you won't "
                          "be reminded again this round, and you won't be counted as silent. "
                          "You can still check in any time before it closes.",
                          coalition=checkin.coalition_name))
        invitation = session.exec(select(Invitation).where(
            Invitation.token_hash == hash_token(token))).one()
        not_this_week(session, invitation)
    return render_template("mail_choice.html", form=None, done=True,
                           title=_("Thanks, noted"),
                           message=_("No more reminders this round. See you next round!"))


@bp.route("/u/<token>", methods=["GET"])
def unsubscribe_page(token: str) -> ResponseReturnValue:
    """Show the unsubscribe button; changes nothing."""
    person = _person(token)
    if person is None:
        return _unknown()
    _ = gettext_for(use_language(person[2]))
    return render_template("mail_choice.html", form=UnsubscribeForm(), done=False,
                           title=_("Unsubscribe?"),
                           message=_("Stop the recurring emails %(coalition)s sends to "
                                     "%(address)s.", coalition=person[1], address=person[0]))


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
    person = _person(token)
    _ = gettext_for(use_language(person[2] if person else said.person.language))
    return render_template("mail_choice.html", form=None, done=True,
                           title=_("You're unsubscribed"),
                           message=_("%(address)s gets no more of these emails. Changed your "
                                     "mind? Write to the coalition's convener.",
                                     address=said.person.email))


def _person(token: str) -> tuple[str, str, str] | None:
    """Return (email, coalition name, language) of an opt-out token's person, or None."""
    person_id = person_of_optout_token(_settings().secret_key, token)
    if person_id is None:
        return None
    with session_scope(_settings().database_url, read_only=True) as session:
        person = session.get(Person, person_id)
        coalition = session.get(Coalition, person.coalition_id) if person else None
        if person is None or coalition is None:
            return None
        return person.email, coalition.name, choose(person.language, coalition.language)


def _unknown() -> ResponseReturnValue:
    return render_template("problem.html", title=N_("This link does not work"),
                           message=N_("It may have been copied incompletely. Use the link in "
                                      "your most recent email.")), 404
