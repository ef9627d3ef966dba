"""Metric readings: read by the coalition's locale, refused with a way out when unsure."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.numbers import (
    MAX_FRACTION_DIGITS,
    MAX_INTEGER_DIGITS,
    NumberProblem,
    format_reading,
    locale_problem,
    number_hint,
    parse_reading,
)

# One locale for each way CLDR (through Babel) writes numbers: decimal mark, group mark and
# grouping. Together they cover every locale Babel 2.19 knows.
LOCALES = [
    "en",  # 1,234.5
    "de",  # 1.234,5
    "fr",  # 1 234,5 with a narrow no-break space
    "ru",  # 1 234,5 with a no-break space
    "twq_NE",  # 1 234.5
    "de_CH",  # 1'234.5
    "fr_CH",  # 1'234,5
    "en_IN",  # 12,34,567.5
    "tok",  # 1 23 45,5
    "bgn",  # 1،234٫5
    "nqo",  # 1،234.5
    "ff_Adlm",  # 1⹁234.5
    "en_US_POSIX",  # 1234.5
]


def problem(text: str, locale: str = "en") -> NumberProblem:
    with pytest.raises(NumberProblem) as caught:
        parse_reading(text, locale)
    return caught.value


@pytest.mark.parametrize(
    ("typed", "locale", "value"),
    [
        ("1,234.5", "en", "1234.5"),
        ("3,500", "en", "3500"),
        ("1.234", "en", "1.234"),
        ("1 234,5", "de", "1234.5"),
        ("1 234,5", "fr", "1234.5"),
        ("1\u00a0234,5", "fr", "1234.5"),
        ("1\u202f234,5", "fr", "1234.5"),
        ("1.234,5", "de", "1234.5"),
        ("1.234.567", "de", "1234567"),
        ("3,5", "de", "3.5"),
        ("0,125", "de", "0.125"),
        ("1234,567", "de", "1234.567"),
        ("1,2340", "de", "1.234"),
        ("1.234,5", "fr", "1234.5"),
        ("1'234.5", "de_CH", "1234.5"),
        ("1\u2019234.5", "de_CH", "1234.5"),
        ("1,23,456", "en_IN", "123456"),
        ("1,234,567", "en_IN", "1234567"),
        ("12%", "en", "12"),
        ("%12", "tr", "12"),
        ("  42 ", "en", "42"),
        ("\u20ac1,200", "en", "1200"),
        ("1 200 \u20ac", "fr", "1200"),
        ("-\u20ac5", "en", "-5"),
        ("\u22123.5", "en", "-3.5"),
        ("\u2212 1\u202f234,5", "fr", "-1234.5"),
        ("+7", "en", "7"),
        ("-0", "en", "0"),
        (".5", "en", "0.5"),
        ("007", "en", "7"),
        ("\u0661\u0662\u0663\u066b\u0665", "ar_EG", "123.5"),  # Arabic-Indic digits
        ("\u0661\u066c\u0662\u0663\u0664", "ar", "1234"),
        ("\u06f1\u06f2\u06f3", "fa", "123"),  # Persian digits
        ("\u0967\u0968,\u0969\u096a\u096b", "hi", "12345"),  # Devanagari digits
        ("\uff13\uff0e\uff15", "ja", "3.5"),  # fullwidth, as Japanese keyboards type
        ("\u200e-5", "ar", "-5"),  # the minus sign CLDR gives Arabic
        ("1" * MAX_INTEGER_DIGITS, "en", "1" * MAX_INTEGER_DIGITS),
        ("0." + "1" * MAX_FRACTION_DIGITS, "en", "0." + "1" * MAX_FRACTION_DIGITS),
    ],
)
def test_parse_reading_reads_numbers_the_way_the_coalition_writes_them(
    typed: str, locale: str, value: str
) -> None:
    assert parse_reading(typed, locale) == Decimal(value)


def test_parse_reading_keeps_the_digits_typed_after_the_decimal_mark() -> None:
    assert str(parse_reading("3.50")) == "3.50"


@pytest.mark.parametrize(
    ("typed", "locale", "readings"),
    [
        ("1,234", "de", ("1234", "1.234")),
        ("1.234", "de", ("1234", "1.234")),
        ("3.500", "de", ("3500", "3.5")),
        ("12,500", "fr", ("12500", "12.5")),
        ("1.234", "fr", ("1234", "1.234")),
        ("-1,234", "de", ("-1234", "-1.234")),
    ],
)
def test_parse_reading_refuses_what_the_locale_and_the_english_habit_read_differently(
    typed: str, locale: str, readings: tuple[str, str]
) -> None:
    refused = problem(typed, locale)
    assert refused.readings == tuple(Decimal(r) for r in readings)
    assert refused.text == typed
    assert "could be read two ways" in str(refused)


def test_an_ambiguous_reading_says_how_to_write_each_meaning() -> None:
    assert problem("1,234", "de").message == (
        "\u201c1,234\u201d could be read two ways. If you mean the whole number, type 1234; "
        "if you mean 1 and a fraction, type 1,2340."
    )


@pytest.mark.parametrize(
    ("typed", "locale", "suggestion"),
    [
        ("3,5", "en", "3.5"),
        ("2.5", "de", "2,5"),
        ("1,234.5", "de", "1.234,5"),
        ("1 234,5", "en", "1,234.5"),
        ("-1,23", "en", "-1.23"),
    ],
)
def test_a_number_written_another_locales_way_is_refused_with_the_coalitions_way(
    typed: str, locale: str, suggestion: str
) -> None:
    refused = problem(typed, locale)
    assert refused.suggestion == suggestion
    assert refused.readings == (parse_reading(suggestion, locale),)
    assert f"type {suggestion}." in refused.message


def test_a_misread_number_suggests_nothing_that_would_be_refused_in_turn() -> None:
    refused = problem("1,2345678")  # as a decimal it has seven digits after the mark
    assert refused.suggestion is None and refused.readings == ()


def test_invisible_characters_alone_count_as_nothing_typed() -> None:
    assert problem("\u200b\u200e ").message == "Type a number, e.g. 1,234.5."


def test_format_reading_refuses_a_value_that_is_not_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        format_reading(Decimal("NaN"))


def test_a_misread_number_tells_which_mark_is_the_decimal_one() -> None:
    assert problem("3,5").message == (
        "\u201c3,5\u201d is not written the way this coalition writes numbers. "
        "Here the decimal mark is a point: if you mean 3.5, type 3.5."
    )


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "Type a number, e.g. 1,234.5."),
        ("   ", "Type a number, e.g. 1,234.5."),
        ("NaN", "not a number that can be recorded"),
        ("-Infinity", "not a number that can be recorded"),
        ("\u221e", "not a number that can be recorded"),
        ("1e5", "exponent"),
        ("2.5E-3", "exponent"),
        ("about 40", "without units or words"),
        ("40 km", "without units or words"),
        ("1" * (MAX_INTEGER_DIGITS + 1), "more digits than a reading can hold"),
        ("0." + "1" * (MAX_FRACTION_DIGITS + 1), "more digits than a reading can hold"),
        ("9" * 65, "too long for a number"),
        ("--5", "is not a number"),
        ("+-5", "is not a number"),
        ("(5)", "is not a number"),
        ("\u20ac5%", "is not a number"),
        ("5.", "Here the decimal mark is a point"),
        ("1,23,456", "Here the decimal mark is a point"),
        ("1  234", "Here the decimal mark is a point"),
        ("4\x002", "is not a number"),
        ("10\u00b2", "is not a number"),  # a superscript two is not a digit to type
    ],
)
def test_parse_reading_refuses_what_is_not_a_reading_and_says_why(typed: str, says: str) -> None:
    refused = problem(typed)
    assert says in refused.message
    assert refused.readings == () and refused.suggestion is None


def test_a_refusal_quotes_what_was_typed_without_control_characters() -> None:
    refused = problem("4\x002\u202e")
    assert "\x00" not in refused.message and "\u202e" not in refused.message
    assert refused.text == "4\x002\u202e"


def test_number_problem_is_a_value_error_so_form_validators_catch_it() -> None:
    assert isinstance(problem("x"), ValueError)


def test_parse_reading_raises_value_error_for_a_locale_babel_does_not_know() -> None:
    with pytest.raises(ValueError, match="not a locale this tool knows"):
        parse_reading("1", "xx_YY")


@pytest.mark.parametrize(
    ("locale", "hint"),
    [
        ("en", "e.g. 1,234.5"),
        ("de", "e.g. 1.234,5"),
        ("fr", "e.g. 1\u202f234,5"),
        ("de_CH", "e.g. 1'234.5"),
    ],
)
def test_number_hint_shows_the_coalitions_way_of_writing_numbers(locale: str, hint: str) -> None:
    assert number_hint(locale) == hint


@pytest.mark.parametrize(
    ("value", "locale", "shown"),
    [
        ("1234.5", "en", "1,234.5"),
        ("-1234567.25", "de", "-1.234.567,25"),
        ("0.000001", "en", "0.000001"),
        ("1234", "de", "1234"),  # 1.234 would be refused as ambiguous
        ("1.234", "de", "1,2340"),  # and so would 1,234
        ("1.234", "en", "1.234"),
    ],
)
def test_format_reading_writes_a_reading_the_coalitions_way(
    value: str, locale: str, shown: str
) -> None:
    assert format_reading(Decimal(value), locale) == shown


@pytest.mark.parametrize("locale", ["en", "de", "pt_BR", "pt-BR", "zh_Hant_TW", "en_IN"])
def test_locale_problem_accepts_locales_babel_knows(locale: str) -> None:
    assert locale_problem(locale) is None


@pytest.mark.parametrize("locale", ["", "xx", "english", "de_\x00", "en_ZZ_Bogus"])
def test_locale_problem_names_an_unknown_locale(locale: str) -> None:
    said = locale_problem(locale)
    assert said is not None and "not a locale this tool knows" in said


@pytest.mark.parametrize("locale", LOCALES)
def test_the_hint_for_each_kind_of_locale_reads_back_as_its_number(locale: str) -> None:
    assert parse_reading(number_hint(locale).removeprefix("e.g. "), locale) == Decimal("1234.5")


readings = st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places),
    st.integers(min_value=-(10**MAX_INTEGER_DIGITS) + 1, max_value=10**MAX_INTEGER_DIGITS - 1),
    st.integers(min_value=0, max_value=MAX_FRACTION_DIGITS),
)


@settings(max_examples=300, deadline=None)
@given(readings, st.sampled_from(LOCALES))
def test_a_formatted_reading_parses_back_to_the_same_number(value: Decimal, locale: str) -> None:
    assert parse_reading(format_reading(value, locale), locale) == value


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=24), st.sampled_from(LOCALES))
def test_parse_reading_gives_a_finite_bounded_number_or_a_number_problem(
    typed: str, locale: str
) -> None:
    try:
        value = parse_reading(typed, locale)
    except NumberProblem as refused:
        assert refused.message and refused.text == typed
    else:
        assert value.is_finite()
        assert abs(value) < 10**MAX_INTEGER_DIGITS
        assert -value.as_tuple().exponent <= MAX_FRACTION_DIGITS  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="0123456789.,' \u00a0\u202f-+%\u20ac\u0661\u066b\u066c", max_size=14),
    st.sampled_from(LOCALES),
)
def test_whatever_parse_reading_accepts_reads_back_after_formatting(
    typed: str, locale: str
) -> None:
    try:
        value = parse_reading(typed, locale)
    except NumberProblem:
        return
    assert parse_reading(format_reading(value, locale), locale) == value
