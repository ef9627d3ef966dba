"""Round kinds: the weekly check-in with its rotating phase items, the readiness check and the
win from memory, each asking its own questions and scored by the merge."""

from __future__ import annotations

import json
from datetime import timedelta

import lxml.html
from sqlmodel import select

from pipeline.cos_model import snapshot_for
from pipeline.db import session_scope
from pipeline.merge import merge_round
from pipeline.models import EchoMark
from pipeline.rounds import start_round
from tests.helpers import cos, link_for, load
from tests.test_merge import submit

PARTNERS = ("ana@harbourtrust.org", "raj@schools.example", "kim@cyclists.example",
            "dee@clinic.example")


def open_kind(settings, kind: str) -> int:
    with session_scope(settings.database_url) as s:
        round_, _ = start_round(s, settings.secret_key, "harbour-air", timedelta(hours=72),
                                kind=kind)
        return round_.id or 0


def page_of(app, settings, round_id: int, email: str = "raj@schools.example"):
    with session_scope(settings.database_url, read_only=True) as s:
        link = link_for(settings, s, email, round_id)
    client = app.test_client()
    return client, link, lxml.html.fromstring(client.get(link).get_data(as_text=True))


def closed_radio_groups(doc) -> set[str]:
    return {el.get("name") for el in doc.xpath("//input[@type='radio']")} - {None}


def test_a_weekly_check_in_carries_at_most_six_closed_items_from_the_playbook(app, settings):
    load(settings)
    round_id = open_kind(settings, "checkin")
    _, _, doc = page_of(app, settings, round_id)
    groups = closed_radio_groups(doc)
    items = {g for g in groups if g.startswith("item_")}
    # the anchor, two items of the focus phase (launch: Ready) and one of another phase
    assert {"item_M2", "item_R1", "item_R2"} <= items and len(items) == 4
    assert len(items) + ("pulse" in groups) <= 6
    assert doc.xpath("//*[contains(text(), 'Your commitments')]")


def test_a_readiness_round_asks_the_eight_items_and_the_merge_gives_a_verdict(app, settings):
    load(settings)
    round_id = open_kind(settings, "readiness")
    client, link, doc = page_of(app, settings, round_id)
    groups = closed_radio_groups(doc)
    assert len([g for g in groups if g.startswith("ready_")]) == 8
    assert not doc.xpath("//*[contains(text(), 'Your commitments')]")
    fields = {f"ready_{item}_rating": "2" for item in (
        "urgency", "champion", "convening_hours", "own_stake", "cross_section", "history",
        "data", "purpose")}
    fields["ready_data_rating"] = "0"
    fields["ready_data_comment"] = "no numbers yet"
    csrf = doc.forms[0].fields["csrf_token"]
    assert client.post(link, data={"csrf_token": csrf, **fields}).status_code == 303
    with session_scope(settings.database_url) as s:
        merge_round(s, round_id)
        snap = snapshot_for(s, round_id)
    assert snap["kind"] == "readiness"
    assert snap["readiness"]["verdict"] == "not yet"
    assert snap["readiness"]["lowest"] == "data"
    assert snap["readiness"]["first_move"].startswith("Pick one number")


