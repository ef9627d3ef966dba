"""Metric readings as partners type them, read by the coalition's locale.

A reading is read the way the coalition writes numbers (Babel's CLDR data gives each locale's
decimal and group marks): in `en`, 3,500 is three thousand five hundred and 3,5 is refused;
in `de`, 3.500 is three thousand five hundred and 3,5 is three and a half. Around that, what
phones and habits add is accepted: spaces of any width (1 234,5) and apostrophes (1'234.5) as
thousands separators, the other one of point and comma as a thousands separator (1.234,5 in
`fr`, 1,234.5 in `de_CH`), Unicode minus, Arabic-Indic and other decimal digits, one currency
symbol (€1,200; 1 200 €) and one percent sign (12% reads as 12: a percentage metric is stated
in percent, so the sign is a unit, not a division by 100).

Where the decimal mark is not a point, a number the locale reads one way and English habit
(what phones, spreadsheets and international partners bring) reads another is refused as
ambiguous, although the locale alone could read it: in `de`, 1,234 (1.234 to the locale,
1234 in English) and 1.234 (1234 to the locale, 1.234 in English); the same for 12,500 or
3.500. A wrong guess would record a reading a thousand times off, and the thanks page would
show it back in the very form the partner typed, so nobody would notice. The partner is told
both readings and how to write each: 1234 (or 1 234) for the whole number, 1,2340 (with an
extra zero) for the fraction; `format_reading` writes such values that way too, so that what
it shows reads back unchanged. Where the decimal mark is a point (`en`), the locale and the
English habit agree, so 3,500 is three thousand five hundred and 1.234 is a decimal.

Refused with a `NumberProblem` too: empty input, words, NaN and infinity, exponents (1e5),
more than MAX_INTEGER_DIGITS digits before the decimal mark or MAX_FRACTION_DIGITS after it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.core import parse_locale
from babel.numbers import format_decimal, get_decimal_symbol, get_group_symbol

from pipeline.core.text import clean_name
from pipeline.core.words import N_, Words, words

MAX_INTEGER_DIGITS = 15  # up to 999 trillion: more is a typo in any coalition's metric
MAX_FRACTION_DIGITS = 6
MAX_INPUT_LENGTH = 64

_HINT_VALUE = Decimal("1234.5")

# What phones and other scripts type, folded to the few characters the reader knows.
_FOLD = str.maketrans(
    {
        "\u2212": "-",  # minus sign
        "\ufe63": "-",  # small hyphen-minus
        "\uff0d": "-",  # fullwidth hyphen-minus
        "\uff0b": "+",
        "\ufe62": "+",
        "\u066a": "%",  # Arabic percent sign
        "\uff05": "%",
        "\ufe6a": "%",
        "\uff0e": ".",
        "\uff0c": ",",
        "\u2019": "'",  # the apostrophe Swiss phones type
        "\u02bc": "'",
        "\uff07": "'",
        "\t": " ",
    }
)
# Direction marks that RTL keyboards and CLDR's own minus signs put around numbers.
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_ARABIC_DECIMAL, _ARABIC_GROUP = "\u066b", "\u066c"
_DECIMAL = "decimal"  # the kind of the decimal mark, whatever character it is
_DIGITS = "0123456789"
_MARKS = ".,' \u066b\u066c"  # with the locale's own two marks, all a number may hold
_LETTERS = re.compile(r"[^\W\d_]")
_EXPONENT = re.compile(r"[\d.,]+e[+-]?\d+")


class NumberProblem(ValueError):
    """A reading that cannot be recorded, with a sentence that says how to write it.

    `words` is the sentence as a msgid and its values (pipeline.core.words), so a page can
    write it in the partner's language (emails.model_words.say); `message` and str() are
    its English, for logs and the CLI. `text` is what was typed; `readings` are the values
    it could have meant (two for an ambiguous reading, one for a number written another
    locale's way, none when nothing was understood); `suggestion` is the first of them
    written the coalition's way, or None. Numbers in the values are already written the
    coalition's way (strings), so every language shows them as the coalition writes them.
    """

    def __init__(
        self,
        said: Words,
        *,
        text: str,
        readings: tuple[Decimal, ...] = (),
        suggestion: str | None = None,
    ):
        message = str(said)
        super().__init__(message)
        self.words = said
        self.message = message
        self.text = text
        self.readings = readings
        self.suggestion = suggestion


@dataclass(frozen=True)
class _Marks:
    """How a locale writes numbers: its decimal mark, group mark and digit grouping."""

    name: str
    decimal: str
    group: str
    grouping: tuple[int, int]  # (last group, other groups): (3, 3); (3, 2) in India


def parse_reading(text: str, locale: str = "en") -> Decimal:
    """Read a number the way a partner in `locale` typed it; raise NumberProblem if unsure.

    Raises ValueError (not NumberProblem) for a locale Babel does not know: that is the
    coalition's setting, not the partner's typing; `locale_problem` checks it beforehand.
    """
    marks = _marks(locale)
    shown = _shown(text)
    folded = _fold(text)
    if not folded.strip():
        raise NumberProblem(
            words(N_("Type a number, e.g. %(example)s."), example=_example(marks)), text=text
        )
    if len(text) > MAX_INPUT_LENGTH:
        raise NumberProblem(
            words(
                N_("\u201c%(shown)s\u201d is too long for a number. "
                   "Type digits only, e.g. %(example)s."),
                shown=shown,
                example=_example(marks),
            ),
            text=text,
        )
    body, negative = _unwrap(folded, marks)
    if body is None:
        raise NumberProblem(_not_a_number(shown, folded, _example(marks)), text=text)
    runs, seps = _split(body)
    value = _read(runs, seps, marks.decimal, marks.grouping)
    if value is None:
        raise _misread(text, shown, runs, seps, negative, marks)
    if not _fits(value):
        raise NumberProblem(
            words(
                N_("\u201c%(shown)s\u201d has more digits than a reading can hold (at most "
                   "%(whole)s before the decimal mark and %(fraction)s after). "
                   "Check for extra digits."),
                shown=shown,
                whole=MAX_INTEGER_DIGITS,
                fraction=MAX_FRACTION_DIGITS,
            ),
            text=text,
        )
    english = _english_reading(runs, seps, marks)
    if english is not None and english != value:
        raise _ambiguous(text, shown, _signed(value, negative), _signed(english, negative), marks)
    return _signed(value, negative)


def format_reading(value: Decimal, locale: str = "en") -> str:
    """Write a reading the coalition's way, in a form `parse_reading` reads back unchanged.

    Where the locale and the English habit would read the usual form two ways (1.234 and
    1,234 in `de`), it is written the one way that reads back: 1234, or 1,2340.
    """
    if not value.is_finite():
        raise ValueError(f"a reading is a finite number, not {value}")
    marks = _marks(locale)
    shown = format_decimal(value, locale=marks.name, decimal_quantization=False)
    if _unsigned_readings(shown, marks)[0] != abs(value):
        # Babel takes an apostrophe group mark for a pattern quote and misplaces it (de_CH
        # 1000000'000); written without group marks the number is always right.
        shown = format_decimal(
            value, locale=marks.name, decimal_quantization=False, group_separator=False
        )
    local, english = _unsigned_readings(shown, marks)
    if english is None or english == local:
        return shown
    if value == value.to_integral_value():
        return format_decimal(value, locale=marks.name, group_separator=False)
    return shown + "0"


def number_hint(locale: str = "en") -> str:
    """Return an example the form can show next to a reading box, like 'e.g. 1,234.5'."""
    return f"e.g. {number_example(locale)}"


def number_example(locale: str = "en") -> str:
    """Return a number written the locale's way, like '1,234.5' (a page words it around)."""
    return _example(_marks(locale))


def locale_problem(locale: str) -> str | None:
    """Say why `locale` cannot be a coalition's number locale, or None when it can."""
    try:
        _marks(locale)
    except ValueError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=64)
