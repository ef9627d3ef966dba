"""The admin pages that run a coalition over HTTP (Flask's test client, the real database):
the cadence page (schedule, next steps, edit, pause/resume/cancel, restore, who stepped back),
editing the coalition, the round's kind, and the scoreboard with the COS model and echo marks.

Who may open these pages (signed-out visitors, leads of another coalition) is checked for
every admin URL by the url_map walks in test_admin.py.
"""

from __future__ import annotations

import html
import re
from typing import Any

import lxml.html
from sqlmodel import select

from pipeline.db import session_scope
from pipeline.merge import merge_round
from pipeline.models import Coalition, Invitation, Metric, Person, Round, utcnow
from tests.helpers import cos, load, open_round
from tests.test_admin import LEE, admin_app, csrf_of, sign_in, sign_in_lead  # noqa: F401
from tests.test_merge import submit
from tests.test_round_kinds import open_kind

SLUG = "harbour-air"


def signed_in(admin_app: Any, db_settings: Any) -> Any:  # noqa: F811
    load(db_settings)
    client = admin_app.test_client()
    sign_in(client)
    return client


def post(client: Any, url: str, data: dict[str, str], page: str) -> Any:
    """Post a form with the CSRF token of a page the admin has open."""
    page_html = client.get(page).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_of(page_html), **data})


def cadence_form(client: Any, **changes: str) -> dict[str, str]:
    """The cadence form as the page fills it, with some boxes changed."""
    doc = lxml.html.fromstring(client.get(f"/admin/c/{SLUG}/cadence").get_data(as_text=True))
    form = doc.xpath("//form[.//input[@name='open']]")[0]
    values = {i.get("name"): i.get("value") or "" for i in form.xpath(".//input")}
    values.update(changes)
    return values


def test_the_cadence_page_sets_the_schedule_shows_next_steps_and_refuses_bad_values(
        admin_app, db_settings):  # noqa: F811
    client = signed_in(admin_app, db_settings)
    page = client.get(f"/admin/c/{SLUG}/cadence").get_data(as_text=True)
    assert "No cadence" in page and "Change the cadence" in page

    bad = client.post(f"/admin/c/{SLUG}/cadence",
                      data=cadence_form(client, open="Tusday 09:00", close_after="72h"))
    said = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "was not saved" in said and "Tuesday" in said
    with session_scope(db_settings.database_url, read_only=True) as db:
        assert db.exec(select(Coalition)).one().cadence is None

    done = client.post(f"/admin/c/{SLUG}/cadence", data=cadence_form(
        client, open="Tuesday 09:00", close_after="72h", reminders="48h, 24h",
        pause_after_failures="7"))
    assert done.status_code == 303, done.get_data(as_text=True)
    page = client.get(f"/admin/c/{SLUG}/cadence").get_data(as_text=True)
    # The same schedule and next steps `cos schedule` prints.
    printed = cos(db_settings, "schedule", SLUG).stdout
    assert "America/New_York" in printed and "Tuesday 09:00" in printed
    assert "after 7 failed sends" in page and "America/New_York" in page
    for line in printed.split("next:")[1].strip().splitlines()[:3]:
        when, period, _step = line.strip().rsplit(None, 2)
        assert when.strip() in html.unescape(page) and period in page
    assert re.search(r"remind 1", page) and "close" in page
    doc = lxml.html.fromstring(page)
    assert doc.xpath("//input[@name='open']/@value") == ["Tuesday 09:00"]
    assert doc.xpath("//input[@name='reminders']/@value") == ["2d, 1d"]


