"""The partner's check-in form: a WTForms class built afresh for each person and request."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import DateField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget, TextInput

from pipeline.checkin import PULSE_LABELS, STATUS_LABELS, Checkin

NUMBER_RE = re.compile(r"^[+-]?(\d+([.,]\d+)?|[.,]\d+)$")
THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}([ ,\u00a0']\d{3})+([.]\d+)?$")


def parse_number(text: str) -> float:
    """Read a number as people type it: '42', '3.5', '3,5', '1,200', '12 500'; else ValueError."""
    cleaned = text.strip().replace("\u202f", " ")
    if cleaned.endswith("%"):
        cleaned = cleaned[:-1].strip()
    if THOUSANDS_RE.match(cleaned):
        return float(re.sub(r"[ ,\u00a0']", "", cleaned))
    if NUMBER_RE.match(cleaned):
        return float(cleaned.replace(",", "."))
    raise ValueError(text)


class NumberInput(TextInput):
    """A text box that brings up the number keypad on phones but accepts '1,200'."""

    def __call__(self, field: Field, **kwargs: Any) -> Any:
        kwargs.setdefault("inputmode", "decimal")
        kwargs.setdefault("autocomplete", "off")
        return super().__call__(field, **kwargs)


class ReadingField(StringField):
    """A metric reading: free text on the page, a float in .number, a clear error otherwise."""

    widget = NumberInput()

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.number: float | None = None

    def process_data(self, value: Any) -> None:
        """Show a stored float without a trailing '.0'."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        super().process_data("" if value is None else str(value))

    def pre_validate(self, form: Any) -> None:
        """Parse the text, keeping it as typed when it is not a number."""
        self.number = None
        text = (self.data or "").strip()
        if not text:
            return
        try:
            self.number = parse_number(text)
        except ValueError:
            shown = text if len(text) <= 40 else text[:39] + "\u2026"
            raise ValidationError(
                f"\u201c{shown}\u201d is not a number. Type digits only, like 42 or 3.5, "
                "without units or words.") from None
        if abs(self.number) > 1e12:
            raise ValidationError("That number is too large. Check for extra digits.")


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes, for 'which organisations helped you'."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CheckinForm(FlaskForm):
    """The questions every partner gets; per-commitment and per-metric fields are added on."""

    new_commitment = StringField("A new commitment (optional)",
                                 validators=[Optional(), Length(max=500)])
    new_due = DateField("Due by", validators=[Optional()])
    win = TextAreaField("A win this round (optional)", validators=[Optional(), Length(max=2000)])
    blocker = TextAreaField("A blocker, or help you need (optional)",
                            validators=[Optional(), Length(max=2000)])
    help_wanted = BooleanField("We would like a partner's help with this")
    pulse = RadioField(
        "When we reached out to a partner this round, they answered.",
        choices=[SelectChoice(str(k), f"{k} \u00b7 {v}") for k, v in PULSE_LABELS.items()],
        validators=[Optional()],
    )
    helped_by = MultiCheckboxField("Who helped your organisation this round?", coerce=int,
                                   validators=[Optional()])

    def validate_help_wanted(self, field: BooleanField) -> None:
        """Ask what the help is for, rather than record a bare request."""
        if field.data and not (self.blocker.data or "").strip():
            raise ValidationError("Say in the box above what you need help with, or untick this.")

    def validate_new_due(self, field: DateField) -> None:
        """Keep due dates plausible."""
        if field.data and not self.new_commitment.data:
            raise ValidationError("Write the new commitment too, or clear this date.")
        if field.data and not (date.today() - timedelta(days=1) <= field.data
                               <= date.today() + timedelta(days=3 * 365)):
            raise ValidationError("Pick a date from today to three years ahead.")


STATUS_FIELD_RE = re.compile(r"c(\d+)_status")


def status_field(name: str) -> str:
    """Return the form field name for a commitment's status."""
    return f"c{name}_status"


