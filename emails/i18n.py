"""One translation layer for everything a partner reads: gettext catalogs via Babel.

The catalog lives in emails/translations (messages.pot, and <lang>/LC_MESSAGES/messages.po
with its compiled .mo, shipped as package data). Templates mark strings with
`{% trans %}...{% endtrans %}` or `_("...")` (Jinja's i18n extension, new-style gettext:
placeholders are `%(name)s` and filled by keyword); Python code calls `gettext_for(language)`.
English is the source language: its output is the template text itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from markupsafe import Markup

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DEFAULT_LANGUAGE = "en"


def shipped_languages() -> tuple[str, ...]:
    """Return the languages with a compiled catalog, English (the source) first."""
    found = sorted(p.parent.parent.name for p in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.mo"))
    return (DEFAULT_LANGUAGE, *(lang for lang in found if lang != DEFAULT_LANGUAGE))


LANGUAGES = shipped_languages()


def language_problem(language: str) -> str | None:
    """Say why a language setting cannot be used, or None when it is shipped."""
    if normalise(language) in LANGUAGES:
        return None
    return f"language {language!r} is not shipped: expected one of {', '.join(LANGUAGES)}"


def normalise(language: str | None) -> str:
    """Reduce a language setting ("es", "ES", "es_MX", "es-MX") to a shipped catalog name."""
    if not language:
        return DEFAULT_LANGUAGE
    code = language.strip().replace("-", "_")
    if code in LANGUAGES:
        return code
    base = code.split("_")[0].lower()
    return base if base in LANGUAGES else code.lower()


def choose(*settings: str | None) -> str:
    """Pick the first language that is set (the person's, then the coalition's), or English."""
    for setting in settings:
        if setting:
            return normalise(setting)
    return DEFAULT_LANGUAGE


@cache
def translations(language: str) -> NullTranslations:
    """Return the gettext catalog of a language (English and unknown: the identity)."""
    language = normalise(language)
    if language == DEFAULT_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [language], "messages")


def gettext_for(language: str) -> Callable[..., str]:
    """Return `_` for Python code: `_("Round %(number)s", number=3)`."""
    catalog = translations(language)

    def gettext(message: str, **variables: Any) -> str:
        text = catalog.gettext(message)
        return text % variables if variables else text

    return gettext


def ngettext_for(language: str) -> Callable[..., str]:
    """Return a plural-aware gettext for Python code; `num` is filled in for you."""
    catalog = translations(language)

    def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
        return catalog.ngettext(singular, plural, n) % {"num": n, **variables}

    return ngettext


def _template_callables(language: str) -> dict[str, Any]:
    """New-style gettext callables for a template context (escaping like Jinja's own)."""
    catalog = translations(language)

    @jinja2.pass_context
    def gettext(context: jinja2.runtime.Context, message: str, **variables: Any) -> str:
        text = catalog.gettext(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 (the catalog is ours, as Jinja's own i18n does)
        # A message given with no values is shown as it is (a label or an error handed in).
        return text % variables if variables else text

    @jinja2.pass_context
    def ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int,
                 **variables: Any) -> str:
        text = catalog.ngettext(singular, plural, n)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 (the catalog is ours, as Jinja's own i18n does)
        return text % {"num": n, **variables}

    return {"gettext": gettext, "_": gettext, "ngettext": ngettext}


def install(env: jinja2.Environment) -> None:
    """Give a Jinja environment the i18n extension; the callables come with each render."""
    env.add_extension("jinja2.ext.i18n")
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    english = _template_callables(DEFAULT_LANGUAGE)
    env.globals.update(english)
    env.globals["language"] = DEFAULT_LANGUAGE
    env.filters["local_date"] = local_date_filter
    env.globals["mailto"] = mailto
    env.filters["status_label"] = status_label_filter
    for name in ("num", "signed", "quantity", "percent"):
        if name in env.filters:  # the email environment's number filters (emails.format)
            env.filters[name] = _localised(env.filters[name])
    env.filters["decimal"] = decimal_filter
    env.filters["short_name"] = short_name


def mailto(email: str) -> Markup:
    """A mailto link showing the address, for a translated sentence to hold."""
    return Markup('<a href="mailto:{0}">{0}</a>').format(email)


@jinja2.pass_context
def status_label_filter(context: jinja2.runtime.Context, status: str) -> str:
    """Template filter: a commitment status named the way people say it, in their language."""
    from emails.format import status_label

    return translations(str(context.get("language", DEFAULT_LANGUAGE))).gettext(
        status_label(status))


def number_marks(locale: str) -> tuple[str, str]:
    """A locale's decimal mark and group mark (CLDR), e.g. ("," , ".") for es and de."""
    try:
        parsed = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return ".", ","
    return parsed.number_symbols["latn"]["decimal"], parsed.number_symbols["latn"]["group"]


def localise_number_text(text: str, locale: str) -> str:
    """Rewrite a number written the English way ("1,640.5") with a locale's marks."""
    decimal, group = number_marks(locale)
    if (decimal, group) == (".", ","):
        return text
    return text.translate({ord(","): "\0", ord("."): decimal}).replace("\0", group)


def _localised(filter_: Callable[..., str]) -> Callable[..., str]:
    """Wrap a number filter so it writes the marks of the render's number locale.

    The locale is the coalition's `locale` (how its partners write numbers) when the context
    gives one, else the reading language's; English ones keep the filter's own output.
    """

    @jinja2.pass_context
    def localised(context: jinja2.runtime.Context, value: Any, *args: Any) -> str:
        text = filter_(value, *args)
        locale = context.get("number_locale") or context.get("language") or DEFAULT_LANGUAGE
        return localise_number_text(text, str(locale))

    return localised


def template_values(language: str | None) -> dict[str, Any]:
    """What a render in `language` adds to its template context."""
    chosen = normalise(language)
    return {**_template_callables(chosen), "language": chosen}


def babel_locale(language: str) -> Locale:
    """The Babel locale of a language, English where Babel does not know it."""
    try:
        return Locale.parse(normalise(language))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LANGUAGE)


def format_moment(moment: datetime, timezone: str, language: str) -> str:
    """Format a UTC moment in a zone for people reading `language`.

    English keeps its long-standing form, 'Thursday 3 December 2026, 17:00 (Europe/London)';
    other languages use Babel's full date in that language: 'jueves, 3 de diciembre de 2026,
    17:00 (Europe/London)'.
    """
    local = moment.astimezone(ZoneInfo(timezone))
    if normalise(language) == DEFAULT_LANGUAGE:
        return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({timezone})"
    locale = babel_locale(language)
    day = format_date(local.date(), format="full", locale=locale)
    clock = format_datetime(local, format="HH:mm", tzinfo=ZoneInfo(timezone), locale=locale)
    return f"{day}, {clock} ({timezone})"


def format_day(day: date, language: str) -> str:
    """Format a calendar date: ISO in English (as before), Babel's medium form otherwise."""
    if normalise(language) == DEFAULT_LANGUAGE:
        return day.isoformat()
    return format_date(day, format="medium", locale=babel_locale(language))


@jinja2.pass_context
def local_date_filter(context: jinja2.runtime.Context, value: date | str | None) -> str:
    """Template filter: a date (or ISO date text) in the render's language."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value  # already written for people ("18 Dec")
    else:
        day = value
    return format_day(day, str(context.get("language", DEFAULT_LANGUAGE)))


@jinja2.pass_context
def decimal_filter(context: jinja2.runtime.Context, value: float | int | Decimal | None,
                   locale: str | None = None) -> str:
    """Template filter: a number with the locale's marks (the coalition's `locale` wins)."""
    if value is None:
        return "–"
    chosen = locale or context.get("number_locale") or context.get("language", "en")
    return format_decimal(value, locale=babel_locale(str(chosen)))


def catalog_messages(language: str) -> Mapping[str, Any]:
    """The msgid -> msgstr table of a shipped catalog (for the no-untranslated-strings test)."""
    catalog = translations(language)
    return dict(getattr(catalog, "_catalog", {}))


@dataclass(frozen=True)
class Lazy:
    """A sentence translated where it is shown: its msgid (marked `N_` where it is written,
    so `pybabel extract` finds it) and its values (a value may be a Lazy too).

    Code that does not know the reader's language yet (a notice for several people, example
    content) builds these; `translated(language)` writes it for one reader.
    """

    msgid: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def translated(self, language: str | None) -> str:
        text = translations(normalise(language)).gettext(self.msgid)
        if not self.values:
            return text
        return text % {k: v.translated(language) if isinstance(v, Lazy) else v
                       for k, v in self.values.items()}

    def __str__(self) -> str:
        return self.translated(DEFAULT_LANGUAGE)


def lazy(msgid: str, **values: Any) -> Lazy:
    """Return a Lazy sentence: `lazy(N_("Round %(number)s"), number=4)`."""
    return Lazy(msgid, values)


# A subject names the coalition first; a name longer than this is cut at a word (with "…"), so
# every subject stays within SUBJECT_LIMIT (tests/test_email_subjects.py says why 70).
SUBJECT_NAME_LIMIT = 26
SUBJECT_LIMIT = 70


def short_name(name: str, limit: int = SUBJECT_NAME_LIMIT) -> str:
    """Shorten a coalition's (or person's) name for a subject line, at a word boundary."""
    name = " ".join(name.split())
    if len(name) <= limit:
        return name
    cut = name[:limit - 1]
    if " " in cut and name[limit - 1] != " ":
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-–·") + "…"


def short_moment(moment: datetime, timezone: str, language: str, now: datetime) -> str:
    """A close time short enough for a subject, in the reader's language: the weekday and
    time when it is under six days away ("Thu 17:00", "jue 17:00"), else the weekday and date
    ("Thu 3 Dec"). The body gives the full date and zone."""
    zone = ZoneInfo(timezone)
    pattern = "EEE HH:mm" if moment - now < timedelta(days=6) else "EEE d MMM"
    return format_datetime(moment, pattern, tzinfo=zone, locale=babel_locale(language))