def test_pause_resume_and_cancel_a_round_from_the_cadence_page(admin_app, db_settings):  # noqa: F811
    client = signed_in(admin_app, db_settings)
    round_id, _ = open_round(db_settings, SLUG)
    cadence = f"/admin/c/{SLUG}/cadence"
    assert "Pause round 1" in client.get(cadence).get_data(as_text=True)
    assert client.post(f"/admin/rounds/{round_id}/pause").status_code == 303  # no CSRF
    with session_scope(db_settings.database_url, read_only=True) as db:
        assert db.get(Round, round_id).paused_at is None  # type: ignore[union-attr]

    paused = post(client, f"/admin/rounds/{round_id}/pause", {}, cadence)
    assert paused.status_code == 303 and paused.headers["Location"].endswith(cadence)
    page = client.get(cadence).get_data(as_text=True)
    assert "is paused" in page and "Resume round 1" in page and ">paused<" in page
    again = post(client, f"/admin/rounds/{round_id}/pause", {}, cadence)
    assert again.status_code == 303
    resumed = post(client, f"/admin/rounds/{round_id}/resume", {}, cadence)
    assert resumed.status_code == 303
    page = client.get(cadence).get_data(as_text=True)
    assert "is resumed" in page and "Pause round 1" in page
    post(client, f"/admin/rounds/{round_id}/cancel", {}, cadence)
    page = client.get(cadence).get_data(as_text=True)
    assert "is cancelled" in page and ">cancelled<" in page and "Cancel round 1" not in page
    with session_scope(db_settings.database_url, read_only=True) as db:
        assert db.get(Round, round_id).cancelled_at is not None  # type: ignore[union-attr]
    # Resuming a round that is not paused says why and changes nothing.
    post(client, f"/admin/rounds/{round_id}/resume", {}, cadence)
    assert "is not paused" in client.get(cadence).get_data(as_text=True)


def test_the_cadence_page_lists_who_stepped_back_and_restores_a_bounced_address(
        admin_app, db_settings):  # noqa: F811
    client = signed_in(admin_app, db_settings)
    round_id, _ = open_round(db_settings, SLUG)
    with session_scope(db_settings.database_url) as db:
        people = {p.email: p for p in db.exec(select(Person))}
        people["raj@schools.example"].suppressed_at = utcnow()
        people["raj@schools.example"].suppressed_reason = "550 mailbox unknown"
        people["kim@cyclists.example"].opted_out_at = utcnow()
        invitation = db.exec(select(Invitation).where(
            Invitation.round_id == round_id,
            Invitation.person_id == people["dee@clinic.example"].id)).one()
        invitation.not_this_week_at = utcnow()
        db.add_all([people["raj@schools.example"], people["kim@cyclists.example"], invitation])
    cadence = f"/admin/c/{SLUG}/cadence"
    doc = lxml.html.fromstring(client.get(cadence).get_data(as_text=True))
    section = doc.xpath("//section[.//h2[@id='b-h']]")[0].text_content()
    bounced, rest = section.split("Opted out")
    opted, skipped = rest.split("not this week")
    assert "Raj Patel" in bounced and "550 mailbox unknown" in bounced
    assert "Kim O'Neil" in opted and "Raj" not in opted
    assert "Dee Brown" in skipped and "round 1" in skipped

    done = post(client, f"/admin/c/{SLUG}/restore", {"email": "raj@schools.example"}, cadence)
    assert done.status_code == 303
    page = client.get(cadence).get_data(as_text=True)
    assert "Restored Raj Patel" in page and "Restore raj@schools.example" not in page
    with session_scope(db_settings.database_url, read_only=True) as db:
        assert db.exec(select(Person).where(
            Person.email == "raj@schools.example")).one().suppressed_at is None
    post(client, f"/admin/c/{SLUG}/restore", {"email": "raj@schools.example"}, cadence)
    assert "is not suppressed" in client.get(cadence).get_data(as_text=True)


def edit_form(client: Any, **changes: str) -> dict[str, str]:
    doc = lxml.html.fromstring(client.get(f"/admin/c/{SLUG}/edit").get_data(as_text=True))
    form = doc.xpath("//form[.//textarea[@name='win']]")[0]
    values = {i.get("name"): i.get("value") or "" for i in form.xpath(".//input")}
    values["win"] = form.xpath(".//textarea")[0].text_content().strip()
    for select_ in form.xpath(".//select"):
        chosen = select_.xpath(".//option[@selected]/@value") or select_.xpath(".//option/@value")
        values[select_.get("name")] = chosen[0]
    values.update(changes)
    return values


