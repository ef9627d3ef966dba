"""Text from forms and files: cleaned once at the edge, refused when cleaning is not enough."""

from __future__ import annotations

import csv
import io
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.text import (
    NAME_MAX_LENGTH,
    clean_name,
    clean_text,
    name_problem,
    neutralise_formula,
    neutralise_row,
    text_problem,
    typed_names,
)

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"
WOMAN_TECHNOLOGIST = "\U0001f469\U0001f3fd\u200d\U0001f4bb"  # with a skin tone
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
FRANCE = "\U0001f1eb\U0001f1f7"
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # ZWNJ is part of the spelling

FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

# Text as a hostile or careless sender makes it: every plane, controls and joiners included.
hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(codec=None),
        st.sampled_from(
            "\x00\t\n\r\x0b\x0c\x1b\x7f\x85\x9f\u200b\u200c\u200d\u2028\u202e\u2066\ufeff"
            "\ud83d\ude00\udfff e\u0301\U0001f3f4\U000e0067\U000e007f\U0001f1eb\u1100\u1161"
        ),
    ),
    max_size=60,
)
FAST = settings(max_examples=150, deadline=None)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("before\x00after", "beforeafter"),
        ("bell\x07 and escape\x1b[31m", "bell and escape[31m"),
        ("c1\x9b control", "c1 control"),
        ("windows\r\nold mac\rend", "windows\nold mac\nend"),
        ("line\u2028separator", "line\nseparator"),
        ("tab\tstays", "tab\tstays"),
        ("trailing   \nspaces\t \n", "trailing\nspaces"),
        ("\n\n  around  \n\n", "around"),
        ("cafe\u0301", "caf\u00e9"),
        ("\u202egnp.exe", "gnp.exe"),
        ("isolate \u2066x\u2069", "isolate x"),
        ("left\u200emark", "left\u200emark"),
        ("zero\u200bwidth", "zerowidth"),
        ("\ufeffbom", "bom"),
        ("hidden\U000e0041\U000e0042 tags", "hidden tags"),
        ("lone \ud800surrogate", "lone surrogate"),
        ("split pair \ud83d\ude00", "split pair \U0001f600"),
    ],
)
def test_clean_text_removes_what_breaks_storage_or_hides_meaning(typed: str, stored: str) -> None:
    assert clean_text(typed) == stored


@pytest.mark.parametrize(
    "kept", [FAMILY, RAINBOW_FLAG, WOMAN_TECHNOLOGIST, SCOTLAND, FRANCE, PERSIAN]
)
def test_clean_text_keeps_joiners_and_tags_that_join_something(kept: str) -> None:
    assert clean_text(f"we {kept} did it") == f"we {kept} did it"


@pytest.mark.parametrize(
    "stray", ["\u200d", "\u200c", "a\u200d ", " \u200db", "a\u200d\u200db", "1\u200d2"]
)
def test_clean_text_drops_joiners_that_join_nothing(stray: str) -> None:
    assert "\u200d" not in clean_text(stray) and "\u200c" not in clean_text(stray)


def test_clean_text_treats_none_as_empty() -> None:
    assert clean_text(None) == ""


@pytest.mark.parametrize(
    ("typed", "limit", "stored"),
    [
        ("abcdef", 3, "abc"),
        ("ab" + FAMILY, 4, "ab"),
        ("ab" + FAMILY + "c", 7, "ab" + FAMILY),
        ("e\u0301\u0323x", 1, ""),  # NFC gives e-acute + dot below: two code points, one letter
        ("a" + FRANCE + FRANCE, 4, "a" + FRANCE),
        ("\u115a\u1161\u11c3", 2, ""),  # old Hangul jamo: one syllable NFC cannot compose
        ("word   next", 6, "word"),
    ],
)
def test_clean_text_cuts_to_the_limit_between_characters_never_inside_one(
    typed: str, limit: int, stored: str
) -> None:
    assert clean_text(typed, max_length=limit) == stored


@FAST
@given(hostile_text)
def test_clean_text_is_idempotent(typed: str) -> None:
    once = clean_text(typed)
    assert clean_text(once) == once


@FAST
@given(hostile_text, st.integers(min_value=0, max_value=30))
def test_clean_text_with_a_limit_is_idempotent_and_never_too_long(typed: str, limit: int) -> None:
    once = clean_text(typed, max_length=limit)
    assert len(once) <= limit
    assert clean_text(once, max_length=limit) == once


