"""The partner's pages over HTTP: what links open, what a GET may not do, what a POST keeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from pipeline.db import session_scope
from pipeline.merge import merge_round
from pipeline.models import (
    Invitation,
    Person,
    Response,
    Round,
    Win,
    utcnow,
)
from pipeline.tokens import derive_token
from tests.helpers import commitment_field, link_for, load, metric_field, open_round


@pytest.fixture
def round_(settings):
    """A loaded coalition with an open round; returns its round id."""
    load(settings)
    round_id, _ = open_round(settings)
    return round_id


@pytest.fixture
def client(app):
    return app.test_client()


def csrf(client, link: str) -> str:
    import lxml.html

    page = client.get(link)
    return lxml.html.fromstring(page.get_data(as_text=True)).forms[0].fields["csrf_token"]


def post(client, link: str, fields: dict):
    return client.post(link, data={"csrf_token": csrf(client, link), **fields})


def checked(html: str, name: str) -> list[str]:
    """Return the values of the ticked radios or checkboxes with this name."""
    import lxml.html

    return [el.get("value") for el in lxml.html.fromstring(html).xpath(
        f"//input[@name='{name}'][@checked]")]


def count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def snapshot(session) -> tuple[int, ...]:
    from pipeline.models import Delivery

    return tuple(count(session, m) for m in (Response, Win, Invitation, Delivery, Round))


def test_the_form_shows_the_win_and_only_the_persons_own_commitments_and_metrics(
        settings, session, client, round_):
    page = client.get(link_for(settings, session, "raj@schools.example", round_))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "no child at a Harbour school breathes air above the WHO limit" in html
    assert "Install air sensors at five school gates" in html
    assert "NO2 at school gates" in html
    assert "Deliver the school-streets petition" not in html  # Harbour Cyclists' commitment
    assert "Car-free school streets" not in html


def test_pages_forbid_referrers_and_caching(settings, session, client, round_):
    page = client.get(link_for(settings, session, "raj@schools.example", round_))
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    bad = client.get("/c/" + "x" * 43)
    assert bad.headers["Referrer-Policy"] == "no-referrer"
    assert bad.headers["Cache-Control"] == "no-store"


def test_get_and_head_on_a_link_change_nothing(settings, session, client, round_):
    link = link_for(settings, session, "raj@schools.example", round_)
    before = snapshot(session)
    for _ in range(3):
        assert client.get(link).status_code == 200
        assert client.head(link).status_code == 200
        assert client.get(link + "/thanks").status_code in (200, 303)
    assert snapshot(session) == before


WRONG_TOKENS = [
    "x" * 43,                 # right shape, no such token
    "short",                  # wrong shape
    "%3Cscript%3E",           # markup in the URL
    "A" * 500,                # very long
]


@pytest.mark.parametrize("token", WRONG_TOKENS)
def test_a_wrong_link_gets_a_404_page_with_no_data(client, round_, token):
    page = client.get(f"/c/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 404
    assert "This link does not work" in html
    assert "Harbour" not in html and "<script>" not in html


def test_a_token_from_another_secret_key_is_just_a_wrong_link(settings, session, client, round_):
    salt = session.exec(select(Invitation)).first().salt
    assert client.get(f"/c/{derive_token('another-secret-key-entirely', salt)}").status_code == 404


def test_the_form_shows_each_metrics_reading_of_the_latest_earlier_round_that_has_one(
        settings, session, round_):
    from pipeline.checkin import open_checkin
    from pipeline.models import Metric, Reading
    from pipeline.rounds import start_round
    from pipeline.tokens import derive_token

    rounds = [round_]
    for _ in range(3):
        with session_scope(settings.database_url) as s:
            rounds.append(start_round(s, settings.secret_key, "harbour-air", timedelta(hours=72),
                                      force=True)[0].id)
    no2 = session.exec(select(Metric).where(Metric.key == "no2")).one()
    raj = session.exec(select(Person).where(Person.email == "raj@schools.example")).one()
    # NO2: 40 in round 1, 38 in round 2, nothing in round 3, 99 in round 4 (later: not shown)
    for number, value in ((1, 40.0), (2, 38.0), (4, 99.0)):
        session.add(Reading(metric_id=no2.id, round_id=rounds[number - 1], person_id=raj.id,
                            value=value))
    session.commit()

    def last(number: int) -> float | None:
        invitation = session.exec(select(Invitation).where(
            Invitation.round_id == rounds[number - 1], Invitation.person_id == raj.id)).one()
        checkin = open_checkin(session, derive_token(settings.secret_key, invitation.salt))
        return {m.key: m.last_value for m in checkin.metrics}["no2"]

    assert [last(n) for n in (1, 2, 3, 4)] == [None, 40.0, 38.0, 38.0]


def _expire(settings, round_id, **changes):
    with session_scope(settings.database_url) as s:
        round_ = s.get(Round, round_id)
        for key, value in changes.items():
            setattr(round_, key, value)
        s.add(round_)


@pytest.mark.parametrize("how", ["closed", "past_closing_time", "revoked", "person_left"])
def test_a_closed_expired_or_revoked_link_gets_a_410_page_and_accepts_nothing(
        settings, session, client, round_, how):
    link = link_for(settings, session, "raj@schools.example", round_)
    token = csrf(client, link)
    if how == "closed":
        _expire(settings, round_, closed_at=utcnow())
    elif how == "past_closing_time":
        _expire(settings, round_, closes_at=utcnow() - timedelta(minutes=1))
    else:
        with session_scope(settings.database_url) as s:
            person = s.exec(select(Person).where(Person.email == "raj@schools.example")).one()
            if how == "revoked":
                invitation = s.exec(select(Invitation).where(
                    Invitation.person_id == person.id)).one()
                invitation.revoked_at = utcnow()
                s.add(invitation)
            else:
                person.active = False
                s.add(person)
    page = client.get(link)
    assert page.status_code == 410
    assert "This check-in has closed" in page.get_data(as_text=True)
    assert "Install air sensors" not in page.get_data(as_text=True)
    late = client.post(link, data={"csrf_token": token, "win": "too late"})
    assert late.status_code == 410
    assert count(session, Response) == 0


def test_a_malformed_number_gets_a_clear_error_and_keeps_the_other_answers(
        settings, session, client, round_):
    link = link_for(settings, session, "raj@schools.example", round_)
    reading = metric_field(session, "no2")
    page = post(client, link, {reading: "forty-one", "win": "Sensors went live",
                               commitment_field(session, "sensors"): "done", "pulse": "4"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "is not a number" in html
    assert 'value="forty-one"' in html
    assert "Sensors went live" in html
    assert checked(html, commitment_field(session, "sensors")) == ["done"]
    assert count(session, Response) == 0

    fixed = post(client, link, {reading: "41.5", "win": "Sensors went live"})
    assert fixed.status_code == 303
    stored = session.exec(select(Response)).one()
    assert stored.answers["readings"] == {reading[1:-6]: 41.5}


@pytest.mark.parametrize("typed, value", [("42", 42.0), ("3.5", 3.5), ("1,200", 1200.0),
                                          ("12 500", 12500.0), ("-4", -4.0), ("45%", 45.0)])
def test_numbers_are_read_the_way_people_type_them(typed, value):
    from forms.checkin_form import read_reading

    assert read_reading(typed, locale="en", unit="%") == value


@pytest.mark.parametrize("typed", ["forty", "1.2.3", "12 apples", "", "1e5", "--3", "3,5"])
def test_text_that_is_not_a_number_is_refused(typed):
    from forms.checkin_form import read_reading

    with pytest.raises(ValueError):
        read_reading(typed, locale="en")


def test_a_post_without_a_valid_csrf_token_keeps_the_answers_and_asks_to_resubmit(
        settings, session, client, round_):
    link = link_for(settings, session, "raj@schools.example", round_)
    page = client.post(link, data={"csrf_token": "forged", "win": "We did it"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "press \u201cSave my check-in\u201d again" in html
    assert "We did it" in html
    assert count(session, Response) == 0


def test_coming_back_shows_the_latest_answers_and_each_save_is_a_new_revision(
        settings, session, client, round_):
    link = link_for(settings, session, "raj@schools.example", round_)
    assert post(client, link, {"win": "First draft"}).status_code == 303
    assert post(client, link, {"win": "Second thoughts", "pulse": "5"}).status_code == 303
    page = client.get(link).get_data(as_text=True)
    assert "Second thoughts" in page and "First draft" not in page
    assert checked(page, "pulse") == ["5"]
    revisions = session.exec(select(Response.revision).order_by(Response.revision)).all()
    assert revisions == [1, 2]
    thanks = client.get(link + "/thanks").get_data(as_text=True)
    assert "Second thoughts" in thanks


def test_html_in_answers_is_shown_escaped_in_the_page_and_the_digest(
        settings, session, client, round_):
    from pipeline.digest import render_digest

    evil = '<script>alert("x")</script><b>bold</b>'
    link = link_for(settings, session, "raj@schools.example", round_)
    assert post(client, link, {"win": evil, commitment_field(session, "sensors"): "blocked",
                               commitment_field(session, "sensors", "note"): evil,
                               "blocker": evil}).status_code == 303
    for page in (client.get(link), client.get(link + "/thanks")):
        html = page.get_data(as_text=True)
        assert "<script>alert" not in html and "<b>bold</b>" not in html
        assert "&lt;script&gt;" in html
    with session_scope(settings.database_url) as s:
        merge_round(s, round_)
    with session_scope(settings.database_url) as s:
        digest = render_digest(s, settings, round_)
    assert "<script>alert" not in digest.html and "<b>bold</b>" not in digest.html
    assert "&lt;script&gt;" in digest.html
    assert evil in digest.text


def test_an_answer_is_saved_and_the_partner_thanked_when_redis_is_down(
        settings, session, round_):
    from forms import create_app

    dead = settings.with_(redis_url="redis://127.0.0.1:1/0")
    client = create_app(dead).test_client()
    link = link_for(settings, session, "raj@schools.example", round_)
    page = post(client, link, {"win": "Saved despite Redis"})
    assert page.status_code == 303
    assert "Thank you" in client.get(page.headers["Location"]).get_data(as_text=True)
    stored = session.exec(select(Response)).one()
    assert stored.merged_at is None

    from pipeline.reconcile import reconcile

    report = reconcile(settings)
    assert report.merged == [round_]
    assert session.exec(select(Win.text)).all() == ["Saved despite Redis"]
    assert session.exec(select(Response.merged_at)).one() is not None


def test_asking_for_help_without_saying_what_for_is_sent_back_with_the_answers_kept(
        settings, session, client, round_):
    link = link_for(settings, session, "raj@schools.example", round_)
    page = post(client, link, {"help_wanted": "y", "win": "Kept"})
    assert page.status_code == 400
    assert "what you need help with" in page.get_data(as_text=True)
    assert "Kept" in page.get_data(as_text=True)
    assert count(session, Response) == 0


def test_a_database_that_is_down_gets_a_friendly_page_not_a_traceback(settings, session, round_):
    from forms import create_app

    link = link_for(settings, session, "raj@schools.example", round_)
    broken = settings.with_(database_url=f"sqlite:///{settings.instance}/missing/none.db")
    page = create_app(broken).test_client().get(link)
    html = page.get_data(as_text=True)
    # A database that does not answer is a moment's outage to the partner: 503, try again.
    assert page.status_code == 503 and page.headers["Retry-After"].isdigit()
    assert "Busy for a moment" in html and "nothing was saved" in html
    assert "Traceback" not in html and "sqlite" not in html.lower()


def test_a_form_with_a_mistake_comes_back_at_once_while_the_database_is_busy_writing(
        settings, session, client, round_, database_url):
    """Reading the link and checking the answers take no write lock: only storing them does.
    So a partner's page with a mistake comes back at once while a merge (here: another
    connection) holds SQLite's write lock, instead of waiting for it and failing."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single writer")
    import sqlite3

    link = link_for(settings, session, "raj@schools.example", round_)
    token = csrf(client, link)
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        page = client.post(link, data={"csrf_token": token,
                                       metric_field(session, "no2"): "forty-one"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert page.status_code == 400
    assert "is not a number" in page.get_data(as_text=True)


def test_answers_are_refused_when_the_round_closed_after_the_page_was_read(
        settings, session, round_):
    from pipeline.checkin import LinkProblem, ensure_still_open, open_checkin

    link = link_for(settings, session, "raj@schools.example", round_)
    with session_scope(settings.database_url, read_only=True) as s:
        checkin = open_checkin(s, link.removeprefix("/c/"))
    with session_scope(settings.database_url) as s:
        ensure_still_open(s, checkin)  # open: nothing to say
        s.get(Round, round_).closed_at = utcnow()  # type: ignore[union-attr]
    with session_scope(settings.database_url) as s, pytest.raises(LinkProblem) as problem:
        ensure_still_open(s, checkin)
    assert problem.value.status == 410
