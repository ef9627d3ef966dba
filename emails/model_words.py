"""The COS model's words in the reader's language: the presentation edge of pipeline/core.

The core writes English and keeps each sentence's msgid and values apart (pipeline.core.words,
stored in the snapshot under "words"); this module translates a snapshot (or the one-page view
built from it) for one reader: phase labels, bands, stage, trends, moves (the action, the
playbook's reason, the talk script, the evidence) and what slipped, with numbers in the
reader's locale (Babel). English is returned as the core wrote it. A snapshot stored before
"words" existed keeps its English sentences; its labels and bands are still translated.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal

from emails.format import N_
from emails.i18n import DEFAULT_LANGUAGE, babel_locale, normalise, translations

# Words the core uses as keys and shows as they are; listed here so the catalog has them.
SHOWN_AS_IS = (
    N_("Ready"), N_("Win"), N_("Align"), N_("Score"), N_("Trust"), N_("Momentum"),
    N_("strong"), N_("discuss"), N_("concern"), N_("not enough answers"),
    N_("green"), N_("amber"), N_("red"),
    N_("launch"), N_("growth"), N_("maturity"), N_("reset"),
    N_("improving"), N_("worsening"), N_("flat"),
)


def word(text: str | None, language: str) -> str:
    """Translate one of the core's own words (a label, band, stage or trend)."""
    if not text:
        return ""
    return translations(normalise(language)).gettext(text)


def say(data: Any, language: str, locale: str | None = None) -> str:
    """Write stored words ({"msgid", "values"}) in a language, numbers in a locale; a list
    of them is joined with semicolons."""
    if isinstance(data, list):
        return "; ".join(say(d, language, locale) for d in data)
    if not isinstance(data, Mapping):
        return _value(data, language, locale)
    if "decimal" in data:
        return _value(Decimal(str(data["decimal"])), language, locale)
    text = translations(normalise(language)).gettext(str(data.get("msgid", "")))
    values = data.get("values") or {}
    if not values:
        return text
    return text % {k: say(v, language, locale) for k, v in values.items()}


def _value(value: Any, language: str, locale: str | None) -> str:
    if isinstance(value, Decimal):  # written with the places it has (4.0 stays 4,0 in es)
        places = max(0, -int(value.as_tuple().exponent))
        return format_decimal(value, format="#,##0" + ("." + "0" * places if places else ""),
                              locale=babel_locale(locale or language))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return format_decimal(value, locale=babel_locale(locale or language))


def translated_model(model: Mapping[str, Any] | None, language: str,
                     locale: str | None = None) -> dict[str, Any] | None:
    """Return a copy of a snapshot (or one-page view) for a reader of `language`: display
    labels added beside the keys (stage_label, band_label, trend_label, phase_label), English
    sentences replaced by their translation. The keys stay as they are (CSS classes use them)."""
    if not model:
        return None
    view = copy.deepcopy(dict(model))
    lang = normalise(language)
    view["stage_label"] = word(view.get("stage"), lang)
    for phase in (view.get("phases") or {}).values():
        phase["label"] = word(phase.get("label"), lang)
        phase["band_label"] = word(phase.get("band"), lang)
    for metric in view.get("metrics") or []:
        metric["band_label"] = word(metric.get("band"), lang)
        metric["trend_label"] = word(metric.get("trend"), lang)
    phases = view.get("phases") or {}
    for move in view.get("moves") or []:
        key = move.get("phase", "")
        move["phase_label"] = phases.get(key, {}).get("label") or word(key.capitalize(), lang)
        if lang == DEFAULT_LANGUAGE:
            continue
        said = move.get("words") or {}
        move["reason"] = word(move.get("reason"), lang)
        move["script"] = word(move.get("script"), lang)
        if said.get("move"):
            move["move"] = say(said["move"], lang, locale)
        if said.get("evidence"):
            move["evidence"] = "; ".join(say(e, lang, locale) for e in said["evidence"])
    if lang != DEFAULT_LANGUAGE and view.get("risk_parts"):
        view["risks"] = [say(r["move"], lang, locale) if "move" in r else
                         f"{word(r['phase'].capitalize(), lang)}: {word(r['reason'], lang)}"
                         for r in view["risk_parts"]]
    readiness = view.get("readiness")
    if lang != DEFAULT_LANGUAGE and isinstance(readiness, dict) \
            and readiness.get("reason_words"):
        readiness["reasons"] = [say(r, lang, locale) for r in readiness["reason_words"]]
    if lang != DEFAULT_LANGUAGE:
        for item in view.get("slipped") or []:
            said = item.get("words") or {}
            for key in ("what", "why"):
                if said.get(key):
                    item[key] = say(said[key], lang, locale)
    return view
