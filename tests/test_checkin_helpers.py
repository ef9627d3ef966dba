"""'Who helped your organisation this round?' at every coalition size.

Up to HELPER_CHECKBOXES other organisations the page lists them all as checkboxes (as it always
did). Beyond that it shows a short list (this round's saved helpers, then the organisations that
helped before) and a box to type the other names, which the server matches to organisations:
the page weighs the same, and asks the database as many questions, at 60 organisations as at
2,000.
"""

from __future__ import annotations

from datetime import timedelta

import lxml.html
import pytest
from sqlmodel import Session, select

from forms.checkin_form import TYPED_NAMES_MAX
from pipeline.checkin import HELPER_CHECKBOXES, HELPER_SUGGESTIONS
from pipeline.db import session_scope
from pipeline.models import HelpEdge, Organisation, Person, Response, Round, utcnow
from tests.helpers import link_for, load, open_round, organisation_id
from tests.test_digest_queries import counting

RAJ = "raj@schools.example"  # at Harbour Schools
NAMED = ["Northside Food Bank", "Northside Food Pantry", "Eastside Youth Club",
         "Friends of the Park", "Friends of the Park Trust", "Westside Tenants"]


def add_organisations(settings, count: int, start: int = 0) -> None:
    """Add organisations, each with an active partner, to the harbour coalition (the first
    ones named NAMED, then 'Partner Org 0005' ...)."""
    with session_scope(settings.database_url) as session:
        coalition_id = session.exec(select(Organisation.coalition_id)).first()
        names = [NAMED[n] if n < len(NAMED) else f"Partner Org {n:04d}"
                 for n in range(start, start + count)]
        orgs = [Organisation(coalition_id=coalition_id, name=name) for name in names]
        session.add_all(orgs)
        session.flush()
        session.add_all([Person(coalition_id=coalition_id, organisation_id=o.id or 0,
                                email=f"p{o.id}@orgs.example", name=f"Partner {o.id}")
                         for o in orgs])


def helped_before(settings, helpers: list[str]) -> None:
    """Record a closed earlier round in which these organisations helped Harbour Schools."""
    with session_scope(settings.database_url) as session:
        schools = organisation_id(session, "Harbour Schools")
        raj = session.exec(select(Person).where(Person.email == RAJ)).one()
        opened = utcnow() - timedelta(days=30)
        earlier = Round(coalition_id=raj.coalition_id, number=0, opened_at=opened,
                        closes_at=opened + timedelta(days=3),
                        closed_at=opened + timedelta(days=3))
        session.add(earlier)
        session.flush()
        session.add_all([HelpEdge(round_id=earlier.id or 0,
                                  helper_organisation_id=organisation_id(session, name),
                                  helped_organisation_id=schools,
                                  reported_by_person_id=raj.id or 0) for name in helpers])


@pytest.fixture
def big(settings):
    """The harbour coalition with 60 more organisations, two of which helped Raj's before;
    returns the open round's id."""
    load(settings)
    add_organisations(settings, 60)
    helped_before(settings, ["Westside Tenants", "Partner Org 0042"])
    round_id, _ = open_round(settings)
    return round_id


@pytest.fixture
def client(app):
    return app.test_client()


def boxes(html: str) -> dict[str, bool]:
    """Map each helper checkbox's label to whether it is ticked."""
    doc = lxml.html.fromstring(html)
    return {doc.xpath(f"//label[@for='{box.get('id')}']")[0].text_content(): box.checked
            for box in doc.xpath("//input[@name='helped_by']")}


def post(client, link: str, fields: dict):
    page = lxml.html.fromstring(client.get(link).get_data(as_text=True))
    return client.post(link, data={"csrf_token": page.forms[0].fields["csrf_token"], **fields})


def stored(session: Session, round_id: int) -> list[Response]:
    session.expire_all()
    return list(session.exec(select(Response).where(Response.round_id == round_id)
                             .order_by(Response.revision)))


def ids(session: Session, *names: str) -> list[int]:
    return sorted(organisation_id(session, name) for name in names)


def test_a_small_coalition_keeps_a_checkbox_for_every_other_organisation(
        settings, session, client):
    load(settings)
    round_id, _ = open_round(settings)
    html = client.get(link_for(settings, session, RAJ, round_id)).get_data(as_text=True)
    assert set(boxes(html)) == {"Harbour Clinic", "Harbour Cyclists", "Harbour Trust"}
    assert 'name="helped_by_names"' not in html


def test_a_coalition_of_60_shows_the_likely_helpers_and_a_box_for_other_names(
        settings, session, client, big):
    html = client.get(link_for(settings, session, RAJ, big)).get_data(as_text=True)
    assert HELPER_CHECKBOXES < 60
    assert boxes(html) == {"Partner Org 0042": False, "Westside Tenants": False}
    assert "Partner Org 0007" not in html and "Harbour Schools" not in html.split("<form")[1]
    doc = lxml.html.fromstring(html)
    [names] = doc.xpath("//textarea[@name='helped_by_names']")
    [label] = doc.xpath(f"//label[@for='{names.get('id')}']")
    assert label.text_content() == ("Other organisations that helped (names, one per line or "
                                    "separated by commas)")
    assert names.getparent().tag == "fieldset"  # with the checkboxes, under one legend
    assert "Who helped your organisation this round?" in names.getparent().xpath(
        "legend")[0].text_content()
    assert "<datalist" not in html