def _marks(locale: str) -> _Marks:
    identifier = locale.strip().replace("-", "_")
    try:
        asked = parse_locale(identifier)
        parsed = Locale.parse(identifier)
    except (UnknownLocaleError, ValueError, TypeError):
        parsed = None
    # Babel falls back quietly (en_ZZ gives en_US); a coalition's setting must be what it says.
    given = (parsed.language, parsed.territory, parsed.script, parsed.variant) if parsed else ()
    if parsed is None or any(part and part != got for part, got in zip(asked, given, strict=True)):
        raise ValueError(
            f"\u201c{clean_name(locale)[:40]}\u201d is not a locale this tool knows. "
            "Use a language code, optionally with a country: en, de, fr, pt_BR, en_IN."
        )
    last, other = parsed.decimal_formats[None].grouping
    return _Marks(
        name=str(parsed),
        decimal=_fold(get_decimal_symbol(parsed)),
        group=_fold(get_group_symbol(parsed)),
        grouping=(last, other) if last < 1000 else (3, 3),  # 1000: "no grouping" (en_US_POSIX)
    )


def _fold(text: str) -> str:
    """Fold digits, signs, spaces and marks of every script to the ones the reader knows."""
    text = _INVISIBLE.sub("", text).translate(_FOLD)
    return "".join(_fold_char(ch) for ch in text)