def test_editing_the_coalition_is_checked_like_the_file_and_changes_nothing_when_wrong(
        admin_app, db_settings):  # noqa: F811
    client = signed_in(admin_app, db_settings)
    url = f"/admin/c/{SLUG}/edit"
    form = edit_form(client)
    assert form["metrics-0-key"] == "no2" and form["metrics-0-baseline"] == "48"
    assert form["metrics-1-owner"] == "Harbour Cyclists" and form["metrics-2-key"] == ""

    bad = client.post(url, data=edit_form(
        client, **{"metrics-0-owner": "Harbour Skools", "metrics-1-target": "lots",
                   "stage": "launch"}))
    said = html.unescape(bad.get_data(as_text=True))
    assert bad.status_code == 400 and "metric 2, target: 'lots' is not a number" in said
    bad = client.post(url, data=edit_form(client, **{"metrics-0-baseline": "nan"}))
    assert "metric 1, baseline: 'nan' is not a number" in html.unescape(
        bad.get_data(as_text=True))
    bad = client.post(url, data=edit_form(client, **{"metrics-0-owner": "Harbour Bakers",
                                                     "win": "A new win sentence."}))
    said = html.unescape(bad.get_data(as_text=True))
    assert bad.status_code == 400 and "owner 'Harbour Bakers' has no partner" in said
    bad = client.post(url, data=edit_form(client, **{"metrics-2-key": "bus",
                                                     "metrics-2-owner": "Harbour Trust"}))
    said = html.unescape(bad.get_data(as_text=True))
    assert bad.status_code == 400 and "name" in said and "Nothing was saved" in said
    with session_scope(db_settings.database_url, read_only=True) as db:
        coalition = db.exec(select(Coalition)).one()
        assert coalition.win.startswith("By 2028") and len(db.exec(select(Metric)).all()) == 2

    done = client.post(url, data=edit_form(client, **{
        "win": "By 2029 every Harbour school gate is below the WHO limit.", "stage": "growth",
        "metrics-0-target": "20", "metrics-0-unit": "ug/m3",
        "metrics-2-key": "bus", "metrics-2-name": "Electric buses", "metrics-2-unit": "buses",
        "metrics-2-baseline": "0", "metrics-2-target": "30",
        "metrics-2-owner": "Harbour Trust"}))
    assert done.status_code == 303, done.get_data(as_text=True)
    page = client.get(f"/admin/c/{SLUG}").get_data(as_text=True)
    assert "By 2029 every Harbour" in page and "stage growth" in page
    assert "Electric buses" in page and "Saved: created: 1 metric" in html.unescape(page)
    with session_scope(db_settings.database_url, read_only=True) as db:
        no2 = db.exec(select(Metric).where(Metric.key == "no2")).one()
        assert (no2.target, no2.unit, no2.baseline) == (20, "ug/m3", 48)
    # A stored metric's key cannot be changed from the form.
    renamed = client.post(url, data=edit_form(client, **{"metrics-0-key": "pm25"}))
    assert renamed.status_code == 400 and "its key cannot change" in renamed.get_data(
        as_text=True)


def test_a_round_is_started_with_its_kind(admin_app, db_settings):  # noqa: F811
    client = signed_in(admin_app, db_settings)
    url = f"/admin/c/{SLUG}/rounds/new"
    page = client.get(url).get_data(as_text=True)
    assert 'name="kind"' in page and "Win echo" in page
    done = client.post(url, data={"csrf_token": csrf_of(page), "kind": "win-echo",
                                  "closes_in": "72h", "start": "1"})
    assert done.status_code == 303
    refused = client.post(url, data={"csrf_token": csrf_of(page), "kind": "survey",
                                     "closes_in": "72h", "start": "1"})
    assert refused.status_code == 400 and "Not a valid choice" in refused.get_data(as_text=True)
    with session_scope(db_settings.database_url, read_only=True) as db:
        assert [r.kind for r in db.exec(select(Round))] == ["win-echo"]


