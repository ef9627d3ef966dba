"""Setting a coalition up: `cos load FILE.toml` and `cos people import SLUG FILE.csv`."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from pipeline.checkin import LinkProblem, open_checkin, record_answers
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.models import (
    Coalition,
    Commitment,
    Invitation,
    Metric,
    Organisation,
    Person,
    Response,
    Round,
)
from tests.helpers import DATA, cos, link_for, load, warnings_of

HARBOUR = (DATA / "harbour.toml").read_text(encoding="utf-8")
EXAMPLE = Path(__file__).parent.parent / "examples" / "riverside-food.toml"
DEE = """[[people]]
email = "dee@clinic.example"
name = "Dee Brown"
organisation = "Harbour Clinic"
role = "partner"

"""
ASTHMA = """[[commitments]]
key = "asthma-data"
owner = "Harbour Clinic"
text = "Share monthly asthma admissions for under-12s"
due = 2027-02-01
"""
RENAME = ('name = "Harbour Clean Air Alliance"', 'name = "Renamed Alliance"')
WITHOUT_DEE = ((DEE, ""), (ASTHMA, ""))  # Dee is the Clinic's only partner and owns asthma-data


@pytest.fixture
def settings(db_settings: Settings) -> Settings:
    """Loading and importing need the database only: no Redis, no SMTP server."""
    return db_settings


def variant(tmp_path: Path, *edits: tuple[str, str], name: str = "harbour-edited.toml") -> Path:
    """Write harbour.toml with some text replaced; every replaced text must be there."""
    text = HARBOUR
    for old, new in edits:
        assert old in text, f"{old!r} is not in harbour.toml"
        text = text.replace(old, new, 1)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def write_csv(tmp_path: Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write a CSV of people into the test's folder."""
    path = tmp_path / "people.csv"
    path.write_bytes(text.encode(encoding))
    return path