def commitment_of(field_name: str) -> str | None:
    """Return the commitment id a status field belongs to, or None for other fields."""
    found = STATUS_FIELD_RE.fullmatch(field_name)
    return found.group(1) if found else None


def note_field(name: str) -> str:
    """Return the form field name for a commitment's note."""
    return f"c{name}_note"


def reading_field(name: str) -> str:
    """Return the form field name for a metric's reading."""
    return f"m{name}_value"


def checkin_form_class(checkin: Checkin) -> type[CheckinForm]:
    """Build the form class for one person's check-in (a new subclass: nothing leaks across)."""

    class PersonCheckinForm(CheckinForm):
        pass

    for c in checkin.commitments:
        setattr(PersonCheckinForm, status_field(str(c.id)), RadioField(
            "Status", choices=[SelectChoice(k, v) for k, v in STATUS_LABELS.items()],
            validators=[Optional()]))
        setattr(PersonCheckinForm, note_field(str(c.id)), StringField(
            "Note (optional)", validators=[Optional(), Length(max=1000)]))
    for m in checkin.metrics:
        label = f"{m.name} ({m.unit})" if m.unit else m.name
        setattr(PersonCheckinForm, reading_field(str(m.id)), ReadingField(label))
    return PersonCheckinForm


def make_form(checkin: Checkin, *, formdata: Any = None) -> CheckinForm:
    """Return the form, prefilled from the latest answers when there is no posted data."""
    cls = checkin_form_class(checkin)
    prefill = prefill_data(checkin) if formdata is None else {}
    form = cls(formdata=formdata, data=prefill) if formdata is not None else cls(data=prefill)
    form.helped_by.choices = [
        SelectChoice(oid, name)
        for oid, name in checkin.other_organisations]
    return form


def prefill_data(checkin: Checkin) -> dict[str, Any]:
    """Map the latest stored answers back onto field names."""
    answers = checkin.latest or {}
    data: dict[str, Any] = {}
    for key, report in (answers.get("commitments") or {}).items():
        data[status_field(key)] = report.get("status")
        data[note_field(key)] = report.get("note", "")
    for key, value in (answers.get("readings") or {}).items():
        data[reading_field(key)] = value
    new = answers.get("new_commitment") or {}
    data["new_commitment"] = new.get("text", "")
    data["new_due"] = date.fromisoformat(new["due"]) if new.get("due") else None
    data["win"] = answers.get("win", "")
    data["blocker"] = answers.get("blocker", "")
    data["help_wanted"] = bool(answers.get("help_wanted"))
    data["pulse"] = str(answers["pulse"]) if answers.get("pulse") else None
    data["helped_by"] = answers.get("helped_by") or []
    return data


def answers_from(form: CheckinForm, checkin: Checkin) -> dict[str, Any]:
    """Turn a validated form into the stored answer document."""
    commitments = {}
    for c in checkin.commitments:
        status = form[status_field(str(c.id))].data
        note = (form[note_field(str(c.id))].data or "").strip()
        if status or note:
            commitments[str(c.id)] = {"status": status or "", "note": note}
    readings: dict[str, float] = {}
    for m in checkin.metrics:
        field = form[reading_field(str(m.id))]
        if isinstance(field, ReadingField) and field.number is not None:
            readings[str(m.id)] = field.number
    new_text = (form.new_commitment.data or "").strip()
    return {
        "commitments": commitments,
        "new_commitment": {
            "text": new_text,
            "due": form.new_due.data.isoformat() if new_text and form.new_due.data else None,
        } if new_text else None,
        "readings": readings,
        "win": (form.win.data or "").strip(),
        "blocker": (form.blocker.data or "").strip(),
        "help_wanted": bool(form.help_wanted.data),
        "pulse": int(form.pulse.data) if form.pulse.data else None,
        "helped_by": sorted(set(form.helped_by.data or [])),
    }