def test_the_scoreboard_shows_the_model_with_sparklines_and_a_lead_mark_overrides_an_echo(
        admin_app, db_settings):  # noqa: F811
    client = signed_in(admin_app, db_settings)
    with session_scope(db_settings.database_url, read_only=True) as db:
        no2 = str(db.exec(select(Metric.id).where(Metric.key == "no2")).one())
    for value in (40.0, 35.0):
        checkin = open_kind(db_settings, "checkin")
        submit(db_settings, checkin, "raj@schools.example", {"readings": {no2: value}})
        with session_scope(db_settings.database_url) as db:
            merge_round(db, checkin)
            db.get(Round, checkin).closed_at = utcnow()  # type: ignore[union-attr]
    echo = open_kind(db_settings, "win-echo")
    submit(db_settings, echo, "raj@schools.example", {
        "echo": "By 2028 no child at a Harbour school breathes air above the WHO limit"})
    submit(db_settings, echo, "dee@clinic.example", {"echo": "More bike lanes downtown"})
    with session_scope(db_settings.database_url) as db:
        merge_round(db, echo)
    url = f"/admin/c/{SLUG}/scoreboard"
    page = client.get(url).get_data(as_text=True)
    printed = cos(db_settings, "scoreboard", SLUG).stdout
    focus = re.search(r"Focus now: (\w+)", printed)
    assert focus and f"Focus now: <strong>{focus.group(1)}</strong>" in page
    assert "Next right moves" in page and "Phase state, round 3 (win-echo)" in page
    doc = lxml.html.fromstring(page)
    spark = doc.xpath("//svg[@class='spark']")
    assert spark and spark[0].xpath("./polyline/@points")[0].count(",") >= 2
    assert "40" in spark[0].get("aria-label") and "35" in spark[0].get("aria-label")
    assert not doc.xpath("//script")
    rows = {r.xpath("./td[1]")[0].text_content(): r.xpath("./td[3]")[0].text_content()
            for r in doc.xpath("//section[.//h2[@id='echo-h']]//tbody/tr")}
    assert rows["Dee Brown"].startswith("off (suggested)")

    done = post(client, f"/admin/rounds/{echo}/echo",
                {"email": "dee@clinic.example", "mark": "partial"}, url)
    assert done.status_code == 303
    page = client.get(url).get_data(as_text=True)
    assert "Dee Brown: marked partial (suggested off)" in page
    assert "partial</strong> (set by a lead; suggested off)" in page
    listed = cos(db_settings, "echo", "list", SLUG).stdout
    assert "partial  (set by a lead) Dee Brown" in listed
    post(client, f"/admin/rounds/{echo}/echo", {"email": "kim@cyclists.example",
                                                "mark": "match"}, url)
    assert "has no win-echo answer" in client.get(url).get_data(as_text=True)


def test_a_lead_reads_the_cadence_page_and_scoreboard_of_their_coalition_without_forms(
        admin_app, db_settings):  # noqa: F811
    load(db_settings)
    round_id, _ = open_round(db_settings, SLUG)
    client = admin_app.test_client()
    sign_in_lead(client, db_settings, LEE)
    for url in (f"/admin/c/{SLUG}/cadence", f"/admin/c/{SLUG}/scoreboard"):
        page = client.get(url)
        assert page.status_code == 200
        doc = lxml.html.fromstring(page.get_data(as_text=True))
        assert not doc.xpath("//main//form"), url
    for url in (f"/admin/c/{SLUG}/edit", f"/admin/c/{SLUG}/cadence",
                f"/admin/rounds/{round_id}/pause", f"/admin/rounds/{round_id}/echo",
                f"/admin/c/{SLUG}/restore"):
        assert client.post(url, data={}).status_code == 403, url
    assert client.get(f"/admin/c/{SLUG}/edit").status_code == 403
