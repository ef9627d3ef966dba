"""The admin pages' forms; each carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length


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

    closes_in = StringField("Stays open for", default="72h",
                            validators=[DataRequired(), Length(max=10)],
                            description="For example 72h, 3d, 90m or 1w.")
    preview = SubmitField("Preview the invitation")
    test = SubmitField("Send a test to me")
    start = SubmitField("Start the round")
