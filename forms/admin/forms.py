"""The admin pages' forms; each carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from pipeline.core.cadence import MAPPING_KEYS
from pipeline.core.vocab import Stage


class SignInForm(FlaskForm):
    """An admin signs in with an email and a password."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])
    submit = SubmitField("Sign in")


class LeadLinkForm(FlaskForm):
    """A lead asks for a sign-in link by email."""

    email = EmailField("Your email", validators=[DataRequired(), Length(max=254)])
    submit = SubmitField("Email me a sign-in link")


class ActionForm(FlaskForm):
    """A button that acts (sign out, confirm a link, remind, close): only the CSRF token."""


class CoalitionUploadForm(FlaskForm):
    """Upload a coalition file to see what it would change."""

    file = FileField("Coalition file (.toml)", validators=[FileRequired("Choose a file.")])
    prune = BooleanField("Deactivate what the file no longer lists")
    submit = SubmitField("Preview the changes")


class PeopleUploadForm(FlaskForm):
    """Upload a people CSV to see what it would change."""

    file = FileField("People CSV (email,name,organisation,role)",
                     validators=[FileRequired("Choose a file.")])
    submit = SubmitField("Preview the changes")


class ApplyUploadForm(FlaskForm):
    """Apply a previewed upload: its text comes back in a hidden field and is checked again."""

    content = HiddenField(validators=[DataRequired()])
    filename = HiddenField()
    prune = HiddenField()
    submit = SubmitField("Apply these changes")


class StartRoundForm(FlaskForm):
    """Open a round: how long it stays open; preview, send a test to yourself, or start."""

    kind = SelectField("Kind of round", default="checkin", choices=[
        SelectChoice("checkin", "Check-in (the weekly form)"),
        SelectChoice("readiness", "Readiness check (the eight items)"),
        SelectChoice("win-echo", "Win echo (the win from memory)")])
    closes_in = StringField("Stays open for", default="72h",
                            validators=[DataRequired(), Length(max=10)],
                            description="For example 72h, 3d, 90m or 1w.")
    preview = SubmitField("Preview the invitation")
    test = SubmitField("Send a test to me")
    start = SubmitField("Start the round")


# Each [cadence] setting, with a hint of how it is written (as `cos schedule --set` takes it).
CADENCE_HINTS = {
    "timezone": "For example Europe/London; empty means the coalition's.",
    "frequency": "weekly, fortnightly or monthly.",
    "open": "For example Tuesday 09:00 (monthly: first Tuesday 09:00).",
    "anchor": "Fortnightly only: a date in a week with a round, e.g. 2026-01-06.",
    "close": "A weekday and time, e.g. Friday 17:00 (or use close after).",
    "close_after": "A duration after the open, e.g. 72h (or use close).",
    "reminders": "Before the close, comma-separated, e.g. 48h, 24h.",
    "max_reminders": "A whole number.",
    "min_reminder_gap": "For example 12h.",
    "digest_after": "After the close, e.g. 1h.",
    "quiet_hours": "No mail between, e.g. 21:00-07:00.",
    "skip": "ISO weeks or months, comma-separated, e.g. 2026-W52, 2026-08.",
}


class CadenceForm(FlaskForm):
    """Edit a coalition's [cadence] settings; checked as `cos schedule --set` checks them."""

    pause_after_failures = StringField("Pause after failures in a row",
                                       validators=[Optional(), Length(max=10)],
                                       description="A whole number from 1 to 1000.")
    save = SubmitField("Save the cadence")


for _key in MAPPING_KEYS:
    setattr(CadenceForm, _key, StringField(
        _key.replace("_", " ").capitalize(), validators=[Optional(), Length(max=500)],
        description=CADENCE_HINTS.get(_key, "")))


class MetricForm(Form):
    """One metric of the coalition (no CSRF of its own: the outer form carries it)."""

    key = StringField("Key", validators=[Optional(), Length(max=64)],
                      description="A short id, e.g. pm25; it cannot change once saved.")
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    unit = StringField("Unit", validators=[Optional(), Length(max=32)])
    baseline = StringField("Baseline", validators=[Optional(), Length(max=40)])
    target = StringField("Target", validators=[Optional(), Length(max=40)])
    direction = SelectField("Better is", choices=[SelectChoice("up", "up"),
                                                  SelectChoice("down", "down")])
    owner = StringField("Owner organisation", validators=[Optional(), Length(max=200)])


class EditCoalitionForm(FlaskForm):
    """Edit the win sentence, stage and metrics; checked as the coalition file is."""

    win = TextAreaField("Win sentence", validators=[DataRequired(), Length(max=1000)])
    stage = SelectField("Stage", choices=[SelectChoice(s, s) for s in tuple(Stage)])
    metrics = FieldList(FormField(MetricForm), min_entries=0)
    save = SubmitField("Save the changes")


class EchoMarkForm(FlaskForm):
    """A lead's mark over the suggested one on a win-echo answer (`cos echo mark`)."""

    email = HiddenField(validators=[DataRequired()])
    mark = SelectField("Mark", choices=[
        SelectChoice("match", "match"), SelectChoice("partial", "partial"),
        SelectChoice("off", "off"), SelectChoice("clear", "back to the suggestion")])
    submit = SubmitField("Set the mark")
