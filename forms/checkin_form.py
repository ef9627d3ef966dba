"""The partner's check-in form: a WTForms class built afresh for each person and request."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import (
    BooleanField,
    Field,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields import DateField
from wtforms.fields.choices import SelectChoice, SelectFieldBase
from wtforms.validators import Optional, ValidationError
from wtforms.widgets import ListWidget

from emails.format import N_
from emails.model_words import say
from pipeline.checkin import PULSE_LABELS, STATUS_LABELS, Checkin
from pipeline.core.numbers import (
    NumberProblem,
    format_reading,
    number_example,
    number_hint,
    parse_reading,
)
from pipeline.core.phases import READINESS_QUESTIONS, ReadinessItem
from pipeline.core.questions import ITEM_TEXT, READINESS_SCALE, choices, stored_value
from pipeline.core.text import (
    TEXT_MAX_LENGTH,
    clean_name,
    clean_text,
    text_problem,
    typed_names,
)
from pipeline.core.words import Words, words

# A unit sign typed with a reading ("50%", "€1,200") is only the metric's unit when the metric
# is counted in it; "50%" for a count of streets is a misunderstanding, not fifty streets.
PERCENT_UNITS = frozenset({"%", "percent", "per cent", "percentage", "pct"})
PERCENT_SIGNS = frozenset("%\uff05\ufe6a\u066a")


def reading_value(value: float | int | Decimal) -> Decimal:
    """Return a stored reading as the decimal that was typed (floats keep 15 digits exactly)."""
    exact = Decimal(repr(float(value)))
    return exact.to_integral_value() if exact == exact.to_integral_value() else exact.normalize()


def recorded(value: float | int, locale: str = "en") -> str:
    """Write a stored reading the coalition's way, as the thanks page and the form show it."""
    return format_reading(reading_value(value), locale)


def read_reading(text: str, *, locale: str = "en", metric: str = "", unit: str = "") -> float:
    """Read what a partner typed in a number box into the float the database keeps.

    Raises NumberProblem with a sentence for the partner: the number cannot be read, is
    ambiguous in the coalition's locale, carries a unit sign the metric is not counted in, or
    has more digits than a float column keeps exactly (15 significant digits).
    """
    value = parse_reading(text, locale)
    sign = next((ch for ch in text if ch in PERCENT_SIGNS
                 or unicodedata.category(ch) == "Sc"), None)
    if sign is not None and not _counted_in(sign, unit):
        kind = (words(N_("a percent sign")) if sign in PERCENT_SIGNS
                else words(N_("the sign %(sign)s"), sign=sign))
        shown, example = clean_name(text)[:40], number_example(locale)
        subject = metric or words(N_("this metric"))
        if unit:
            said = words(N_("\u201c%(shown)s\u201d has %(kind)s, but %(metric)s is counted in "
                            "%(unit)s. Type the number of %(unit)s alone, e.g. %(example)s."),
                         shown=shown, kind=kind, metric=subject, unit=unit, example=example)
        else:
            said = words(N_("\u201c%(shown)s\u201d has %(kind)s, but %(metric)s is not counted "
                            "in percent or money. Type the number alone, e.g. %(example)s."),
                         shown=shown, kind=kind, metric=subject, example=example)
        raise NumberProblem(said, text=text)
    stored = float(value)
    if Decimal(repr(stored)) != value:
        raise NumberProblem(words(
            N_("\u201c%(shown)s\u201d has more digits than a reading keeps exactly (15 in "
               "all). Round it, e.g. to %(rounded)s."),
            shown=clean_name(text)[:40], rounded=recorded(stored, locale)), text=text)
    return stored


def _counted_in(sign: str, unit: str) -> bool:
    unit = unit.strip().lower()
    if sign in PERCENT_SIGNS:
        return unit in PERCENT_UNITS or any(ch in PERCENT_SIGNS for ch in unit)
    return sign in unit


def html_params(**kwargs: Any) -> Markup:
    """WTForms' `html_params`, the same attributes in the same order, written with f-strings
    (WTForms' `Markup.format` was most of the cost of each field on the page)."""
    params = []
    for key, value in sorted(kwargs.items()):
        key = widgets.core.clean_key(key)
        if value is True:
            params.append(str(escape(key)))
        elif value is not False:
            params.append(f'{escape(key)}="{str(escape(value)).replace(chr(34), "&quot;")}"')
    return Markup(" ".join(params))  # noqa: S704 (every part escaped above)