@FAST
@given(hostile_text)
def test_clean_text_never_returns_controls_overrides_or_surrogates(typed: str) -> None:
    cleaned = clean_text(typed)
    assert not FORBIDDEN.search(cleaned)
    assert "\r" not in cleaned
    assert unicodedata.is_normalized("NFC", cleaned)
    cleaned.encode("utf-8")  # no lone surrogate: PostgreSQL and SMTP take it


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Ana \n\tMar\u00eda\u00a0 L\u00f3pez ", "Ana Mar\u00eda L\u00f3pez"),
        ("Evil\r\nBcc: x@example.org", "Evil Bcc: x@example.org"),
        ("nul\x00led", "nulled"),
    ],
)
def test_clean_name_gives_one_line_with_single_spaces(typed: str, stored: str) -> None:
    assert clean_name(typed) == stored


@FAST
@given(hostile_text)
def test_clean_name_is_idempotent_and_has_no_line_breaks_or_tabs(typed: str) -> None:
    name = clean_name(typed)
    assert clean_name(name) == name
    assert not re.search(r"[\n\t]|\s\s", name) and name == name.strip()


@pytest.mark.parametrize("blank", ["", "   ", "\x00\u200b\ufeff", None, "\n\t"])
def test_name_problem_refuses_a_name_that_cleans_to_nothing(blank: str | None) -> None:
    assert name_problem(blank) == "The name is blank. Type a name."


def test_name_problem_refuses_a_name_that_is_too_long() -> None:
    problem = name_problem("x" * (NAME_MAX_LENGTH + 1))
    assert problem is not None and "201 characters" in problem and "200" in problem


def test_name_problem_refuses_a_name_without_letters_or_digits() -> None:
    assert name_problem("--- ...") == "The name has no letters or digits. Type a name."


@pytest.mark.parametrize("name", ["Ana", "\u674e\u534e", "O'Brien-Smith", "Team 7", PERSIAN])
def test_name_problem_accepts_ordinary_names(name: str) -> None:
    assert name_problem(name) is None


def test_text_problem_refuses_text_longer_than_the_limit_after_cleaning() -> None:
    assert text_problem("a" * 10 + "\x00" * 50, max_length=10) is None
    assert text_problem("a" * 11, max_length=10) == (
        "This is 11 characters long; the limit is 10. Please shorten it."
    )


@pytest.mark.parametrize(
    "cell",
    [
        "=1+1",
        "+1+1",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(A1:A2)",
        "\t=1",
        "\r=1",
        "\uff1dcmd",  # fullwidth equals
        "\uff20SUM(1)",
        '  =HYPERLINK("http://x")',
        "-",
        "-1e5",
    ],
)
def test_neutralise_formula_quotes_cells_a_spreadsheet_could_run(cell: str) -> None:
    assert neutralise_formula(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-3.5", "+2", "-1,5", "-1,234.5", "plain", "", "a=b", "3-4"])
def test_neutralise_formula_leaves_plain_numbers_and_text_alone(cell: str) -> None:
    assert neutralise_formula(cell) == cell


def test_neutralise_row_leaves_cells_that_are_not_text_alone() -> None:
    assert neutralise_row(["=1", -3, None, 2.5, "ok"]) == ["'=1", -3, None, 2.5, "ok"]


def test_a_neutralised_row_written_as_csv_starts_no_cell_with_a_formula_character() -> None:
    out = io.StringIO()
    csv.writer(out).writerow(neutralise_row(["=cmd|' /C calc'!A0", "@x", "-3.5"]))
    cells = next(csv.reader(io.StringIO(out.getvalue())))
    assert cells == ["'=cmd|' /C calc'!A0", "'@x", "-3.5"]


@FAST
@given(st.text(max_size=20))
def test_neutralise_formula_output_never_starts_a_formula_unless_a_plain_number(
    cell: str,
) -> None:
    safe = neutralise_formula(cell)
    first = safe.lstrip(" \u00a0")[:1]
    assert first not in set("=+-@\t\r\uff1d\uff0b\uff0d\uff20") or re.fullmatch(
        r"[+-]?[0-9]+(?:[.,][0-9]+)*", safe
    )


@pytest.mark.parametrize(("typed", "names"), [
    ("", []),
    ("  Northside Food Bank.  ", ["Northside Food Bank"]),
    ("a, b\nc;d", ["a", "b", "c", "d"]),
    ("Eastside,\n\n , eastside ,EASTSIDE.", ["Eastside"]),  # the same name once
    ("(Friends of the Park)", ["Friends of the Park"]),
    ("St. Mary's", ["St. Mary's"]),  # inner punctuation is part of the name
    ("\u201cCaf\u00e9 Uni\u00f3n\u201d", ["Caf\u00e9 Uni\u00f3n"]),
    ("Food\u00a0\u00a0Bank", ["Food Bank"]),
])
def test_typed_names_are_split_at_lines_commas_and_semicolons_and_trimmed(typed, names):
    assert typed_names(typed) == names
