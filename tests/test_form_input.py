"""What partners type reaches the database clean: numbers read by the coalition's locale, text
cleaned at the edge, and no generated value can make a 500 or store what a later merge refuses."""

from __future__ import annotations

import math
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import col, select

from forms.ratelimit import Rate
from pipeline.coalitions import LoadError, load_coalition
from pipeline.core.text import clean_text
from pipeline.db import session_scope
from pipeline.merge import merge_round
from pipeline.models import Coalition, CommitmentUpdate, Reading, Response, Win
from tests.helpers import DATA, commitment_field, link_for, load, metric_field, open_round

RAJ = "raj@schools.example"  # reports NO2 (µg/m³) and the sensors commitment
KIM = "kim@cyclists.example"  # reports car-free streets


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    # Hundreds of requests from one address: the rate limit (tests/test_rate_limit.py) is off.
    app.config["COS_RATE_LIMITS"] = {"token": Rate(0, 1)}
    return app.test_client()


def harbour(settings, tmp_path: Path, locale: str | None = None,  # type: ignore[no-untyped-def]
            language: str | None = None) -> int:
    """Load the Harbour coalition (with a number locale and a language, if given) and open a
    round."""
    if locale is None and language is None:
        load(settings)
    else:
        path = tmp_path / "harbour.toml"
        text = (DATA / "harbour.toml").read_text(encoding="utf-8")
        extra = "".join(f'\n{key} = "{value}"' for key, value in
                        (("locale", locale), ("language", language)) if value)
        path.write_text(text.replace('stage = "launch"', f'stage = "launch"{extra}'),
                        encoding="utf-8")
        with session_scope(settings.database_url) as session:
            load_coalition(session, path)
    round_id, _ = open_round(settings)
    return round_id


@pytest.fixture
def round_(settings, tmp_path):  # type: ignore[no-untyped-def]
    return harbour(settings, tmp_path)


def csrf(client, link: str) -> str:  # type: ignore[no-untyped-def]
    page = client.get(link)
    assert page.status_code == 200
    return str(lxml.html.fromstring(page.get_data(as_text=True)).forms[0].fields["csrf_token"])


def post(client, link: str, fields: dict[str, Any]):  # type: ignore[no-untyped-def]
    return client.post(link, data={"csrf_token": csrf(client, link), **fields})


def field_errors(html: str) -> list[str]:
    """Return the error messages shown beside fields."""
    return [li.text_content() for li in lxml.html.fromstring(html).xpath(
        "//ul[@class='errors']/li")]


def latest(session) -> Response:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.exec(select(Response).order_by(col(Response.id).desc())).first()


def merge(settings, round_id: int) -> None:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        merge_round(s, round_id)


# --- numbers, by the coalition's locale (issue 7, item 6) -----------------------------------

def test_3_comma_5_in_an_english_coalition_is_refused_with_how_to_write_it(
        settings, session, client, round_):
    link = link_for(settings, session, RAJ, round_)
    page = post(client, link, {metric_field(session, "no2"): "3,5"})
    assert page.status_code == 400
    assert field_errors(page.get_data(as_text=True)) == [
        "\u201c3,5\u201d is not written the way this coalition writes numbers. Here the "
        "decimal mark is a point: if you mean 3.5, type 3.5."]
    assert latest(session) is None


def test_markup_typed_in_a_number_box_is_shown_as_text_in_its_error(
        settings, session, client, round_):
    link = link_for(settings, session, RAJ, round_)
    page = post(client, link, {metric_field(session, "no2"): '<b onclick="x()">5</b>'})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    doc = lxml.html.fromstring(html)
    assert not doc.xpath("//ul[@class='errors']//b") and not doc.xpath("//ul[@class='fixes']//b")
    assert "<b onclick" not in html
    assert '<b onclick="x()">5</b>' in field_errors(html)[0]


def test_a_metric_name_with_markup_is_text_in_the_list_of_fixes(
        settings, session, client, tmp_path):
    # Metric names come from the coalition file: the list of fixes at the top of the page
    # quoted them through the catalog lookup, which marks its result safe.
    path = tmp_path / "harbour.toml"
    text = (DATA / "harbour.toml").read_text(encoding="utf-8")
    path.write_text(text.replace('name = "NO2 at school gates"',
                                 'name = "NO2 <i>at</i> school & gates"'), encoding="utf-8")
    with session_scope(settings.database_url) as scope:
        load_coalition(scope, path)
    round_id, _ = open_round(settings)
    link = link_for(settings, session, RAJ, round_id)
    page = post(client, link, {metric_field(session, "no2"): "lots"})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    fixes = lxml.html.fromstring(html).xpath("//ul[@class='fixes']/li")
    assert fixes and not lxml.html.fromstring(html).xpath("//ul[@class='fixes']//i")
    assert "NO2 <i>at</i> school & gates" in fixes[0].text_content()