def _fold_char(ch: str) -> str:
    if ch.isascii():
        return ch
    digit = unicodedata.decimal(ch, None)
    if digit is not None:
        return str(digit)
    if unicodedata.category(ch) == "Zs":  # no-break, narrow no-break, thin, figure spaces
        return " "
    return ch


def _unwrap(text: str, marks: _Marks) -> tuple[str | None, bool]:
    """Take off one sign and one unit (a currency symbol or a percent sign) around the digits.

    Returns the digits with their marks and whether the sign was a minus; None for the digits
    when anything else is left.
    """
    text = text.strip()
    signed = unit = negative = False
    while text and text[0] not in _DIGITS and not _is_mark(text[0], marks):
        head = text[0]
        if head in "+-" and not signed:
            signed, negative = True, head == "-"
        elif _is_unit(head) and not unit:
            unit = True
        else:
            return None, False
        text = text[1:].lstrip()
    if text and _is_unit(text[-1]) and not unit:
        text = text[:-1].rstrip()
    if not any(ch in _DIGITS for ch in text):
        return None, False
    if not all(ch in _DIGITS or _is_mark(ch, marks) for ch in text):
        return None, False
    return text, negative


def _is_mark(ch: str, marks: _Marks) -> bool:
    return ch in _MARKS or ch in (marks.decimal, marks.group)


def _is_unit(ch: str) -> bool:
    return ch == "%" or unicodedata.category(ch) == "Sc"


def _split(body: str) -> tuple[list[str], list[str]]:
    """Split '1.234,5' into digit runs ['1', '234', '5'] and the marks between them ['.', ',']."""
    parts = re.split("([^0-9])", body)
    return parts[0::2], parts[1::2]


def _read(
    runs: list[str], seps: list[str], decimal: str, grouping: tuple[int, int]
) -> Decimal | None:
    """Read digit runs and marks with `decimal` as the decimal mark; None if they do not fit."""
    kinds = [_DECIMAL if _is_decimal(sep, decimal) else _group_kind(sep) for sep in seps]
    if kinds.count(_DECIMAL) > 1 or (_DECIMAL in kinds and kinds[-1] != _DECIMAL):
        return None
    if _DECIMAL in kinds:
        whole, fraction = runs[:-1], runs[-1]
        groups = kinds[:-1]
        if not fraction:
            return None
    else:
        whole, fraction, groups = runs, "", kinds
    if len(set(groups)) > 1 or any(not run for run in whole[1:]):
        return None
    if groups and not _grouped(whole, grouping):
        return None
    if not whole[0] and (groups or not fraction):
        return None
    digits = "".join(whole) or "0"
    return Decimal(f"{digits}.{fraction}" if fraction else digits)


def _is_decimal(sep: str, decimal: str) -> bool:
    return sep in (decimal, _ARABIC_DECIMAL)


def _group_kind(sep: str) -> str:
    """Name a group mark; every space counts as one kind, so NBSP and space may mix."""
    return "'" if sep == _ARABIC_GROUP else sep


def _grouped(whole: list[str], grouping: tuple[int, int]) -> bool:
    """Say whether thousands groups are sized right: 1,234,567 anywhere; 12,34,567 in India."""
    if whole[0].startswith("0"):
        return False
    for last, other in {(3, 3), grouping}:
        if (
            len(whole[-1]) == last
            and all(len(run) == other for run in whole[1:-1])
            and 1 <= len(whole[0]) <= (other if len(whole) > 2 else last)
        ):
            return True
    return False