def snapshot(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Read every row a load or import can touch, fresh from the database."""
    session.expire_all()
    return {model.__name__: [row.model_dump() for row in session.exec(
        select(model).order_by(model.id))]  # type: ignore[attr-defined]
            for model in (Coalition, Organisation, Person, Metric, Commitment)}


def people(session: Session) -> dict[str, Person]:
    """Return the stored people by email, fresh from the database."""
    session.expire_all()
    return {p.email: p for p in session.exec(select(Person))}


def org_names(session: Session, ids: set[int]) -> set[str]:
    """Return the names of these organisations."""
    return {o.name for o in session.exec(select(Organisation)) if o.id in ids}


def problems_in(output: str) -> list[str]:
    """Return the listed problems of a LoadError message."""
    return [line.strip()[2:] for line in output.splitlines() if line.startswith("  - ")]


# --- cos load ------------------------------------------------------------------------------


def test_loading_a_file_creates_the_coalition_with_its_people_metrics_and_commitments(
        settings, session):
    result = cos(settings, "load", str(DATA / "harbour.toml"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("harbour-air: created: 1 coalition, 3 commitments, "
                                    "2 metrics, 5 organisations, 6 people")
    coalition = session.exec(select(Coalition)).one()
    assert (coalition.slug, coalition.name, coalition.timezone, coalition.stage) == (
        "harbour-air", "Harbour Clean Air Alliance", "America/New_York", "launch")
    assert coalition.win.startswith("By 2028 no child")
    assert org_names(session, {coalition.lead_organisation_id or 0}) == {"Harbour Trust"}
    assert {e: p.role for e, p in people(session).items()} == {
        "lee@harbourtrust.org": "lead", "ana@harbourtrust.org": "partner",
        "raj@schools.example": "partner", "kim@cyclists.example": "partner",
        "dee@clinic.example": "partner", "fay@funder.example": "observer"}
    no2 = session.exec(select(Metric).where(Metric.key == "no2")).one()
    assert (no2.baseline, no2.target, no2.direction, no2.unit) == (48, 25, "down", "µg/m³")
    assert org_names(session, {no2.owner_organisation_id}) == {"Harbour Schools"}
    assert {c.source_key: c.due for c in session.exec(select(Commitment))} == {
        "file:sensors": date(2026, 12, 1), "file:petition": date(2027, 1, 15),
        "file:asthma-data": date(2027, 2, 1)}


def test_loading_the_same_file_again_changes_nothing_and_duplicates_nothing(settings, session):
    load(settings)
    before = snapshot(session)
    again = cos(settings, "load", str(DATA / "harbour.toml"))
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "harbour-air: nothing changed"
    assert snapshot(session) == before


def test_reloading_an_edited_file_updates_names_targets_and_due_dates_in_place(
        settings, session, tmp_path):
    load(settings)
    before = snapshot(session)
    edited = variant(
        tmp_path,
        RENAME,
        ('timezone = "America/New_York"', 'timezone = "America/Chicago"'),
        ('stage = "launch"', 'stage = "growth"'),
        ('lead_organisation = "Harbour Trust"', 'lead_organisation = "Harbour Schools"'),
        ('name = "Raj Patel"', 'name = "Raj Patel-Singh"'),
        ('role = "observer"', 'role = "lead"'),
        ("target = 25", "target = 20"),
        ("due = 2026-12-01", "due = 2027-03-01"),
        ('text = "Deliver the school-streets petition to the council"',
         'text = "Deliver the petition to the council"'),
    )
    result = cos(settings, "load", str(edited))
    assert result.exit_code == 0, result.output

    after = snapshot(session)
    for kind in ("Coalition", "Organisation", "Person", "Metric", "Commitment"):
        assert [r["id"] for r in after[kind]] == [r["id"] for r in before[kind]], kind
    coalition = session.exec(select(Coalition)).one()
    assert (coalition.name, coalition.timezone, coalition.stage) == (
        "Renamed Alliance", "America/Chicago", "growth")
    assert org_names(session, {coalition.lead_organisation_id or 0}) == {"Harbour Schools"}
    everyone = people(session)
    assert everyone["raj@schools.example"].name == "Raj Patel-Singh"
    assert everyone["fay@funder.example"].role == "lead"
    assert session.exec(select(Metric.target).where(Metric.key == "no2")).one() == 20
    commitments = {c.source_key: c for c in session.exec(select(Commitment))}
    assert commitments["file:sensors"].due == date(2027, 3, 1)
    assert commitments["file:petition"].text == "Deliver the petition to the council"


def test_reloading_with_a_changed_target_and_due_date_reports_them_as_updated(
        settings, tmp_path):
    load(settings)
    edited = variant(tmp_path, ("target = 25", "target = 20"),
                     ("due = 2026-12-01", "due = 2027-03-01"))
    result = cos(settings, "load", str(edited))
    assert result.exit_code == 0, result.output
    assert "nothing changed" not in result.output
    assert "updated: 1 commitment, 1 metric" in result.output


def test_a_person_pruned_from_the_file_keeps_their_answers_and_is_not_invited_again(
        settings, session, tmp_path):
    load(settings)
    started = cos(settings, "campaign", "start", "harbour-air")
    first = int(started.stdout)
    token = link_for(settings, session, "dee@clinic.example", first).rsplit("/", 1)[1]
    with session_scope(settings.database_url) as s:
        record_answers(s, open_checkin(s, token), {"pulse": "4", "win": "Asthma data shared"})

    result = cos(settings, "load", "--prune", str(variant(tmp_path, *WITHOUT_DEE)))
    assert result.exit_code == 0, result.output
    assert "harbour-air: deactivated: 1 commitment, 1 organisation, 1 person" in result.stdout
    assert "  deactivated people: Dee Brown <dee@clinic.example>" in result.stdout
    assert "  deactivated organisations: Harbour Clinic" in result.stdout
    # A round is open: the admin is told, on stderr, before the summary.
    warning = "warning: round 1 is open: 1 person deactivated"
    assert warning in warnings_of(result)
    assert result.output.index(warning) < result.output.index("harbour-air: deactivated")

    dee = people(session)["dee@clinic.example"]
    assert dee.active is False
    kept = session.exec(select(Response).where(Response.person_id == dee.id)).all()
    assert [r.answers["win"] for r in kept] == ["Asthma data shared"]
    with session_scope(settings.database_url, read_only=True) as s, pytest.raises(LinkProblem):
        open_checkin(s, token)  # their link of the open round stops working

    second = cos(settings, "campaign", "start", "harbour-air", "--force")
    assert second.exit_code == 0, second.output
    invited = session.exec(select(Person.email).join(Invitation).where(
        Invitation.round_id == int(second.stdout))).all()
    assert sorted(invited) == ["ana@harbourtrust.org", "kim@cyclists.example",
                               "raj@schools.example"]


def test_putting_a_person_back_in_the_file_reactivates_the_same_person(
        settings, session, tmp_path):
    load(settings)
    dee_id = people(session)["dee@clinic.example"].id
    assert cos(settings, "load", "--prune",
               str(variant(tmp_path, *WITHOUT_DEE))).exit_code == 0
    back = cos(settings, "load", str(DATA / "harbour.toml"))
    assert back.exit_code == 0, back.output
    assert "updated: 1 commitment, 1 organisation, 1 person" in back.output
    dee = people(session)["dee@clinic.example"]
    assert (dee.id, dee.active) == (dee_id, True)


def commitments_asked_of(settings: Settings, session: Session, email: str) -> list[str]:
    """Open a round and return the commitment texts this person's check-in asks about."""
    started = cos(settings, "campaign", "start", "harbour-air")
    assert started.exit_code == 0, started.output
    token = link_for(settings, session, email, int(started.stdout)).rsplit("/", 1)[1]
    with session_scope(settings.database_url, read_only=True) as s:
        return [c.text for c in open_checkin(s, token).commitments]


PETITION = """[[commitments]]
key = "petition"
owner = "Harbour Cyclists"
text = "Deliver the school-streets petition to the council"
due = 2027-01-15
"""


def test_rewording_a_commitment_that_has_no_key_does_not_duplicate_it(
        settings, session, tmp_path):
    keyless = ('key = "petition"\n', "")
    assert cos(settings, "load", str(variant(tmp_path, keyless))).exit_code == 0
    reworded = variant(tmp_path, keyless, ("school-streets petition", "petition"))
    kept = cos(settings, "load", str(reworded))
    assert kept.exit_code == 0, kept.output
    # Without a key the reworded text is a new commitment; the old one is named by its text.
    assert ("1 commitment ('Deliver the school-streets petition to the council')"
            in warnings_of(kept))
    assert cos(settings, "load", "--prune", str(reworded)).exit_code == 0
    assert commitments_asked_of(settings, session, "kim@cyclists.example") == [
        "Deliver the petition to the council"]


def test_a_commitment_pruned_from_the_file_is_no_longer_asked_about(
        settings, session, tmp_path):
    load(settings)
    assert cos(settings, "load", "--prune",
               str(variant(tmp_path, (PETITION, "")))).exit_code == 0
    assert commitments_asked_of(settings, session, "kim@cyclists.example") == []


def test_a_bad_file_gets_one_message_listing_every_problem_and_where_it_is(settings, session):
    load(settings)
    before = snapshot(session)
    result = cos(settings, "load", str(DATA / "load_bad.toml"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert warnings_of(result).count("Error:") == 1
    assert "6 problems, nothing was changed" in warnings_of(result)
    listed = problems_in(warnings_of(result))
    assert len(listed) == 6, listed
    for expected in (
        "line 2: [coalition]: 'slug' is missing",
        "line 5: [coalition]: unknown timezone 'Mars/Olympus_Mons'",
        "line 14: [[people]] #2: 'not-an-email' is not an email address",
        "line 19: [[people]] #3: ana@bay.example appears twice",
        "line 26: [[metrics]] #1: 'baseline' should be a number, got 'about forty'",
        "line 33: [[commitments]] #1: due '2026-02-30' is not a date",
    ):
        assert any(p.startswith(expected) for p in listed), expected
    assert snapshot(session) == before


@pytest.mark.parametrize(("edit", "expected"), [
    (('slug = "harbour-air"\n', ""), "[coalition]: 'slug' is missing"),
    (('timezone = "America/New_York"', 'timezone = "America/Gotham"'),
     "[coalition]: unknown timezone 'America/Gotham'"),
    (('email = "raj@schools.example"', 'email = "raj at schools.example"'),
     "[[people]] #3: 'raj at schools.example' is not an email address"),
    (("baseline = 48", 'baseline = "48"'), "[[metrics]] #1: 'baseline' should be a number"),
    (('email = "kim@cyclists.example"', 'email = "Dee@Clinic.example"'),
     "[[people]] #5: dee@clinic.example appears twice"),
    (("due = 2026-12-01", 'due = "1 December 2026"'),
     "[[commitments]] #1: due '1 December 2026' is not a date"),
    (('name = "Car-free school streets"', 'name = "Car-free school streets'),
     "not valid TOML: "),
], ids=["missing-slug", "unknown-timezone", "bad-email", "text-baseline", "duplicate-email",
        "bad-due-date", "invalid-toml"])
def test_a_file_with_a_problem_is_refused_and_leaves_the_stored_coalition_untouched(
        settings, session, tmp_path, edit, expected):
    load(settings)
    before = snapshot(session)
    result = cos(settings, "load", str(variant(tmp_path, RENAME, edit)))
    assert result.exit_code == 1
    listed = problems_in(result.output)
    assert len(listed) == 1, result.output
    assert re.match(r"line \d+(, column \d+)?: ", listed[0]), listed[0]
    assert listed[0].split(": ", 1)[1].startswith(expected), result.output
    assert snapshot(session) == before


def test_invalid_toml_is_reported_with_its_line_and_column(settings, tmp_path):
    broken = variant(tmp_path, ('name = "Car-free school streets"',
                                'name = "Car-free school streets'))
    result = cos(settings, "load", str(broken))
    assert result.exit_code == 1
    line = next(n for n, text in enumerate(broken.read_text().splitlines(), start=1)
                if text.startswith('name = "Car-free school streets'))
    assert f"line {line}, column" in result.output


def test_a_people_table_written_with_single_brackets_is_reported_not_a_crash(
        settings, tmp_path):
    path = tmp_path / "single.toml"
    path.write_text('[coalition]\nslug = "bay"\nname = "Bay"\nwin = "Clean air."\n\n'
                    '[people]\nemail = "ana@bay.example"\nname = "Ana"\n'
                    'organisation = "Bay Trust"\n', encoding="utf-8")
    result = cos(settings, "load", str(path))
    assert result.exit_code == 1
    assert "[[people]]" in result.output


def test_a_file_that_is_not_utf8_is_reported_not_a_crash(settings, session, tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(HARBOUR.encode("latin-1"))  # its µ and ³ are not UTF-8 then
    result = cos(settings, "load", str(path))
    assert result.exit_code == 1
    assert "UTF-8" in result.output
    assert session.exec(select(Coalition)).all() == []


def test_a_file_saved_with_a_byte_order_mark_loads(settings, tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + HARBOUR.encode("utf-8"))
    result = cos(settings, "load", str(path))
    assert result.exit_code == 0, result.output


def test_text_too_long_for_its_column_is_reported_as_a_problem(settings, session, tmp_path):
    long_unit = variant(tmp_path, ('unit = "µg/m³"',
                                   'unit = "micrograms of nitrogen dioxide per cubic metre"'))
    result = cos(settings, "load", str(long_unit))
    assert result.exit_code == 1
    assert problems_in(result.output)[0].startswith("line 49: [[metrics]] #1:")
    assert session.exec(select(Coalition)).all() == []


def test_the_riverside_example_loads_cleanly_as_a_realistic_coalition(settings, session):
    result = cos(settings, "load", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == ""  # no warnings
    coalition = session.exec(select(Coalition)).one()
    assert coalition.slug == "riverside-food"
    partners = session.exec(select(Person).where(Person.role == "partner")).all()
    partner_orgs = {p.organisation_id for p in partners}
    assert 8 <= len(partner_orgs) <= 12
    metrics = session.exec(select(Metric)).all()
    commitments = session.exec(select(Commitment)).all()
    assert 3 <= len(metrics) <= 5
    assert 10 <= len(commitments) <= 14
    # Someone at each owner organisation gets the check-in that asks about it.
    assert {m.owner_organisation_id for m in metrics} <= partner_orgs
    assert {c.organisation_id for c in commitments} <= partner_orgs
    assert all(c.due is not None for c in commitments)
    leads = session.exec(select(Person).where(Person.role == "lead")).all()
    assert leads, "the example needs a lead to receive the digest"
    again = cos(settings, "load", str(EXAMPLE))
    assert again.stdout.strip() == "riverside-food: nothing changed"


# --- where people come from: the file owns whom it lists ------------------------------------


def test_a_load_never_deactivates_people_a_csv_imported_even_with_prune(settings, session):
    load(settings)
    imported = cos(settings, "people", "import", "harbour-air", str(DATA / "cli_people.csv"))
    assert imported.exit_code == 0, imported.output
    for flags in ([], ["--prune"]):
        again = cos(settings, "load", *flags, str(DATA / "harbour.toml"))
        assert again.exit_code == 0, again.output
        assert again.stdout == "harbour-air: nothing changed\n"
    mo = people(session)["mo@parents.example"]
    assert mo.active is True
    parents = session.exec(select(Organisation).where(
        Organisation.name == "Harbour Parents")).one()
    assert parents.active is True  # still has an active person, so it stays


def test_each_person_records_whether_a_file_or_a_csv_brought_them(settings, session):
    load(settings)
    assert cos(settings, "people", "import", "harbour-air",
               str(DATA / "cli_people.csv")).exit_code == 0
    sources = {e: p.source for e, p in people(session).items()}
    assert sources["mo@parents.example"] == "csv"
    assert sources["lee@harbourtrust.org"] == "file"


def test_a_person_left_out_stays_active_with_a_warning_naming_what_prune_would_do(
        settings, session, tmp_path):
    load(settings)
    before = snapshot(session)
    result = cos(settings, "load", str(variant(tmp_path, *WITHOUT_DEE)))
    assert result.exit_code == 0, result.output
    assert result.stdout == "harbour-air: nothing changed\n"
    assert warnings_of(result) == (
        "warning: the file no longer lists 1 commitment (asthma-data), 1 organisation "
        "(Harbour Clinic) and 1 person (Dee Brown <dee@clinic.example>); they stay active. "
        "Load with --prune to deactivate them.\n")
    assert snapshot(session) == before


def test_a_dry_run_names_what_would_change_and_changes_nothing(settings, session, tmp_path):
    load(settings)
    assert cos(settings, "people", "import", "harbour-air",
               str(DATA / "cli_people.csv")).exit_code == 0
    before = snapshot(session)
    edited = variant(tmp_path, *WITHOUT_DEE, ('name = "Raj Patel"', 'name = "Raj Patel-Singh"'),
                     ("[[metrics]]", DEE.replace("dee@clinic", "eve@clinic").replace(
                         "Dee Brown", "Eve Stone").replace("Harbour Clinic", "Harbour Port")
                      + "[[metrics]]"))
    result = cos(settings, "load", "--dry-run", "--prune", str(edited))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "harbour-air (dry run, nothing was changed): would create: 1 organisation, 1 person; "
        "would update: 1 person; would deactivate: 1 commitment, 1 organisation, 1 person\n"
        "  would create organisations: Harbour Port\n"
        "  would create people: Eve Stone <eve@clinic.example>\n"
        "  would update people: Raj Patel-Singh <raj@schools.example>\n"
        "  would deactivate commitments: asthma-data\n"
        "  would deactivate organisations: Harbour Clinic\n"
        "  would deactivate people: Dee Brown <dee@clinic.example>\n")
    assert snapshot(session) == before


def test_a_dry_run_of_a_new_coalition_creates_nothing(settings, session):
    result = cos(settings, "load", "--dry-run", str(DATA / "harbour.toml"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("harbour-air (dry run, nothing was changed): would create: "
                                    "1 coalition, 3 commitments, 2 metrics, 5 organisations, "
                                    "6 people\n")
    assert "Lee Park <lee@harbourtrust.org>" in result.stdout
    assert session.exec(select(Coalition)).all() == []


def test_a_person_brought_back_by_a_csv_is_then_the_csvs(settings, session, tmp_path):
    load(settings)
    assert cos(settings, "load", "--prune",
               str(variant(tmp_path, *WITHOUT_DEE))).exit_code == 0
    csv_file = write_csv(tmp_path, "email,name,organisation\n"
                                   "dee@clinic.example,Dee Brown,Harbour Clinic\n")
    back = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert back.stdout == "harbour-air: updated: 1 organisation, 1 person\n"
    assert people(session)["dee@clinic.example"].source == "csv"
    again = cos(settings, "load", "--prune", str(variant(tmp_path, *WITHOUT_DEE)))
    assert again.stdout == "harbour-air: nothing changed\n"
    assert people(session)["dee@clinic.example"].active is True


def test_a_database_from_before_sources_were_recorded_upgrades_with_people_as_csv(tmp_path):
    from alembic import command
    from sqlalchemy import text

    from pipeline import db
    from pipeline.schema import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0004")
    with db.get_engine(url).begin() as conn:
        conn.execute(text("INSERT INTO coalition (id, slug, name, win, timezone, stage, "
                          "created_at) VALUES (1, 'c', 'C', 'W', 'UTC', 'launch', "
                          "'2026-11-01 09:00:00')"))
        conn.execute(text("INSERT INTO organisation (id, coalition_id, name, active) "
                          "VALUES (1, 1, 'Port', 1)"))
        conn.execute(text("INSERT INTO person (id, coalition_id, organisation_id, email, name, "
                          "role, active) VALUES (1, 1, 1, 'mo@p.example', 'Mo', 'partner', 1)"))
    db.dispose_all()
    upgrade(url)
    with db.get_engine(url).connect() as conn:
        # Before 0005 a load deactivated everyone its file left out, so anyone still active
        # and not in the file came from a CSV; the next load claims those its file lists.
        assert conn.execute(text("SELECT email, source FROM person")).all() == [
            ("mo@p.example", "csv")]
    db.dispose_all()


# --- typos are errors, suspicious values are warnings ---------------------------------------


def line_of(path: Path, text: str) -> int:
    """Return the number of the first line of a file that starts with this text."""
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(),
                                           start=1) if line.startswith(text))


def test_an_unknown_key_is_refused_with_its_line_and_the_key_meant(settings, session, tmp_path):
    path = variant(tmp_path, ("target = 25", "targe = 25"))
    result = cos(settings, "load", str(path))
    assert result.exit_code == 1
    assert problems_in(result.output) == [
        f"line {line_of(path, 'targe')}: [[metrics]] #1: unknown key 'targe' "
        "(did you mean 'target'?)"]
    assert "1 problem, nothing was changed" in result.output
    assert session.exec(select(Coalition)).all() == []


def test_a_misspelt_table_is_refused_not_loaded_and_pruned(settings, session, tmp_path):
    load(settings)
    path = variant(tmp_path, (PETITION, PETITION.replace("[[commitments]]", "[[commitment]]")))
    result = cos(settings, "load", "--prune", str(path))
    assert result.exit_code == 1
    assert problems_in(result.output) == [
        f"line {line_of(path, '[[commitment]]')}: unknown table [[commitment]] "
        "(did you mean [[commitments]]?)"]
    assert session.exec(select(Commitment.active).where(
        Commitment.source_key == "file:petition")).one() is True


def test_an_owner_nobody_belongs_to_is_refused(settings, session, tmp_path):
    path = variant(tmp_path, ('owner = "Harbour Cyclists"\ntext',
                              'owner = "Harbour Cycling"\ntext'))
    result = cos(settings, "load", str(path))
    assert result.exit_code == 1
    listed = problems_in(result.output)
    assert len(listed) == 1
    owner_line = line_of(path, 'owner = "Harbour Cycling')
    assert listed[0].startswith(f"line {owner_line}: "
                                "[[commitments]] #2: owner 'Harbour Cycling' has no partner")
    assert "did you mean 'Harbour Cyclists'?" in listed[0]


def test_an_owner_whose_partner_came_from_a_csv_is_accepted(settings, session, tmp_path):
    load(settings)
    assert cos(settings, "people", "import", "harbour-air",
               str(DATA / "cli_people.csv")).exit_code == 0
    path = variant(tmp_path, ('owner = "Harbour Clinic"', 'owner = "Harbour Parents"'))
    result = cos(settings, "load", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == "harbour-air: updated: 1 commitment\n"


def test_pruning_the_only_partner_of_an_owner_is_refused(settings, session, tmp_path):
    load(settings)
    path = variant(tmp_path, (DEE, ""))  # Dee goes; her commitment stays in the file
    result = cos(settings, "load", "--prune", str(path))
    assert result.exit_code == 1
    listed = problems_in(result.output)
    assert len(listed) == 1
    owner_line = line_of(path, 'owner = "Harbour Clinic')
    assert listed[0].startswith(f"line {owner_line}: [[commitments]] #3: owner "
                                "'Harbour Clinic' has no partner")
    assert people(session)["dee@clinic.example"].active is True
    assert cos(settings, "load", str(path)).exit_code == 0  # without --prune Dee stays


def test_suspicious_values_are_warnings_printed_before_the_summary(settings, tmp_path):
    path = variant(tmp_path, ("target = 25", "target = 60"), ('role = "lead"', 'role = "partner"'))
    result = cos(settings, "load", str(path))
    assert result.exit_code == 0, result.output
    warnings = warnings_of(result).splitlines()
    assert warnings == [
        f"warning: line {line_of(path, '[coalition]')}: [coalition]: no person has "
        "role = \"lead\", so nobody receives the digest",
        f"warning: line {line_of(path, 'target = 60')}: [[metrics]] #1: direction is 'down' "
        "but the target 60 is above the baseline 48; did you mean direction = \"up\"?",
    ]
    assert result.output.index("warning:") < result.output.index("harbour-air: created")


def test_two_spellings_of_one_organisation_in_a_file_are_refused(settings, tmp_path):
    path = variant(tmp_path, ('organisation = "Harbour Clinic"',
                              'organisation = "harbour clinic."'))
    result = cos(settings, "load", str(path))
    assert result.exit_code == 1
    owner_line = line_of(path, 'owner = "Harbour Clinic')
    person_line = line_of(path, 'organisation = "harbour clinic.')
    assert problems_in(result.output) == [
        f"line {owner_line}: [[commitments]] #3: organisation 'Harbour Clinic' is spelt "
        f"'harbour clinic.' in line {person_line}: [[people]] #5; use one spelling, "
        "e.g. 'Harbour Clinic'"]


def test_an_impossible_date_is_reported_with_its_line(settings, tmp_path):
    path = variant(tmp_path, ("due = 2026-12-01", "due = 2026-02-30"))
    result = cos(settings, "load", str(path))
    assert result.exit_code == 1
    listed = problems_in(result.output)
    assert listed == [f"line {line_of(path, 'due = 2026-02-30')}, column 7: not valid TOML: "
                      "Invalid date or datetime (dates are written 2026-12-31, and must exist)"]


# --- cos people import ----------------------------------------------------------------------


def test_importing_a_csv_adds_new_people_and_updates_existing_ones(settings, session, tmp_path):
    load(settings)
    csv_file = write_csv(tmp_path, (
        "email,name,organisation,role\n"
        "RAJ@schools.example,Raj Patel-Singh,Harbour Schools,lead\n"
        "mo@parents.example,Mo Khan,Harbour Parents,\n"
        '"liz@clinic.example","Ward, Liz",Harbour Clinic,Observer\n'
    ))
    result = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "harbour-air: created: 1 organisation, 2 people; updated: 1 person")
    everyone = people(session)
    assert len(everyone) == 8
    raj = everyone["raj@schools.example"]
    assert (raj.name, raj.role) == ("Raj Patel-Singh", "lead")
    assert everyone["mo@parents.example"].role == "partner"  # an empty role means partner
    assert org_names(session, {everyone["mo@parents.example"].organisation_id}) == {
        "Harbour Parents"}
    liz = everyone["liz@clinic.example"]
    assert (liz.name, liz.role) == ("Ward, Liz", "observer")


def test_a_csv_without_a_role_column_imports_everyone_as_partners(settings, session, tmp_path):
    load(settings)
    csv_file = write_csv(tmp_path, "email,name,organisation\nmo@parents.example,Mo Khan,"
                                   "Harbour Parents\n")
    result = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert result.exit_code == 0, result.output
    assert people(session)["mo@parents.example"].role == "partner"


def test_bad_csv_rows_are_reported_by_line_number_and_nothing_is_imported(
        settings, session, tmp_path):
    load(settings)
    before = snapshot(session)
    csv_file = write_csv(tmp_path, (
        "email,name,organisation,role\n"                            # line 1
        "sam@parents.example,Sam Lee,Harbour Parents,partner\n"     # line 2: good
        "raj@schools.example,Raj Renamed,Harbour Schools,lead\n"    # line 3: good
        "\n"                                                        # line 4: blank
        "bad-address,Bad Row,Harbour Parents,partner\n"             # line 5
        "tia@parents.example,Tia Moss,Harbour Parents,chair\n"      # line 6
        ",No Email,Harbour Parents,partner\n"                       # line 7
        "sam@parents.example,Sam Again,,partner\n"                  # line 8
    ))
    result = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert result.exit_code == 1
    assert warnings_of(result).count("Error:") == 1
    assert problems_in(warnings_of(result)) == [
        "line 5: 'bad-address' is not an email address",
        "line 6: role must be one of partner, lead, observer, got 'chair'",
        "line 7: email is missing",
        "line 8: sam@parents.example already on line 2",
        "line 8: 'organisation' is missing",
    ]
    assert snapshot(session) == before  # Sam (line 2) and Raj's new name (line 3) not stored


def test_a_csv_without_the_needed_columns_is_reported_on_line_1(settings, session, tmp_path):
    load(settings)
    csv_file = write_csv(tmp_path, "e-mail,full name,org\nmo@parents.example,Mo,Parents\n")
    result = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert result.exit_code == 1
    assert problems_in(result.output) == [
        "line 1: the header needs the columns email,name,organisation,role; "
        "missing: email (did you mean 'e-mail'?), name (did you mean 'full name'?), "
        "organisation"]
    assert "mo@parents.example" not in people(session)


def test_a_csv_saved_with_a_byte_order_mark_imports(settings, session, tmp_path):
    load(settings)
    csv_file = write_csv(tmp_path, "\ufeffemail,name,organisation,role\r\n"
                                   "lucia@parents.example,Lucía Fernández,Harbour Parents,\r\n",
                         encoding="utf-8")
    result = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert result.exit_code == 0, result.output
    assert people(session)["lucia@parents.example"].name == "Lucía Fernández"


def test_a_csv_that_is_not_utf8_is_refused_with_a_clear_message(settings, session, tmp_path):
    load(settings)
    csv_file = write_csv(tmp_path, "email,name,organisation,role\n"
                                   "lucia@parents.example,Lucía Fernández,Harbour Parents,\n",
                         encoding="latin-1")
    result = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert result.exit_code == 1
    assert "not UTF-8" in result.output
    assert "lucia@parents.example" not in people(session)


def test_importing_into_an_unknown_coalition_says_to_load_it_first(settings, session):
    result = cos(settings, "people", "import", "nowhere", str(DATA / "cli_people.csv"))
    assert result.exit_code == 1
    assert "no coalition with slug 'nowhere'" in result.output
    assert "cos load" in result.output
    assert session.exec(select(Person)).all() == []


def test_a_campaign_started_after_an_import_invites_the_imported_partners(
        settings, session):
    load(settings)
    assert cos(settings, "people", "import", "harbour-air",
               str(DATA / "cli_people.csv")).exit_code == 0
    started = cos(settings, "campaign", "start", "harbour-air")
    assert started.exit_code == 0, started.output
    round_ = session.exec(select(Round)).one()
    invited = session.exec(select(Person.email).join(Invitation).where(
        Invitation.round_id == round_.id)).all()
    assert "mo@parents.example" in invited and len(invited) == 5


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_csv_saved_with_semicolons_or_tabs_imports_too(settings, session, tmp_path, delimiter):
    load(settings)
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(delimiter.join(["email", "name", "organisation", "role"]) + "\n"
                        + delimiter.join(["jo@port.example", "Jo, Port Lead", "Harbour Port",
                                          "lead"]) + "\n", encoding="utf-8")
    result = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert result.exit_code == 0, result.output
    person = session.exec(select(Person).where(Person.email == "jo@port.example")).one()
    assert (person.name, person.role) == ("Jo, Port Lead", "lead")



def test_two_spellings_of_one_organisation_in_a_csv_are_refused_naming_both_lines(
        settings, session, tmp_path):
    load(settings)
    csv_file = write_csv(tmp_path, (
        "email,name,organisation,role\n"
        "jo@port.example,Jo,Port Works Ltd.,partner\n"
        "al@port.example,Al,port works ltd,partner\n"
        "sy@port.example,Sy,Port Works Ltd.,partner\n"
        "raj2@schools.example,Raj Two,HARBOUR SCHOOLS,partner\n"
    ))
    result = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert result.exit_code == 1
    assert problems_in(result.output) == [
        "line 3: organisation 'port works ltd' is spelt 'Port Works Ltd.' in line 2; "
        "use one spelling, e.g. 'Port Works Ltd.'",
        "line 5: organisation 'HARBOUR SCHOOLS' is stored as 'Harbour Schools'; "
        "use that spelling",
    ]
    assert "2 problems, nothing was changed" in result.output
    assert "jo@port.example" not in people(session)


def test_a_csv_column_that_is_almost_a_needed_one_gets_a_suggestion(settings, tmp_path):
    load(settings)
    csv_file = write_csv(tmp_path, "emial,name,organisation\nmo@parents.example,Mo,Parents\n")
    result = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert result.exit_code == 1
    assert problems_in(result.output) == [
        "line 1: the header needs the columns email,name,organisation,role; "
        "missing: email (did you mean 'emial'?)"]



def test_a_csv_column_that_is_not_read_is_a_warning(settings, session, tmp_path):
    load(settings)
    csv_file = write_csv(tmp_path, "email,name,organisation,phone\n"
                                   "mo@parents.example,Mo Khan,Harbour Parents,555\n")
    result = cos(settings, "people", "import", "harbour-air", str(csv_file))
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == ("warning: line 1: 1 column not read: phone "
                             "(the columns are email,name,organisation,role,language)\n")
    assert result.stdout == "harbour-air: created: 1 organisation, 1 person\n"