def test_typed_names_are_matched_to_organisations_and_stored_as_ids(
        settings, session, client, big):
    link = link_for(settings, session, RAJ, big)
    westside = str(organisation_id(session, "Westside Tenants"))
    # A whole name in any case and with punctuation around it; a start only one name has; a
    # whole name that also starts a longer one.
    typed = "  northside food BANK.,Eastside\nPartner Org 0007;\n\n(friends of the park)"
    assert post(client, link, {"helped_by": westside, "helped_by_names": typed}
                ).status_code == 303
    [response] = stored(session, big)
    assert response.answers["helped_by"] == ids(
        session, "Northside Food Bank", "Eastside Youth Club", "Partner Org 0007",
        "Friends of the Park", "Westside Tenants")
    thanks = client.get(link + "/thanks").get_data(as_text=True)
    assert "Eastside Youth Club" in thanks and "Partner Org 0007" in thanks

    # An edit shows every helper saved this round ticked, then the likely ones; nothing is lost.
    html = client.get(link).get_data(as_text=True)
    assert boxes(html) == {"Eastside Youth Club": True, "Friends of the Park": True,
                           "Northside Food Bank": True, "Partner Org 0007": True,
                           "Partner Org 0042": False, "Westside Tenants": True}
    assert lxml.html.fromstring(html).xpath("//textarea[@name='helped_by_names']")[0].text \
        in (None, "", "\r\n", "\n")
    assert post(client, link, {"helped_by": [str(i) for i in response.answers["helped_by"]],
                               "helped_by_names": "partner org 0042"}).status_code == 303
    assert stored(session, big)[-1].answers["helped_by"] == sorted(
        [*response.answers["helped_by"], organisation_id(session, "Partner Org 0042")])


def test_unknown_ambiguous_or_own_names_are_errors_and_everything_typed_stays(
        settings, session, client, big):
    link = link_for(settings, session, RAJ, big)
    typed = "Northsid Food, Northside Food\nHarbour Schools, Eastside"
    page = post(client, link, {"win": "Sensors live", "helped_by_names": typed})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert stored(session, big) == []
    doc = lxml.html.fromstring(html)
    [names] = doc.xpath("//textarea[@name='helped_by_names']")
    assert names.text.strip() == typed
    assert names.get("aria-invalid") == "true"
    errors = doc.get_element_by_id(names.get("aria-describedby").split()[-1]).text_content()
    assert "We don\u2019t know \u201cNorthsid Food\u201d; check the spelling or leave it " \
           "out." in errors
    assert ("\u201cNorthside Food\u201d could be Northside Food Bank or Northside Food "
            "Pantry; type more of the name.") in errors
    assert "\u201cHarbour Schools\u201d is your own organisation; leave it out." in errors
    assert "Eastside" not in errors
    assert doc.xpath("//textarea[@name='win']")[0].text.strip() == "Sensors live"
    assert doc.xpath(f"//ul[@class='fixes']//a[@href='#{names.get('id')}']")


def test_a_ticked_organisation_outside_the_short_list_is_refused(
        settings, session, client, big):
    link = link_for(settings, session, RAJ, big)
    other = str(organisation_id(session, "Partner Org 0007"))
    assert post(client, link, {"helped_by": other}).status_code == 400
    assert stored(session, big) == []


def test_the_short_list_stops_at_its_cap_of_likely_helpers(settings, session, client):
    load(settings)
    add_organisations(settings, 60)
    helped_before(settings, [f"Partner Org {n:04d}"
                             for n in range(10, 10 + 2 * HELPER_SUGGESTIONS)])
    round_id, _ = open_round(settings)
    html = client.get(link_for(settings, session, RAJ, round_id)).get_data(as_text=True)
    assert len(boxes(html)) == HELPER_SUGGESTIONS


def test_the_page_and_its_queries_do_not_grow_from_60_to_2000_organisations(
        settings, session, client, big):
    link = link_for(settings, session, RAJ, big)
    assert post(client, link, {"helped_by_names": "Eastside"}).status_code == 303

    def measured() -> tuple[int, list[str]]:
        with counting(settings.database_url) as statements:
            page = client.get(link)
        assert page.status_code == 200
        return len(page.get_data()), list(statements)

    size, statements = measured()
    add_organisations(settings, 2000 - 60, start=60)
    size_2000, statements_2000 = measured()
    assert size_2000 == size
    assert len(statements_2000) == len(statements), "\n".join(statements_2000)


def test_a_spanish_reader_gets_the_names_box_and_its_errors_in_spanish(
        settings, session, client, big):
    raj = session.exec(select(Person).where(Person.email == RAJ)).one()
    raj.language = "es"
    session.add(raj)
    session.commit()
    link = link_for(settings, session, RAJ, big)
    html = post(client, link, {"helped_by_names": "Northsid Food"}).get_data(as_text=True)
    assert "Otras organizaciones que ayudaron (nombres, uno por l\u00ednea o separados por " \
           "comas)" in html
    assert "No conocemos \u00abNorthsid Food\u00bb; revisa c\u00f3mo est\u00e1 escrito o " \
           "qu\u00edtalo." in html


def test_more_names_than_a_save_takes_are_refused_with_what_to_do(settings, session, client, big):
    link = link_for(settings, session, RAJ, big)
    typed = ", ".join(f"Partner Org {n:04d}" for n in range(10, 10 + TYPED_NAMES_MAX + 1))
    html = post(client, link, {"helped_by_names": typed}).get_data(as_text=True)
    assert (f"Type at most {TYPED_NAMES_MAX} names at a time: save, then come back to add "
            "more.") in html
    assert stored(session, big) == []
