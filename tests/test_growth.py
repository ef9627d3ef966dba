"""What changed so the weekly loop costs the same per person at 100,000 people as at 100
(bench/growth.py measures it): bulk invitations and ledger rows, a bulk CSV import, a file load
that reads only the people it may change, and a digest email cut before it is copied."""

from __future__ import annotations

import copy

from sqlmodel import col, func, select

from pipeline import ledger
from pipeline.coalitions import import_people, load_coalition
from pipeline.core.vocab import EmailKind
from pipeline.db import session_scope
from pipeline.digest import shorten
from pipeline.models import Delivery, Invitation, Organisation, Person
from pipeline.rounds import active_partner_ids, fan_out
from pipeline.tokens import derive_token, hash_token
from tests.helpers import DATA, load, open_round


def test_a_round_invites_each_partner_once_with_a_working_link_and_one_ledger_row(
        db_settings, session):
    load(db_settings)
    round_id, rows = open_round(db_settings)
    with session_scope(db_settings.database_url) as s:
        partners = active_partner_ids(s, 1)
        again = fan_out(s, db_settings.secret_key, round_id)  # safe to run again
    invitations = session.exec(select(Invitation).where(Invitation.round_id == round_id)).all()
    assert sorted(i.person_id for i in invitations) == sorted(partners) and partners
    for invitation in invitations:  # the link in the email opens this invitation
        assert invitation.token_hash == hash_token(derive_token(db_settings.secret_key,
                                                                invitation.salt))
        assert invitation.created_at is not None and invitation.revoked_at is None
    deliveries = session.exec(select(Delivery).where(Delivery.round_id == round_id)).all()
    assert sorted(d.id for d in deliveries) == sorted(rows) == sorted(again)
    assert {d.status for d in deliveries} == {"queued"} and all(d.created_at for d in deliveries)


def test_ledger_rows_are_made_once_and_only_unsent_rows_of_the_people_asked_come_back(
        db_settings, session):
    load(db_settings)
    round_id, rows = open_round(db_settings)
    with session_scope(db_settings.database_url) as s:
        people = [d.person_id for d in s.exec(select(Delivery).where(col(Delivery.id).in_(rows))
                                               .order_by(col(Delivery.id)))]
        s.get(Delivery, rows[0]).status = "sent"  # type: ignore[union-attr]
        s.flush()
        assert ledger.ensure_rows(s, round_id, people[:2] * 2, EmailKind.INVITATION) == rows[1:2]
        reminders = ledger.ensure_rows(s, round_id, people, EmailKind.REMINDER, reminder=1)
        assert ledger.ensure_rows(s, round_id, people, EmailKind.REMINDER, reminder=1) == reminders
    assert len(reminders) == len(people)
    assert session.exec(select(func.count()).select_from(Delivery)).one() == 2 * len(rows)


CSV = "email,name,organisation,role\n{rows}"


def test_a_csv_import_adds_updates_and_brings_people_back_and_says_which(db_settings, session):
    load(db_settings)
    with session_scope(db_settings.database_url) as s:
        first = import_people(s, "harbour-air", CSV.format(rows=(
            "new1@example.org,New One,Harbour Trust,partner\n"
            "new2@example.org,New Two,New Org,partner\n")))
    assert first.created == {"organisation": ["New Org"],
                             "person": ["New One <new1@example.org>",
                                        "New Two <new2@example.org>"]}
    with session_scope(db_settings.database_url) as s:
        gone = s.exec(select(Person).where(Person.email == "new2@example.org")).one()
        gone.active = False
        s.add(gone)
    with session_scope(db_settings.database_url) as s:
        second = import_people(s, "harbour-air", CSV.format(rows=(
            "new1@example.org,New One Renamed,Harbour Trust,lead\n"
            "new2@example.org,New Two,New Org,partner\n"
            "ana@harbourtrust.org,Ana Silva,Harbour Trust,partner\n")))
    assert second.updated["person"] == ["New One Renamed <new1@example.org>",
                                        "New Two <new2@example.org>"]
    assert "person" not in second.created
    people = {p.email: p for p in session.exec(select(Person))}
    assert (people["new1@example.org"].name, people["new1@example.org"].role) == (
        "New One Renamed", "lead")
    assert people["new2@example.org"].active and people["new2@example.org"].source == "csv"
    assert people["ana@harbourtrust.org"].source == "file"  # the file still claims her
    assert people["new1@example.org"].language == "" and not people["new1@example.org"].opted_out_at


def test_a_file_load_with_prune_leaves_a_csvs_people_and_their_organisation_alone(
        db_settings, session):
    load(db_settings)
    with session_scope(db_settings.database_url) as s:
        import_people(s, "harbour-air", CSV.format(
            rows="csv1@example.org,Csv One,Csv Org,partner\n"))
    with session_scope(db_settings.database_url) as s:
        summary = load_coalition(s, DATA / "harbour.toml", prune=True)
    assert summary.deactivated == {}
    person = session.exec(select(Person).where(Person.email == "csv1@example.org")).one()
    org = session.exec(select(Organisation).where(Organisation.name == "Csv Org")).one()
    assert person.active and org.active


def test_the_digest_email_cuts_each_list_and_leaves_the_stored_board_as_it_was():
    # One copy per lead of a board listing 100,000 silent people made sending the digest grow
    # with leads times people: only the lists cut are new.
    board = {
        "response": {"invited": 40, "silent": [{"name": f"P{n}", "organisation": "O"}
                                               for n in range(30)]},
        "commitments": {"by_organisation": [
            {"organisation": f"O{n}", "items": [{"status": "slipping", "overdue": False}]}
            for n in range(15)] + [{"organisation": "Quiet", "items": [
                {"status": "on_track", "overdue": False}]}]},
        "wins": [[f"O{n}", "P", "won"] for n in range(13)], "metrics": [],
    }
    before = copy.deepcopy(board)
    short = shorten(board, 12)
    assert board == before
    assert len(short["response"]["silent"]) == 12 and short["response"]["invited"] == 40
    assert short["more"] == {"silent": 18, "commitments": 3, "metrics": 0, "wins": 1,
                             "blockers": 0, "help": 0, "conflicts": 0}
    assert all(g["organisation"] != "Quiet" for g in short["commitments"]["by_organisation"])
    short["response"]["silent"].append("more")  # the cut lists are the email's own
    short["commitments"]["by_organisation"].clear()
    assert board == before
