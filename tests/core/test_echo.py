"""The win echo: hand-made answers that must and must not match the win."""

from __future__ import annotations

import pytest

from pipeline.core.echo import (
    EchoMark,
    WinPart,
    WinSentence,
    content_words,
    echo,
    echo_rate,
    words,
)

WIN = WinSentence(
    who="Harbour County families",
    what="move into stable homes",
    how_much="200 families",
    by_when="by June 2026",
    text="200 Harbour County families move into stable homes by June 2026.",
)


@pytest.mark.parametrize(
    "answer",
    [
        "200 Harbour County families move into stable homes by June 2026.",
        "by june 2026, two hundred... no: 200 harbour county families in stable homes",
        "STABLE HOMES FOR 200 HARBOUR COUNTY FAMILIES BY JUNE 2026",
        "Harbour County family moves into a stable home: 200 of them, by Jun 2026",
        "Move 200 families into stable homes by June 2026",  # who is missing; three parts
    ],
)
def test_an_answer_with_what_and_two_more_parts_is_a_match(answer: str) -> None:
    assert echo(WIN, answer).mark is EchoMark.MATCH


@pytest.mark.parametrize(
    "answer",
    [
        "Getting families into stable homes",  # what only
        "200 families by June 2026",  # how much and by when, no what
        "Harbour County families, stable homes, some day",  # who and what: two parts
    ],
)
def test_an_answer_with_what_or_two_parts_is_partial(answer: str) -> None:
    assert echo(WIN, answer).mark is EchoMark.PARTIAL


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "   ...   ",
        "We want to end homelessness",
        "Better coordination between our organisations",
        "Families",  # one word of who is not half of it
        "by 2027",
    ],
)
def test_an_answer_about_something_else_is_off(answer: str) -> None:
    assert echo(WIN, answer).mark is EchoMark.OFF


def test_a_wrong_number_does_not_count_as_how_much() -> None:
    result = echo(WIN, "300 Harbour County families move into stable homes by June 2026")
    assert WinPart.HOW_MUCH in result.missing
    assert result.mark is EchoMark.MATCH  # who, what and by when still carry it


def test_a_wrong_year_does_not_count_as_by_when() -> None:
    result = echo(WIN, "200 Harbour County families in stable homes by June 2027")
    assert WinPart.BY_WHEN in result.missing


def test_the_reason_names_the_parts_found_and_missing_and_the_words_shared() -> None:
    result = echo(WIN, "Stable homes for 200 families")
    assert result.found == (WinPart.WHAT, WinPart.HOW_MUCH)
    assert result.missing == (WinPart.WHO, WinPart.BY_WHEN)
    assert result.reason == (
        "found what, how much; missing who, by when; 4 of 9 content words shared"
    )
    assert result.shared_words == ("200", "family", "home", "stable")


def test_the_mark_does_not_depend_on_word_order_or_case() -> None:
    a = echo(WIN, "stable homes, harbour county families, 200, june 2026")
    b = echo(WIN, "June 2026: 200 HARBOUR COUNTY FAMILIES - STABLE HOMES")
    assert a == b


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Families", ("family",)),
        ("boxes and churches", ("box", "and", "church")),
        ("homes buses", ("home", "buse")),
        ("crisis bus less", ("crisis", "bus", "less")),
        ("1,200 people", ("1200", "people")),
        ("30% or thirty per cent", ("30", "percent", "or", "30", "percent")),
        ("the council's plan", ("the", "council", "plan")),
        ("Sept 2026", ("september", "2026")),
    ],
)
def test_words_are_normalised(text: str, expected: tuple[str, ...]) -> None:
    assert words(text) == expected


def test_content_words_leave_out_stop_words() -> None:
    assert content_words("We will house the families by June") == {"house", "family", "june"}


def test_a_plain_sentence_splits_into_its_four_parts() -> None:
    win = WinSentence.from_text("Harbour partners will house 200 families by June 2026.")
    assert win.who == "Harbour partners"
    assert win.how_much == "200 families"
    assert win.what == "house"
    assert win.by_when == "by June 2026"
    assert win.complete


def test_a_win_without_a_date_or_number_is_not_complete() -> None:
    win = WinSentence.from_text("Partners will end homelessness.")
    assert win.missing_parts == (WinPart.HOW_MUCH, WinPart.BY_WHEN)
    assert not win.complete


def test_the_sentence_is_the_parts_joined_when_no_text_is_given() -> None:
    win = WinSentence("Partners", "house", "200 families", "by 2026")
    assert win.sentence == "Partners house 200 families by 2026"


def test_the_echo_rate_counts_a_partial_as_half() -> None:
    marks = [EchoMark.MATCH, EchoMark.PARTIAL, EchoMark.OFF, EchoMark.MATCH]
    assert echo_rate(marks) == 62.5


def test_the_echo_rate_of_no_answers_is_none() -> None:
    assert echo_rate([]) is None


def test_the_echo_rate_takes_marks_as_stored_text() -> None:
    assert echo_rate(["match", "off"]) == 50.0


def test_a_win_that_opens_with_its_date_still_has_who_what_and_by_when() -> None:
    from pipeline.core.echo import EchoMark, WinSentence, echo

    win = WinSentence.from_text("By 2028 no child at a Harbour school breathes air above the "
                                "WHO limit.")
    assert win.by_when == "By 2028"
    assert "child" in win.what
    assert echo(win, "by 2028 no Harbour school child breathes air above the WHO limit"
                ).mark is EchoMark.MATCH
    assert echo(win, "More bike lanes downtown").mark is EchoMark.OFF
    dated = WinSentence.from_text("By December 2027, 1,500 more Riverside households get fresh "
                                  "food every week.")
    assert dated.by_when == "By December 2027"
    assert dated.how_much.startswith("1,500")
