"""Every subject is short and says whose mail it is and which round, in every language.

Why 70 characters: Gmail's web inbox and Outlook's message list show about 70 characters of a
subject at a common 1280 px width before cutting it (less beside the preview text), and a phone
shows the first 35-40. So a subject starts with the coalition's name, shortened to at most
SUBJECT_NAME_LIMIT (26) characters at a word boundary, then the round: the part a phone shows
already says whose mail it is and which round; the rest fits where people read lists.
"""

from __future__ import annotations

import pytest

from emails.examples import NAMES, example, template_of
from emails.i18n import LANGUAGES, SUBJECT_LIMIT, SUBJECT_NAME_LIMIT, short_name
from emails.render import render_named

LONG = "The Greater Riverside and Harbour Districts Food Security Coalition"
ROUND_KINDS = ("invitation", "reminder", "digest", "web-digest", "notice")
ROUND_WORD = {"en": "Round 12", "es": "Ronda 12"}


def subject(name: str, language: str, coalition: str, *, last: bool = False) -> str:
    context = example(name, language, coalition=coalition, round_number=12)
    if "scoreboard" in context:  # the 500-organisation round: the longest counts
        context["scoreboard"]["response"].update(invited=500, answered=500)
    if last:
        context["last"] = True
    return render_named(template_of(name), context).subject


def test_a_long_name_is_cut_at_a_word_with_an_ellipsis() -> None:
    assert short_name(LONG) == "The Greater Riverside and…"
    assert len(short_name(LONG)) <= SUBJECT_NAME_LIMIT
    assert short_name("Riverside Food Coalition") == "Riverside Food Coalition"
    assert short_name("Supercalifragilisticexpialidocious Alliance") == (
        "Supercalifragilisticexpia…")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", NAMES)
def test_every_subject_fits_and_names_the_coalition_and_round(name: str, language: str) -> None:
    for coalition in ("Riverside Food Coalition", LONG):
        for last in (False, True) if name == "reminder" else (False,):
            said = subject(name, language, coalition, last=last)
            assert len(said) <= SUBJECT_LIMIT, (len(said), said)
            assert said.startswith(short_name(coalition)), said
            if name in ROUND_KINDS:
                assert ROUND_WORD[language] in said, said
            if name == "opt-out-notice":
                assert "Tom Reyes" in said


def test_the_reminder_subject_says_when_it_closes_in_the_readers_words() -> None:
    assert subject("reminder", "en", "Riverside Food Coalition") == (
        "Riverside Food Coalition: reminder, Round 12 closes Thu 17:00")
    assert subject("reminder", "es", "Riverside Food Coalition") == (
        "Riverside Food Coalition: recordatorio, Ronda 12 cierra jue 17:00")
    assert subject("reminder", "en", LONG, last=True) == (
        "The Greater Riverside and…: last call, Round 12 closes Thu 17:00")