def test_a_win_echo_round_marks_each_answer_and_a_lead_can_override_a_mark(app, settings):
    load(settings)
    round_id = open_kind(settings, "win-echo")
    _, _, doc = page_of(app, settings, round_id)
    assert doc.xpath("//textarea[@name='echo']")
    assert {"item_W2", "item_W3"} <= closed_radio_groups(doc)
    said = {
        "raj@schools.example": "By 2028 no child at a Harbour school breathes air above the "
                               "WHO limit",
        "kim@cyclists.example": "No Harbour school child breathes dirty air",
        "dee@clinic.example": "More bike lanes downtown",
    }
    for email, text in said.items():
        submit(settings, round_id, email, {"echo": text})
    with session_scope(settings.database_url) as s:
        merge_round(s, round_id)
        marks = {m.person_id: m.mark for m in s.exec(select(EchoMark))}
        assert sorted(marks.values()) == ["match", "off", "partial"]
        before = snapshot_for(s, round_id)["numbers"]["echo_rate"]
    assert before == 50.0

    marked = cos(settings, "echo", "mark", "harbour-air", "dee@clinic.example", "partial")
    assert marked.exit_code == 0, marked.output
    listed = json.loads(cos(settings, "echo", "list", "harbour-air", "--json").stdout)
    dee = next(a for a in listed["answers"] if a["email"] == "dee@clinic.example")
    assert (dee["suggested"], dee["override"], dee["mark"]) == ("off", "partial", "partial")
    with session_scope(settings.database_url) as s:
        assert snapshot_for(s, round_id)["numbers"]["echo_rate"] == 200 / 3
        merge_round(s, round_id)  # a merge keeps the lead's mark
        assert s.exec(select(EchoMark).where(EchoMark.override == "partial")).one()
    refused = cos(settings, "echo", "mark", "harbour-air", "ana@harbourtrust.org", "match")
    assert refused.exit_code != 0 and "no win-echo answer" in refused.output


def test_campaign_start_takes_a_kind(settings, smtp_server):
    load(settings)
    started = cos(settings, "campaign", "start", "harbour-air", "--kind", "win-echo",
                  "--send-now", "--json")
    assert started.exit_code == 0, started.output
    assert json.loads(started.stdout)["kind"] == "win-echo"
    bad = cos(settings, "campaign", "start", "harbour-air", "--kind", "survey")
    assert bad.exit_code != 0


def test_the_check_in_form_keeps_phase_items_and_the_story_behind_a_number(app, settings):
    from pipeline.models import Metric, Person, Response

    load(settings)
    round_id = open_kind(settings, "checkin")
    client, link, doc = page_of(app, settings, round_id)
    with session_scope(settings.database_url, read_only=True) as s:
        no2 = s.exec(select(Metric.id).where(Metric.key == "no2")).one()
    fields = {"csrf_token": doc.forms[0].fields["csrf_token"], "item_M2": "2",
              "item_R1": "not_sure", f"m{no2}_value": "41", f"m{no2}_note": "Road works"}
    assert client.post(link, data=fields).status_code == 303
    with session_scope(settings.database_url, read_only=True) as s:
        stored = s.exec(select(Response).join(Person).where(
            Person.email == "raj@schools.example")).one().answers
    assert stored["items"] == {"M2": 2, "R1": "not_sure"}
    assert stored["reading_notes"] == {str(no2): "Road works"}
    again = lxml.html.fromstring(client.get(link).get_data(as_text=True))
    assert again.xpath("//input[@name='item_M2'][@checked]/@value") == ["2"]
    assert again.xpath(f"//input[@name='m{no2}_note']/@value") == ["Road works"]


def test_a_check_in_rotates_its_items_around_the_focus_of_the_round_before(app, settings):
    from pipeline.core.phases import Phase
    from pipeline.core.questions import checkin_items
    from pipeline.models import PhaseSnapshot

    load(settings)
    first = open_kind(settings, "checkin")
    with session_scope(settings.database_url) as s:  # round 1 ended focused on trust
        s.add(PhaseSnapshot(round_id=first, data={"focus": "trust"}))
    second = open_kind_forced(settings, "checkin")
    _, _, doc = page_of(app, settings, second)
    items = tuple(sorted(g.removeprefix("item_") for g in closed_radio_groups(doc)
                         if g.startswith("item_")))
    expected, _ = checkin_items(2, Phase.TRUST)
    assert items == tuple(sorted(expected))
    assert items != tuple(sorted(checkin_items(2, Phase.READY)[0]))  # not the stage's default


def open_kind_forced(settings, kind: str) -> int:
    with session_scope(settings.database_url) as s:
        round_, _ = start_round(s, settings.secret_key, "harbour-air", timedelta(hours=72),
                                kind=kind, force=True)
        return round_.id or 0