def _english_reading(runs: list[str], seps: list[str], marks: _Marks) -> Decimal | None:
    """Read the text the English way (a point for decimals), as phones and spreadsheets write.

    Where it differs from the locale's reading, the text is ambiguous: 1,234 in `de` is 1.234
    to the locale but 1234 to an English habit, and 1.234 the other way round.
    """
    if marks.decimal == ".":
        return None  # the locale reads the English way already
    return _read(runs, seps, ".", (3, 3))


def _unsigned_readings(shown: str, marks: _Marks) -> tuple[Decimal | None, Decimal | None]:
    """Read a number as written by Babel, without its sign: the locale's way and English."""
    runs, seps = _split(_fold(shown).lstrip("-"))
    return _read(runs, seps, marks.decimal, marks.grouping), _english_reading(runs, seps, marks)


def _signed(value: Decimal, negative: bool) -> Decimal:
    return -value if negative and value else value


def _fits(value: Decimal) -> bool:
    """Say whether a reading is within the digits a reading may have."""
    exponent = value.as_tuple().exponent
    return abs(value) < 10**MAX_INTEGER_DIGITS and -int(exponent) <= MAX_FRACTION_DIGITS


@lru_cache(maxsize=64)
def _example(marks: _Marks) -> str:
    return format_reading(_HINT_VALUE, marks.name)


def _not_a_number(shown: str, folded: str, example: str) -> Words:
    folded = folded.strip().lower()
    if any(word in folded for word in ("nan", "inf", "\u221e")):
        return words(
            N_("\u201c%(shown)s\u201d is not a number that can be recorded. "
               "Type digits, e.g. %(example)s."),
            shown=shown,
            example=example,
        )
    if _EXPONENT.search(folded):
        return words(
            N_("\u201c%(shown)s\u201d is written with an exponent. "
               "Write the number out in full, e.g. %(example)s."),
            shown=shown,
            example=example,
        )
    if _LETTERS.search(folded):
        return words(
            N_("\u201c%(shown)s\u201d is not a number. Type digits only, without units or "
               "words, e.g. %(example)s."),
            shown=shown,
            example=example,
        )
    return words(
        N_("\u201c%(shown)s\u201d is not a number. Type it like %(example)s."),
        shown=shown,
        example=example,
    )


def _misread(
    text: str,
    shown: str,
    runs: list[str],
    seps: list[str],
    negative: bool,
    marks: _Marks,
) -> NumberProblem:
    """Say how a number that does not fit the locale reads the other way, if it does."""
    if marks.decimal == ".":
        mark_phrase = words(N_("Here the decimal mark is a point"))
    elif marks.decimal == ",":
        mark_phrase = words(N_("Here the decimal mark is a comma"))
    else:
        mark_phrase = words(
            N_("Here the decimal mark is \u201c%(mark)s\u201d"), mark=marks.decimal
        )
    for other in ".,".replace(marks.decimal, ""):
        value = _read(runs, seps, other, marks.grouping)
        if value is not None and _fits(value):
            value = _signed(value, negative)
            written = format_reading(value, marks.name)
            return NumberProblem(
                words(
                    N_("\u201c%(shown)s\u201d is not written the way this coalition writes "
                       "numbers. %(mark)s: if you mean %(written)s, type %(written)s."),
                    shown=shown,
                    mark=mark_phrase,
                    written=written,
                ),
                text=text,
                readings=(value,),
                suggestion=written,
            )
    return NumberProblem(
        words(
            N_("\u201c%(shown)s\u201d is not a number written the way this coalition writes "
               "them. %(mark)s: type it like %(example)s."),
            shown=shown,
            mark=mark_phrase,
            example=_example(marks),
        ),
        text=text,
    )


def _ambiguous(
    text: str, shown: str, local: Decimal, english: Decimal, marks: _Marks
) -> NumberProblem:
    whole, fraction = (local, english) if local.as_tuple().exponent == 0 else (english, local)
    return NumberProblem(
        words(
            N_("\u201c%(shown)s\u201d could be read two ways. If you mean the whole number, "
               "type %(whole)s; if you mean %(integer)s and a fraction, type %(fraction)s."),
            shown=shown,
            whole=format_reading(whole, marks.name),
            integer=str(int(fraction)),
            fraction=format_reading(fraction, marks.name),
        ),
        text=text,
        readings=(whole, fraction),
    )


def _shown(text: str) -> str:
    """Quote what was typed in a message safely and briefly."""
    name = clean_name(text)
    return name if len(name) <= 40 else name[:39] + "\u2026"