def test_3_comma_500_in_an_english_coalition_is_three_thousand_five_hundred(
        settings, session, client, round_):
    link = link_for(settings, session, KIM, round_)
    reading = metric_field(session, "car_free")
    assert post(client, link, {reading: "3,500"}).status_code == 303
    assert latest(session).answers["readings"] == {reading[1:-6]: 3500.0}
    thanks = client.get(link + "/thanks").get_data(as_text=True)
    assert "3,500 streets" in thanks


def test_a_percent_sign_on_a_metric_not_counted_in_percent_is_refused(
        settings, session, client, round_):
    link = link_for(settings, session, KIM, round_)
    page = post(client, link, {metric_field(session, "car_free"): "50%"})
    assert page.status_code == 400
    assert field_errors(page.get_data(as_text=True)) == [
        "\u201c50%\u201d has a percent sign, but Car-free school streets is counted in "
        "streets. Type the number of streets alone, e.g. 1,234.5."]
    assert latest(session) is None


def test_a_percent_sign_on_a_percentage_metric_is_its_unit(settings, session, client,
                                                           tmp_path):
    text = (DATA / "harbour.toml").read_text(encoding="utf-8").replace(
        'unit = "streets"', 'unit = "%"')
    (tmp_path / "pct.toml").write_text(text, encoding="utf-8")
    with session_scope(settings.database_url) as s:
        load_coalition(s, tmp_path / "pct.toml")
    round_id, _ = open_round(settings)
    link = link_for(settings, session, KIM, round_id)
    reading = metric_field(session, "car_free")
    assert post(client, link, {reading: "50%"}).status_code == 303
    assert latest(session).answers["readings"] == {reading[1:-6]: 50.0}
    assert "50 %" in client.get(link + "/thanks").get_data(as_text=True)


def test_in_a_german_coalition_3_comma_5_is_three_and_a_half_and_is_shown_so(
        settings, session, client, tmp_path):
    round_id = harbour(settings, tmp_path, "de")
    link = link_for(settings, session, RAJ, round_id)
    form = client.get(link).get_data(as_text=True)
    assert "for example: 1.234,5" in form
    reading = metric_field(session, "no2")
    assert post(client, link, {reading: "3,5"}).status_code == 303
    assert latest(session).answers["readings"] == {reading[1:-6]: 3.5}
    assert "3,5 µg/m³" in client.get(link + "/thanks").get_data(as_text=True)
    again = lxml.html.fromstring(client.get(link).get_data(as_text=True))
    assert again.forms[0].fields[reading] == "3,5"  # prefilled the coalition's way


def test_in_a_german_coalition_3_point_500_is_ambiguous_and_says_both_ways(
        settings, session, client, tmp_path):
    round_id = harbour(settings, tmp_path, "de")
    link = link_for(settings, session, RAJ, round_id)
    page = post(client, link, {metric_field(session, "no2"): "3.500"})
    assert page.status_code == 400
    assert field_errors(page.get_data(as_text=True)) == [
        "\u201c3.500\u201d could be read two ways. If you mean the whole number, type 3500; "
        "if you mean 3 and a fraction, type 3,5."]


def test_a_spanish_partner_who_types_a_bad_number_reads_the_message_in_spanish(
        settings, session, client, tmp_path):
    # The sentence is translated at the form's edge; its numbers stay the coalition's way.
    round_id = harbour(settings, tmp_path, locale="de", language="es")
    link = link_for(settings, session, RAJ, round_id)
    reading = metric_field(session, "no2")
    page = post(client, link, {reading: "3.5"})
    assert page.status_code == 400
    assert field_errors(page.get_data(as_text=True)) == [
        "\u00ab3.5\u00bb no est\u00e1 escrito como esta coalici\u00f3n escribe los n\u00fameros. "
        "Aqu\u00ed el separador decimal es la coma: si te refieres a 3,5, escribe 3,5."]
    page = post(client, link, {reading: "<b>mucho</b>"})
    assert field_errors(page.get_data(as_text=True)) == [
        "\u00ab<b>mucho</b>\u00bb no es un n\u00famero. Escribe solo cifras, sin unidades ni "
        "palabras, p. ej., 1.234,5."]
    assert "<b>mucho" not in page.get_data(as_text=True)
    assert latest(session) is None


