"""The admin's day-one tools: listing, naming a round by slug, --json, late invites, revoking."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest
from sqlmodel import select

from pipeline.coalitions import load_coalition
from pipeline.core.display import format_local_short
from pipeline.db import session_scope
from pipeline.models import Delivery, Invitation, Person, Round, utcnow
from pipeline.rounds import close_round
from tests.helpers import DATA, cos, link_for, links_in, load, open_round, work

TZ = "America/New_York"  # harbour-air's zone
LATE = "zoe@parents.example"


def add_people(settings, tmp_path: Path, *rows: str) -> None:
    """Import people into harbour-air from CSV rows `email,name,organisation,role`."""
    csv_file = tmp_path / "late.csv"
    csv_file.write_text("email,name,organisation,role\n" + "\n".join(rows) + "\n",
                        encoding="utf-8")
    imported = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert imported.exit_code == 0, imported.output


def add_late_joiner(settings, tmp_path: Path) -> None:
    add_people(settings, tmp_path, f"{LATE},Zoe Late,Harbour Parents,partner")


def load_second_coalition(settings, tmp_path: Path) -> None:
    """Load a copy of harbour-air as `bay-air`, in another time zone."""
    text = (DATA / "harbour.toml").read_text(encoding="utf-8")
    other = tmp_path / "bay.toml"
    other.write_text(text.replace('"harbour-air"', '"bay-air"')
                     .replace(TZ, "Europe/Paris"), encoding="utf-8")
    with session_scope(settings.database_url) as session:
        load_coalition(session, other)


def close_directly(settings, round_id: int) -> None:
    with session_scope(settings.database_url) as session:
        close_round(session, round_id)


def round_row(session, round_id: int) -> Round:
    session.expire_all()
    found = session.get(Round, round_id)
    assert found is not None
    return found


def is_utc_z(text: str) -> bool:
    return text.endswith("Z") and datetime.fromisoformat(text[:-1]).tzinfo is None


# --- cos, cos --version ---------------------------------------------------------------------


def test_bare_cos_prints_the_help_and_exits_0(db_settings):
    result = cos(db_settings)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "campaign" in result.output


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_the_package_version(db_settings, flag):
    result = cos(db_settings, flag)
    assert result.exit_code == 0
    assert result.output == f"cos, version {version('cos-cadence')}\n"


# --- cos coalitions, cos people SLUG, cos campaigns SLUG ------------------------------------


def test_coalitions_lists_each_with_its_partners_leads_and_open_round(db_settings, tmp_path):
    assert "no coalitions yet" in cos(db_settings, "coalitions").output
    load(db_settings)
    load_second_coalition(db_settings, tmp_path)
    round_id, _ = open_round(db_settings)
    result = cos(db_settings, "coalitions")
    assert result.exit_code == 0, result.output
    bay, harbour = result.stdout.splitlines()
    assert bay.startswith("bay-air ") and "no open round" in bay
    assert harbour.startswith("harbour-air ")
    assert "Harbour Clean Air Alliance (America/New_York, launch)" in harbour
    assert "4 partners, 1 lead" in harbour
    assert f"open round: campaign {round_id}" in harbour


def test_people_slug_lists_name_email_organisation_role_and_active(db_settings):
    load(db_settings)
    with session_scope(db_settings.database_url) as s:
        kim = s.exec(select(Person).where(Person.email == "kim@cyclists.example")).one()
        kim.active = False
        s.add(kim)
    result = cos(db_settings, "people", "harbour-air")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "harbour-air: 6 people, 5 active"
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["Raj"] == ["Raj", "Patel", "raj@schools.example", "Harbour", "Schools",
                           "partner", "active"]
    assert rows["Lee"][-2:] == ["lead", "active"]
    assert rows["Fay"][-2:] == ["observer", "active"]
    assert rows["Kim"][-1] == "deactivated"
    # the same list by its explicit name, and the import beside it still works
    assert cos(db_settings, "people", "list", "harbour-air").output == result.output
    imported = cos(db_settings, "people", "import", "harbour-air", str(DATA / "cli_people.csv"))
    assert imported.exit_code == 0, imported.output


def test_people_of_an_unknown_coalition_names_the_known_ones(db_settings):
    load(db_settings)
    result = cos(db_settings, "people", "harbour")
    assert result.exit_code == 1
    assert "no coalition 'harbour' (known: harbour-air)" in result.output


def test_campaigns_lists_rounds_in_the_coalitions_local_time_with_counts(
        db_settings, session):
    load(db_settings)
    assert "has no rounds yet" in cos(db_settings, "campaigns", "harbour-air").output
    first, _ = open_round(db_settings)
    close_directly(db_settings, first)
    second, _ = open_round(db_settings)
    token = link_for(db_settings, session, "raj@schools.example", second).rsplit("/", 1)[1]
    from pipeline.checkin import open_checkin, record_answers

    with session_scope(db_settings.database_url) as s:
        record_answers(s, open_checkin(s, token), {"pulse": "4"})

    result = cos(db_settings, "campaigns", "harbour-air")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"harbour-air: 2 rounds, times in {TZ}"
    one, two = round_row(session, first), round_row(session, second)
    assert lines[2].split()[:2] == ["1", str(first)]
    assert format_local_short(one.opened_at, TZ) in lines[2]
    assert f"closed {format_local_short(one.closed_at, TZ)}" in lines[2]  # type: ignore[arg-type]
    assert lines[2].split()[-2:] == ["4", "0"]
    assert lines[3].split()[:2] == ["2", str(second)]
    assert f"closes {format_local_short(two.closes_at, TZ)}" in lines[3]
    assert lines[3].split()[-2:] == ["4", "1"]
    assert "UTC" not in result.output


# --- a round named by its coalition's slug --------------------------------------------------


def test_status_and_close_take_a_slug_for_the_coalitions_open_round(settings, session):
    load(settings)
    round_id, _ = open_round(settings)
    by_slug = cos(settings, "campaign", "status", "harbour-air")
    assert by_slug.exit_code == 0, by_slug.output
    assert by_slug.output == cos(settings, "campaign", "status", str(round_id)).output
    assert by_slug.stdout.startswith(f"harbour-air round 1 (campaign {round_id}), open until ")

    closed = cos(settings, "campaign", "close", "harbour-air")
    assert closed.exit_code == 0, closed.output
    assert closed.stdout.startswith(f"campaign {round_id} (harbour-air round 1) closed ")
    assert round_row(session, round_id).closed_at is not None

    none_open = cos(settings, "campaign", "status", "harbour-air")
    assert none_open.exit_code == 1
    assert (f"harbour-air has no open round (the latest, round 1, is campaign {round_id}, "
            "closed)") in none_open.output
    assert "cos campaign start harbour-air" in none_open.output
    assert cos(settings, "campaign", "close", "harbour-air").exit_code == 1
    # a closed round is still there by its id
    assert cos(settings, "campaign", "status", str(round_id)).exit_code == 0


@pytest.mark.parametrize("command", ["status", "close", "invite", "revoke"])
def test_an_unknown_slug_is_a_clear_error_listing_the_known_ones(settings, command):
    load(settings)
    args = ["campaign", command, "harbour-aer"] + (["raj@schools.example"]
                                                   if command == "revoke" else [])
    result = cos(settings, *args)
    assert result.exit_code == 1
    assert "no coalition 'harbour-aer' (known: harbour-air)" in result.output


@pytest.mark.parametrize(("ref", "message"), [
    ("404", "no round 404"),
    ("99999999999999999999", "no coalition '99999999999999999999' (known: harbour-air)"),
])
def test_an_unknown_campaign_id_is_a_clear_error(db_settings, ref, message):
    load(db_settings)
    result = cos(db_settings, "campaign", "status", ref)
    assert result.exit_code == 1
    assert message in result.output


def test_a_coalition_without_rounds_says_how_to_start_one(settings):
    load(settings)
    result = cos(settings, "campaign", "status", "harbour-air")
    assert result.exit_code == 1
    assert "harbour-air has no open round: give a campaign id" in result.output


def test_digest_round_picks_the_round_and_campaign_is_kept_as_an_alias(
        settings, tmp_path):
    load(settings)
    load_second_coalition(settings, tmp_path)
    first, _ = open_round(settings)
    close_directly(settings, first)
    open_round(settings)
    bay, _ = open_round(settings, "bay-air")
    for flag in ("--round", "--campaign"):
        out = tmp_path / f"digest{flag}.html"
        result = cos(settings, "digest", "harbour-air", flag, str(first), "--out", str(out))
        assert result.exit_code == 0, result.output
        assert f"digest for campaign {first} written to {out}" in result.output
        assert "Round 1" in out.read_text(encoding="utf-8")
    wrong = cos(settings, "digest", "harbour-air", "--round", str(bay),
                "--out", str(tmp_path / "x.html"))
    assert wrong.exit_code == 1
    assert f"campaign {bay} is not a round of harbour-air" in wrong.output
    assert "--round" in cos(settings, "digest", "--help").output
    assert "--campaign" not in cos(settings, "digest", "--help").output


# --- one time zone in what people read ------------------------------------------------------


def test_status_and_close_print_times_in_the_coalitions_zone_with_its_abbreviation(
        settings, session):
    load(settings)
    round_id, _ = open_round(settings)
    closes = round_row(session, round_id).closes_at
    status = cos(settings, "campaign", "status", str(round_id))
    local = format_local_short(closes, TZ)
    assert local[-3:] in ("EST", "EDT")
    assert status.stdout.splitlines()[0].endswith(f"open until {local}")
    assert "UTC" not in status.output

    closed = cos(settings, "campaign", "close", str(round_id))
    closed_at = round_row(session, round_id).closed_at
    assert closed_at is not None
    assert f"closed {format_local_short(closed_at, TZ)};" in closed.output
    assert "UTC" not in closed.output
    after = cos(settings, "campaign", "status", str(round_id))
    assert f"closed {format_local_short(closed_at, TZ)}" in after.stdout.splitlines()[0]


# --- --json ---------------------------------------------------------------------------------


def test_json_listings_are_one_document_with_times_in_utc(settings, tmp_path):
    load(settings)
    round_id, _ = open_round(settings)

    coalitions = json.loads(cos(settings, "coalitions", "--json").stdout)
    assert coalitions == {"coalitions": [{
        "slug": "harbour-air", "name": "Harbour Clean Air Alliance", "timezone": TZ,
        "stage": "launch", "partners": 4, "leads": 1, "open_campaign": round_id}]}

    people = json.loads(cos(settings, "people", "harbour-air", "--json").stdout)
    assert people["coalition"] == "harbour-air"
    assert {"name": "Raj Patel", "email": "raj@schools.example",
            "organisation": "Harbour Schools", "role": "partner",
            "active": True} in people["people"]

    rounds = json.loads(cos(settings, "campaigns", "harbour-air", "--json").stdout)
    (only,) = rounds["rounds"]
    assert (only["campaign"], only["number"], only["invited"], only["answered"],
            only["closed_at"]) == (round_id, 1, 4, 0, None)
    assert is_utc_z(only["opened_at"]) and is_utc_z(only["closes_at"])

    status = json.loads(cos(settings, "campaign", "status", "harbour-air", "--json").stdout)
    assert (status["campaign"], status["coalition"], status["round"]) == (
        round_id, "harbour-air", 1)
    assert status["counts"] == {"invited": 4, "delivered": 0, "failed": 0, "answered": 0,
                                "silent": 4, "revoked": 0}
    assert is_utc_z(status["closes_at"])
    raj = next(p for p in status["people"] if p["email"] == "raj@schools.example")
    assert (raj["delivery"], raj["answered"]) == ("queued", False)


def test_json_results_of_start_close_digest_and_reconcile(settings, smtp_server, tmp_path):
    load(settings)
    started = cos(settings, "campaign", "start", "harbour-air", "--json")
    assert started.exit_code == 0, started.output
    start = json.loads(started.stdout)
    assert (start["coalition"], start["round"], start["invitations"]) == ("harbour-air", 1, 4)
    assert start["emails"] == {"queued": 4}
    assert is_utc_z(start["opened_at"]) and is_utc_z(start["closes_at"])
    work(settings)
    smtp_server.wait_for(4)

    reconciled = json.loads(cos(settings, "reconcile", "--json").stdout)
    assert reconciled == {"merged": [], "queued_emails": 0, "queued_webhooks": 0,
                          "queue_problem": None,
                          "failed": {}, "left_out": {}}

    closed = json.loads(cos(settings, "campaign", "close", "harbour-air", "--json").stdout)
    assert (closed["campaign"], closed["answers"]) == (start["campaign"], 0)
    assert closed["digest"] == {"sent": ["Lee Park <lee@harbourtrust.org>"], "skipped": 0,
                                "failed": []}
    assert is_utc_z(closed["closed_at"])

    again = json.loads(cos(settings, "digest", "harbour-air", "--send", "--json").stdout)
    assert again == {"campaign": start["campaign"], "coalition": "harbour-air", "sent": [],
                     "skipped": 1, "failed": []}
    out = tmp_path / "d.html"
    written = json.loads(cos(settings, "digest", "harbour-air", "--out", str(out),
                             "--json").stdout)
    assert written == {"campaign": start["campaign"], "coalition": "harbour-air",
                       "out": str(out)}


# --- cos campaign invite --------------------------------------------------------------------


def test_invite_gives_a_late_joiner_an_invitation_and_queues_their_email(
        settings, session, smtp_server, tmp_path):
    load(settings)
    round_id = int(cos(settings, "campaign", "start", "harbour-air").stdout)
    work(settings)
    smtp_server.wait_for(4)
    add_late_joiner(settings, tmp_path)

    invited = cos(settings, "campaign", "invite", "harbour-air")
    assert invited.exit_code == 0, invited.output
    assert invited.stdout == (f"harbour-air round 1 (campaign {round_id}): invited 1\n"
                              f"  Zoe Late <{LATE}>\n")
    assert "1 email queued for the worker" in invited.stderr
    work(settings)
    assert smtp_server.wait_for(5)[4].rcpt_tos == [LATE]
    assert link_for(settings, session, LATE, round_id)  # an invitation row for Zoe

    again = cos(settings, "campaign", "invite", "harbour-air")
    assert again.exit_code == 1
    assert "every active partner of harbour-air already has an invitation" in again.output
    assert f"cos campaign resend {round_id} EMAIL" in again.output
    work(settings)
    assert len(smtp_server.messages) == 5


def test_invite_with_emails_invites_only_those_and_sends_now(
        settings, session, smtp_server, tmp_path):
    load(settings)
    round_id, _ = open_round(settings)
    add_people(settings, tmp_path, f"{LATE},Zoe Late,Harbour Parents,partner",
               "yan@parents.example,Yan Other,Harbour Parents,partner")
    invited = cos(settings, "campaign", "invite", str(round_id), LATE.upper(), "--send-now",
                  "--json")
    assert invited.exit_code == 0, invited.output
    result = json.loads(invited.stdout)
    assert result["invited"] == [{"name": "Zoe Late", "email": LATE}]
    assert result["emails"] == {"sent": 1, "not_sent": 0}
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [[LATE]]
    invitees = session.exec(select(Person.email).join(
        Invitation, Invitation.person_id == Person.id)  # type: ignore[arg-type]
        .where(Invitation.round_id == round_id)).all()
    assert LATE in invitees and "yan@parents.example" not in invitees


def test_invite_refuses_every_address_it_cannot_invite_and_invites_nobody(
        settings, session, tmp_path):
    load(settings)
    round_id, _ = open_round(settings)
    add_late_joiner(settings, tmp_path)
    result = cos(settings, "campaign", "invite", "harbour-air", LATE, "raj@schools.example",
                 "lee@harbourtrust.org", "who@nowhere.example")
    assert result.exit_code == 1
    assert "nobody was invited" in result.output
    assert (f"raj@schools.example: Raj Patel already has an invitation to round 1; "
            f"`cos campaign resend {round_id} EMAIL` sends an invitation again") in result.output
    assert "lee@harbourtrust.org: Lee Park is a lead, and only partners check in" in result.output
    assert "who@nowhere.example: nobody in harbour-air has this address" in result.output
    assert LATE not in session.exec(select(Person.email).join(
        Invitation, Invitation.person_id == Person.id)).all()  # type: ignore[arg-type]


def test_invite_to_a_closed_round_says_its_links_no_longer_work(settings, tmp_path):
    load(settings)
    round_id, _ = open_round(settings)
    close_directly(settings, round_id)
    add_late_joiner(settings, tmp_path)
    result = cos(settings, "campaign", "invite", str(round_id), LATE)
    assert result.exit_code == 1
    assert f"harbour-air round 1 (campaign {round_id}) is closed" in result.output
    with session_scope(settings.database_url) as s:  # past its closing time, not yet closed
        s.add(Round(coalition_id=1, number=2, opened_at=utcnow() - timedelta(days=3),
                    closes_at=utcnow() - timedelta(minutes=1)))
    late = cos(settings, "campaign", "invite", "harbour-air", LATE)
    assert late.exit_code == 1 and "is past its closing time" in late.output


# --- cos campaign revoke --------------------------------------------------------------------


def test_revoke_ends_one_link_which_then_gets_the_closed_page(
        settings, session, smtp_server, app):
    load(settings)
    round_id = int(cos(settings, "campaign", "start", "harbour-air").stdout)
    work(settings)
    smtp_server.wait_for(4)
    link = link_for(settings, session, "raj@schools.example", round_id)
    client = app.test_client()
    assert client.get(link).status_code == 200

    revoked = cos(settings, "campaign", "revoke", "harbour-air", "raj@schools.example")
    assert revoked.exit_code == 0, revoked.output
    assert revoked.stdout.startswith(
        f"revoked Raj Patel's link to harbour-air round 1 (campaign {round_id}) at ")
    assert "EST" in revoked.output or "EDT" in revoked.output
    page = client.get(link)
    assert page.status_code == 410
    assert "This check-in has closed" in page.get_data(as_text=True)
    assert client.get(link_for(settings, session, "dee@clinic.example", round_id)
                      ).status_code == 200  # the others keep theirs

    status = cos(settings, "campaign", "status", str(round_id))
    assert "revoked 1" in status.stdout.splitlines()[1]
    assert "revoked" in next(line for line in status.stdout.splitlines() if "Raj" in line)

    again = cos(settings, "campaign", "revoke", str(round_id), "raj@schools.example")
    assert again.exit_code == 1
    assert "raj@schools.example: Raj Patel's link to round 1 was already revoked" in again.output
    invite = cos(settings, "campaign", "invite", str(round_id), "raj@schools.example")
    assert invite.exit_code == 1 and "was revoked" in invite.output


def test_revoking_before_the_email_went_stops_the_email(settings, session, smtp_server):
    load(settings)
    round_id = int(cos(settings, "campaign", "start", "harbour-air").stdout)
    revoked = cos(settings, "campaign", "revoke", str(round_id), "raj@schools.example",
                  "--json")
    assert revoked.exit_code == 0, revoked.output
    result = json.loads(revoked.stdout)
    assert (result["email"], result["email_stopped"]) == ("raj@schools.example", True)
    assert is_utc_z(result["revoked_at"])
    work(settings)
    assert "raj@schools.example" not in [m.rcpt_tos[0] for m in smtp_server.wait_for(3)]
    session.expire_all()
    assert len(session.exec(select(Delivery).where(Delivery.status == "sent")).all()) == 3


@pytest.mark.parametrize(("email", "message"), [
    ("who@nowhere.example", "who@nowhere.example: nobody in harbour-air has this address"),
    ("lee@harbourtrust.org", "Lee Park has no invitation to round 1 (only active partners"),
])
def test_revoke_of_someone_without_a_link_says_so(settings, email, message):
    load(settings)
    open_round(settings)
    result = cos(settings, "campaign", "revoke", "harbour-air", email)
    assert result.exit_code == 1
    assert message in result.output


def test_resend_sends_the_same_link_again_and_status_shows_it_went(
        settings, session, smtp_server):
    load(settings)
    round_id = int(cos(settings, "campaign", "start", "harbour-air").stdout)
    work(settings)
    first = {m.rcpt_tos[0]: m for m in smtp_server.wait_for(4)}
    smtp_server.clear()

    resent = cos(settings, "campaign", "resend", "harbour-air", "raj@schools.example",
                 "--send-now")
    assert resent.exit_code == 0, resent.output
    assert "Raj Patel's invitation to round 1" in resent.stdout
    (again,) = smtp_server.wait_for(1)
    assert again.rcpt_tos == ["raj@schools.example"]
    assert links_in([again]) == links_in([first["raj@schools.example"]])  # the same link

    status = cos(settings, "campaign", "status", str(round_id))
    raj = next(line for line in status.stdout.splitlines() if "Raj" in line)
    assert "accepted by SMTP" in raj


def test_resend_to_someone_without_a_live_link_says_what_to_do(settings, session):
    load(settings)
    cos(settings, "campaign", "start", "harbour-air")
    unknown = cos(settings, "campaign", "resend", "harbour-air", "nobody@nowhere.example")
    assert unknown.exit_code == 1 and "nobody in harbour-air has this address" in unknown.output
    assert cos(settings, "campaign", "revoke", "harbour-air", "raj@schools.example").exit_code == 0
    revoked = cos(settings, "campaign", "resend", "harbour-air", "raj@schools.example")
    assert revoked.exit_code == 1 and "was already revoked" in revoked.output