class TextInput(widgets.TextInput):
    """WTForms' text box, its attributes written by the faster `html_params`."""

    html_params = staticmethod(html_params)


class DateInput(widgets.DateInput):
    """WTForms' date box, its attributes written by the faster `html_params`."""

    html_params = staticmethod(html_params)


class CheckboxInput(widgets.CheckboxInput):
    """WTForms' checkbox, its attributes written by the faster `html_params`."""

    html_params = staticmethod(html_params)


class TextArea(widgets.TextArea):
    """WTForms' text area (the same markup), its attributes written by `html_params`."""

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        flags = field.flags
        for key in dir(flags):
            if key in self.validation_attrs and key not in kwargs:
                kwargs[key] = getattr(flags, key)
        return Markup(  # noqa: S704 (attributes and content escaped)
            f"<textarea {html_params(name=field.name, **kwargs)}>\r\n"
            f"{escape(field._value())}</textarea>")


class NumberInput(TextInput):
    """A text box that brings up the number keypad on phones but accepts '1,200'."""

    def __call__(self, field: Field, **kwargs: Any) -> Any:
        kwargs.setdefault("inputmode", "decimal")
        kwargs.setdefault("autocomplete", "off")
        return super().__call__(field, **kwargs)


class ReadingField(StringField):
    """A metric reading read in the coalition's locale: text on the page, a float in .number."""

    widget = NumberInput()

    def __init__(self, *args: Any, locale: str = "en", metric: str = "", unit: str = "",
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.locale, self.metric, self.unit = locale, metric, unit
        self.number: float | None = None

    @property
    def hint(self) -> str:
        """Return how to write a number here, like 'e.g. 1,234.5'."""
        return number_hint(self.locale)

    @property
    def example(self) -> str:
        """Return a number written the coalition's way, like '1,234.5' (the page words it)."""
        return number_example(self.locale)

    def shown(self, value: float | int) -> str:
        """Write a number (a baseline, a target, a last reading) the coalition's way."""
        return recorded(value, self.locale)

    def process_data(self, value: Any) -> None:
        """Show a stored reading the way the coalition writes numbers, so it reads back equal."""
        if isinstance(value, int | float) and not isinstance(value, bool) \
                and math.isfinite(value):
            value = recorded(value, self.locale)
        super().process_data("" if value is None else str(value))

    def pre_validate(self, form: Any) -> None:
        """Read the text, keeping it as typed when it cannot be recorded."""
        self.number = None
        text = self.data or ""
        if not text.strip():
            return
        try:
            self.number = read_reading(text, locale=self.locale, metric=self.metric,
                                       unit=self.unit)
        except NumberProblem as exc:
            from forms.languages import current_language

            # The partner reads the sentence in the page's language; its numbers stay
            # written the coalition's way (they are strings in the words' values).
            raise ValidationError(say(exc.words.as_data(), current_language())) from None


class CleanText:
    """Refuse free text that, cleaned, is longer than its column holds (a field error)."""

    def __init__(self, max_length: int):
        self.max_length = max_length

    def __call__(self, form: Any, field: Field) -> None:
        problem = text_problem(field.data, self.max_length)
        if problem:
            raise ValidationError(problem)


def text_field(cls: type[StringField], label: str, max_length: int) -> Any:
    """Return a free-text field whose data is always clean_text'ed (NUL, controls, NFC)."""
    return cls(label, filters=[clean_text], validators=[Optional(), CleanText(max_length)],
               widget=TextArea() if issubclass(cls, TextAreaField) else TextInput())


class Option(NamedTuple):
    """One radio button or checkbox of a choice field, as the page writes it."""

    id: str
    value: str
    label: str
    checked: bool


def options_of(field: SelectFieldBase) -> list[Option]:
    """Return a choice field's options with the ids and values WTForms' subfields would have
    (`<field id>-0`, `-1`, ...), without building a field object per option: the templates
    write each input and label themselves (some 50 a page; WTForms' widgets were most of the
    page's rendering time)."""
    return [Option(f"{field.id}-{i}", str(c.value), c.label or c.value, c.selected)
            for i, c in enumerate(field.iter_choices())]


def radios(field: SelectFieldBase, numbered: Mapping[int, str] | None = None) -> Markup:
    """Return a choice field's radio buttons as the page writes them: each input and its label
    in a span.choice, the label in the page's language (with `numbered`, "N · label" from it:
    the pulse). The markup of WTForms' RadioInput and Label, at a fraction of the cost."""
    from emails.i18n import translations
    from forms.languages import current_language

    gettext = translations(current_language()).gettext
    name = escape(field.name)
    parts = []
    for option in options_of(field):
        id_, value = escape(option.id), escape(option.value)
        text = (f"{value} \u00b7 {gettext(numbered[int(option.value)])}" if numbered
                else gettext(option.label))  # the catalog's text, as the templates' _() gives it
        parts.append(f'<span class="choice"><input{" checked" if option.checked else ""} '
                     f'id="{id_}" name="{name}" type="radio" value="{value}"> '
                     f'<label for="{id_}">{text}</label></span>')
    return Markup("".join(parts))  # noqa: S704 (values escaped; labels are the catalog's)


def checkboxes(field: SelectFieldBase, css_class: str) -> Markup:
    """Return a multiple-choice field as a list of checkboxes, each followed by its label (the
    markup of WTForms' ListWidget(prefix_label=False) with CheckboxInput; labels escaped)."""
    name = escape(field.name)
    items = []
    for option in options_of(field):
        id_ = escape(option.id)
        items.append(f'<li><input{" checked" if option.checked else ""} id="{id_}" '
                     f'name="{name}" type="checkbox" value="{escape(option.value)}"> '
                     f'<label for="{id_}">{escape(option.label)}</label></li>')
    return Markup(  # noqa: S704 (every value escaped)
        f'<ul class="{escape(css_class)}" id="{escape(field.id)}">{"".join(items)}</ul>')


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes, for 'which organisations helped you'."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# What each typed name means: [the organisation], [] for none, or two when it is ambiguous.
FindOrganisations = Callable[[list[str]], dict[str, list[tuple[int, str]]]]

# The most names one save may type (each not found whole is one more query): a partner names a
# few helpers.
TYPED_NAMES_MAX = 20


class HelperNamesField(TextAreaField):
    """Other organisations that helped, typed by name (a large coalition's page lists only the
    likely ones): each name is matched when the form is validated, the ids kept in `.ids`."""

    widget = TextArea()

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.ids: list[int] = []
        # Set by make_form for a POST: what each typed name means (pipeline.checkin's
        # organisations_named), and the partner's own organisation, never a helper of itself.
        self.find: FindOrganisations = lambda names: {}
        self.own_name = ""

    def pre_validate(self, form: Any) -> None:
        """Match every typed name; say each one that is not recognised and what to do."""
        from forms.languages import current_language

        self.ids = []
        names = typed_names(self.data)
        if not names:
            return
        if len(names) > TYPED_NAMES_MAX:
            raise ValidationError(say(words(
                N_("Type at most %(count)s names at a time: save, then come back to add more."),
                count=TYPED_NAMES_MAX).as_data(), current_language()))
        own = [name for name in names if name.casefold() == self.own_name.casefold()]
        found = self.find([name for name in names if name not in own])
        problems = [problem for name in names
                    if (problem := self._match(name, name in own, found.get(name, [])))]
        if problems:
            said = [say(problem.as_data(), current_language()) for problem in problems]
            # One error per name, each its own line under the box (WTForms keeps one per raise).
            self.errors.extend(said[:-1])
            raise ValidationError(said[-1])

    def _match(self, name: str, own: bool, found: list[tuple[int, str]]) -> Words | None:
        """Keep the id a name means, or return what is wrong with it."""
        if own:
            return words(N_("\u201c%(name)s\u201d is your own organisation; leave it out."),
                         name=name)
        if not found:
            return words(N_("We don\u2019t know \u201c%(name)s\u201d; check the spelling or "
                            "leave it out."), name=name)
        if len(found) > 1:
            return words(N_("\u201c%(name)s\u201d could be %(first)s or %(second)s; type more "
                            "of the name."), name=name, first=found[0][1], second=found[1][1])
        self.ids.append(found[0][0])
        return None


class CheckinForm(FlaskForm):
    """The questions every partner gets; per-commitment and per-metric fields are added on."""

    # Free text is cleaned (clean_text) as it is read, so a NUL or a direction override is
    # dropped silently and never stored; a cleaned text too long for its column is refused.
    new_commitment = text_field(StringField, N_("A new commitment (optional)"), 500)
    new_due = DateField(N_("Due by"), validators=[Optional()], widget=DateInput())
    win = text_field(TextAreaField, N_("A win this round (optional)"), TEXT_MAX_LENGTH)
    blocker = text_field(TextAreaField, N_("A blocker, or help you need (optional)"),
                         TEXT_MAX_LENGTH)
    help_wanted = BooleanField(N_("We would like a partner's help with this"),
                               widget=CheckboxInput())
    pulse = RadioField(
        N_("When we reached out to a partner this round, they answered."),
        choices=[SelectChoice(str(k), f"{k} \u00b7 {v}") for k, v in PULSE_LABELS.items()],
        validators=[Optional()],
    )
    helped_by = MultiCheckboxField(N_("Who helped your organisation this round?"), coerce=int,
                                   validators=[Optional()])

    def validate_help_wanted(self, field: BooleanField) -> None:
        """Ask what the help is for, rather than record a bare request."""
        if field.data and not (self.blocker.data or "").strip():
            raise ValidationError(
                N_("Say in the box above what you need help with, or untick this."))

    def validate_new_due(self, field: DateField) -> None:
        """Keep due dates plausible."""
        if field.data and not self.new_commitment.data:
            raise ValidationError(N_("Write the new commitment too, or clear this date."))
        if field.data and not (date.today() - timedelta(days=1) <= field.data
                               <= date.today() + timedelta(days=3 * 365)):
            raise ValidationError(N_("Pick a date from today to three years ahead."))


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


def item_field(code: str) -> str:
    """Return the form field name for a playbook phase item (R1 ... M3)."""
    return f"item_{code}"


def readiness_field(item: str, suffix: str = "rating") -> str:
    """Return the form field name for a readiness item's rating or comment."""
    return f"ready_{item}_{suffix}"


def reading_note_field(name: str) -> str:
    """Return the form field name for the story behind a metric's reading."""
    return f"m{name}_note"


def checkin_form_class(checkin: Checkin) -> type[CheckinForm]:
    """Return the form class for one person's check-in.

    One subclass per shape of form (the round's kind and questions, the commitments and metrics
    asked about, the coalition's number locale), built once per process and kept: a class holds
    only field definitions, and each request binds its own form instance, so nothing a person
    typed or was shown leaks to another.
    """
    return _form_class(checkin.kind, checkin.items, checkin.ask_echo,
                       tuple(c.id for c in checkin.commitments),
                       tuple((m.id, m.name, m.unit) for m in checkin.metrics), checkin.locale,
                       checkin.many_organisations)


@functools.lru_cache(maxsize=1024)
def _form_class(kind: str, items: tuple[str, ...], ask_echo: bool,
                commitments: tuple[int, ...], metrics: tuple[tuple[int, str, str], ...],
                locale: str, many_organisations: bool) -> type[CheckinForm]:

    class PersonCheckinForm(CheckinForm):
        pass

    if many_organisations:
        PersonCheckinForm.helped_by_names = HelperNamesField(
            N_("Other organisations that helped (names, one per line or separated by commas)"),
            filters=[clean_text], validators=[Optional(), CleanText(TEXT_MAX_LENGTH)])

    for code in items:
        setattr(PersonCheckinForm, item_field(code), RadioField(
            ITEM_TEXT[code], choices=[SelectChoice(v, label) for v, label in choices(code)],
            validators=[Optional()]))
    if ask_echo:
        PersonCheckinForm.echo = text_field(
            TextAreaField, N_("From memory, our win in one sentence. (without looking it up)"), 500)
    if kind == "readiness":
        for item in ReadinessItem:
            setattr(PersonCheckinForm, readiness_field(item.value), RadioField(
                READINESS_QUESTIONS[item],
                choices=[SelectChoice(v, label) for v, label in READINESS_SCALE],
                validators=[Optional()]))
            setattr(PersonCheckinForm, readiness_field(item.value, "comment"),
                    text_field(StringField, N_("Comment (optional)"), 500))

    for c_id in commitments:
        setattr(PersonCheckinForm, status_field(str(c_id)), RadioField(
            N_("Status"), choices=[SelectChoice(k, v) for k, v in STATUS_LABELS.items()],
            validators=[Optional()]))
        setattr(PersonCheckinForm, note_field(str(c_id)),
                text_field(StringField, N_("Note (optional)"), 1000))
    for m_id, name, unit in metrics:
        label = f"{name} ({unit})" if unit else name
        setattr(PersonCheckinForm, reading_field(str(m_id)), ReadingField(
            label, locale=locale, metric=name, unit=unit))
        setattr(PersonCheckinForm, reading_note_field(str(m_id)), text_field(
            StringField, N_("The story behind this number (optional)"), 1000))
    return PersonCheckinForm


def make_form(checkin: Checkin, *, formdata: Any = None,
              find_organisations: FindOrganisations | None = None) -> CheckinForm:
    """Return the form, prefilled from the latest answers when there is no posted data;
    `find_organisations` matches the helpers' names a POST typed (a large coalition's)."""
    cls = checkin_form_class(checkin)
    prefill = prefill_data(checkin) if formdata is None else {}
    form = cls(formdata=formdata, data=prefill) if formdata is not None else cls(data=prefill)
    form.helped_by.choices = [
        SelectChoice(oid, name)
        for oid, name in checkin.other_organisations]
    names = helper_names(form)
    if names is not None and find_organisations is not None:
        names.find, names.own_name = find_organisations, checkin.organisation_name
    return form


def helper_names(form: CheckinForm) -> HelperNamesField | None:
    """Return the box for typing helpers' names, on a large coalition's form only."""
    field = form._fields.get("helped_by_names")
    return field if isinstance(field, HelperNamesField) else None


def prefill_data(checkin: Checkin) -> dict[str, Any]:
    """Map the latest stored answers back onto field names."""
    answers = checkin.latest or {}
    data: dict[str, Any] = {}
    for key, report in (answers.get("commitments") or {}).items():
        data[status_field(key)] = report.get("status")
        data[note_field(key)] = report.get("note", "")
    for key, value in (answers.get("readings") or {}).items():
        data[reading_field(key)] = value
    for key, value in (answers.get("reading_notes") or {}).items():
        data[reading_note_field(key)] = value
    for code, value in (answers.get("items") or {}).items():
        data[item_field(code)] = None if value is None else str(value)
    for item, sheet in (answers.get("readiness") or {}).items():
        if isinstance(sheet, dict):
            rating = sheet.get("rating")
            data[readiness_field(item)] = None if rating is None else str(rating)
            data[readiness_field(item, "comment")] = sheet.get("comment", "")
    data["echo"] = answers.get("echo", "")
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
        note = clean_text(form[note_field(str(c.id))].data)
        if status or note:
            commitments[str(c.id)] = {"status": status or "", "note": note}
    readings: dict[str, float] = {}
    for m in checkin.metrics:
        field = form[reading_field(str(m.id))]
        if isinstance(field, ReadingField) and field.number is not None:
            readings[str(m.id)] = field.number
    new_text = clean_text(form.new_commitment.data)
    extra: dict[str, Any] = {}
    notes = {}
    for m in checkin.metrics:
        note = clean_text(form[reading_note_field(str(m.id))].data)
        if note:
            notes[str(m.id)] = note
    if notes:
        extra["reading_notes"] = notes
    items = {code: stored_value(code, form[item_field(code)].data) for code in checkin.items
             if form[item_field(code)].data}
    if items:
        extra["items"] = items
    if checkin.ask_echo:
        extra["echo"] = clean_text(form["echo"].data)
    if checkin.kind == "readiness":
        sheet = {}
        for item in ReadinessItem:
            rating = form[readiness_field(item.value)].data
            comment = clean_text(form[readiness_field(item.value, "comment")].data)
            if rating or comment:
                sheet[item.value] = {"rating": int(rating) if rating else None,
                                     "comment": comment}
        extra["readiness"] = sheet
    helped = set(form.helped_by.data or [])
    names = helper_names(form)
    if names is not None:  # the ticked ones and the typed ones, each once
        helped.update(names.ids)
    return extra | {
        "commitments": commitments,
        "new_commitment": {
            "text": new_text,
            "due": form.new_due.data.isoformat() if new_text and form.new_due.data else None,
        } if new_text else None,
        "readings": readings,
        "win": clean_text(form.win.data),
        "blocker": clean_text(form.blocker.data),
        "help_wanted": bool(form.help_wanted.data),
        "pulse": int(form.pulse.data) if form.pulse.data else None,
        "helped_by": sorted(helped),
    }