def test_the_form_shows_how_to_write_a_number_beside_each_box(settings, session, client,
                                                               round_):
    html = client.get(link_for(settings, session, RAJ, round_)).get_data(as_text=True)
    doc = lxml.html.fromstring(html)
    box = doc.xpath(f"//input[@name='{metric_field(session, 'no2')}']")[0]
    hint = doc.xpath(f"//*[@id='{box.get('aria-describedby')}']")[0]
    assert hint.text_content().strip() == "Number format, for example: 1,234.5"


@pytest.mark.parametrize("typed", ["1" * 16, "99999999999999.99", "NaN", "inf", "-Infinity",
                                   "1e400", "1e5", "0x10"])
def test_numbers_a_reading_cannot_hold_are_refused_with_a_message(
        settings, session, client, round_, typed):
    link = link_for(settings, session, RAJ, round_)
    page = post(client, link, {metric_field(session, "no2"): typed})
    assert page.status_code == 400
    (message,) = field_errors(page.get_data(as_text=True))
    assert "\u201c" in message and ("digits" in message or "number" in message)
    assert latest(session) is None


def test_a_locale_the_tool_does_not_know_is_refused_in_the_coalition_file(settings, tmp_path):
    text = (DATA / "harbour.toml").read_text(encoding="utf-8").replace(
        'stage = "launch"', 'stage = "launch"\nlocale = "xx_YY"')
    (tmp_path / "bad.toml").write_text(text, encoding="utf-8")
    with session_scope(settings.database_url) as s, pytest.raises(LoadError) as raised:
        load_coalition(s, tmp_path / "bad.toml")
    assert any("locale" in p and "is not a locale this tool knows" in p
               for p in raised.value.problems)


def test_a_coalition_without_a_locale_reads_numbers_in_english(settings, session, round_):
    assert session.exec(select(Coalition)).one().locale == "en"


# --- text, cleaned at the edge (issue 7, item 1) ---------------------------------------------

def test_a_nul_byte_in_any_text_box_is_removed_before_it_is_stored_and_merges(
        settings, session, client, round_):
    link = link_for(settings, session, RAJ, round_)
    sensors = commitment_field(session, "sensors")
    page = post(client, link, {
        "win": "before\0after", "blocker": "a\0b\x07c", "help_wanted": "y",
        sensors: "on_track", commitment_field(session, "sensors", "note"): "no\0te",
        "new_commitment": "new\0one"})
    assert page.status_code == 303
    answers = latest(session).answers
    assert answers["win"] == "beforeafter"
    assert answers["blocker"] == "abc"
    assert answers["commitments"][sensors[1:-7]]["note"] == "note"
    assert answers["new_commitment"]["text"] == "newone"
    merge(settings, round_)
    session.expire_all()
    assert session.exec(select(Win)).one().text == "beforeafter"
    assert session.exec(select(CommitmentUpdate)).one().note == "note"


def test_text_too_long_after_normalisation_is_refused_beside_its_box(
        settings, session, client, round_):
    # U+0958 has no composed form: NFC makes each one two code points, so 1,500 typed become
    # 3,000 stored, more than the win column holds.
    link = link_for(settings, session, RAJ, round_)
    page = post(client, link, {"win": "\u0958" * 1500})
    assert page.status_code == 400
    assert field_errors(page.get_data(as_text=True)) == [
        "This is 3,000 characters long; the limit is 2,000. Please shorten it."]


def test_invalid_utf8_in_a_post_is_replaced_not_a_500(settings, session, client, round_):
    link = link_for(settings, session, RAJ, round_)
    token = csrf(client, link)
    page = client.post(link, data=f"csrf_token={token}&win=ok%FF%00%FEfine".encode(),
                       content_type="application/x-www-form-urlencoded")
    assert page.status_code == 303
    win = latest(session).answers["win"]
    # Werkzeug keeps bytes that are not UTF-8 as their escapes; the NUL between them is gone.
    assert win == clean_text(win) and win.startswith("ok") and win.endswith("fine")
    assert "\0" not in win


def test_a_post_larger_than_the_limit_is_a_413_page_not_a_500(settings, session, client,
                                                                round_):
    link = link_for(settings, session, RAJ, round_)
    page = post(client, link, {"win": "x" * 300_000})
    assert page.status_code == 413
    assert latest(session) is None


# --- fuzz: every field, through the real form -------------------------------------------------

TRICKY_TEXT = [
    "before\0after", "\x00", "\x1b[31mred", "a\u202eevil", "\ud7ff", "e\u0301", "\u0958" * 700,
    "\ufeffbom", "zero\u200bwidth", "\U0001f3f4\U000e0067\U000e0062\U000e007f", "\r\n\r\n",
    "\u2028line", "x" * 2001, "<script>alert(1)</script>", "'; DROP TABLE response; --",
    "=cmd|' /C calc'!A0", "\u00a0", "",
]
TRICKY_NUMBERS = [
    "3,5", "50%", "3,500", "NaN", "nan", "inf", "-inf", "Infinity", "1e308", "1e-400",
    "9" * 16, "9" * 400, "0.0000001", "-0", "\u0663\u066b\u0665", "\uff11\uff12", "1\u00a0234.5",
    "\u221212", "1\0", "", " ", "12 apples", "١٢٣", "999999999999999", "123456789012345.5",
]
TEXT = st.one_of(
    st.sampled_from(TRICKY_TEXT),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=3).filter(
        lambda s: s[0] < "\ud800" or s[0] > "\udfff"), st.integers(500, 2100)).map(
        lambda s: "".join(ch for ch in s if unicodedata.category(ch) != "Cs")),
)
NUMBERS = st.one_of(
    st.sampled_from(TRICKY_NUMBERS),
    st.floats().map(repr),
    st.decimals().map(str),
    st.integers(-(10**20), 10**20).map(str),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
DATES = st.one_of(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    st.sampled_from(["99999-01-01", "2026-02-30", "0000-00-00", "tomorrow", "", "2026-13-01"]),
)
CHOICES = st.one_of(st.sampled_from(["on_track", "slipping", "blocked", "done", "", "x\0"]),
                    st.text(max_size=10).filter(lambda s: max(s, default="a") < "\ud800"))
PULSES = st.one_of(st.sampled_from(["1", "3", "5", "0", "6", "-1", "", "NaN", "1e9"]),
                   st.text(max_size=5))


def _no_surrogates(value: str) -> bool:
    return not any("\ud800" <= ch <= "\udfff" for ch in value)


def strings_in(value: Any) -> list[str]:
    """Return every string inside a stored answer document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings_in(k), *strings_in(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def numbers_in(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_in(v)]
    return []


@hypothesis_settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_in_any_field_gives_a_field_error_or_a_clean_answer_that_merges(
        settings, session, client, round_, data):
    # The fixtures hold for every example: one round, one link, answered again and again, as a
    # partner editing their answers would; each accepted revision is merged at once.
    link = link_for(settings, session, RAJ, round_)
    fields = {
        metric_field(session, "no2"): data.draw(NUMBERS, "reading"),
        commitment_field(session, "sensors"): data.draw(CHOICES, "status"),
        commitment_field(session, "sensors", "note"): data.draw(TEXT, "note"),
        "new_commitment": data.draw(TEXT, "new_commitment"),
        "new_due": data.draw(DATES, "new_due"),
        "win": data.draw(TEXT, "win"),
        "blocker": data.draw(TEXT, "blocker"),
        "help_wanted": data.draw(st.sampled_from(["", "y", "\0"]), "help_wanted"),
        "pulse": data.draw(PULSES, "pulse"),
        "helped_by": data.draw(st.lists(st.one_of(st.integers(-5, 10**30).map(str),
                                                  st.text(max_size=5)), max_size=3),
                               "helped_by"),
    }
    fields = {k: v for k, v in fields.items()
              if all(_no_surrogates(x) for x in (v if isinstance(v, list) else [v]))}
    before = latest(session)
    page = post(client, link, fields)
    html = page.get_data(as_text=True)
    assert page.status_code in (303, 400), (page.status_code, html[:500])
    if page.status_code == 400:
        assert field_errors(html), "a refused answer says which field is wrong"
        assert latest(session) == before
        return
    stored = latest(session).answers
    for text in strings_in(stored):
        assert "\0" not in text and clean_text(text) == text, repr(text)
    for number in numbers_in(stored):
        assert math.isfinite(number) and abs(number) < 10**15, number
    assert len(stored["win"]) <= 2000 and len(stored["blocker"]) <= 2000
    assert client.get(link + "/thanks").status_code == 200
    merge(settings, round_)
    session.expire_all()
    for reading in session.exec(select(Reading)):
        assert math.isfinite(reading.value)
