"""The `cos` commands an admin runs: init, campaign start/status, reconcile, digest."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from cos.cli import main
from cos.processes import settings_env
from pipeline.checkin import open_checkin, record_answers
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.models import Coalition, Delivery, Person, Round
from pipeline.schema import is_current
from tests.helpers import DATA, cos, link_for, load, work

PARTNERS = ["ana@harbourtrust.org", "dee@clinic.example", "kim@cyclists.example",
            "raj@schools.example"]


def campaigns(session: Session) -> list[Round]:
    """Return every stored round_, fresh from the database."""
    session.expire_all()
    return list(session.exec(select(Round).order_by(Round.id)))  # type: ignore[arg-type]


def ledger(session: Session, round_id: int) -> list[tuple[str, str, int]]:
    """Return (email, status, attempts) of a round's invitation ledger rows."""
    session.expire_all()
    return sorted(session.exec(
        select(Person.email, Delivery.status, Delivery.attempts)
        .join(Person, Person.id == Delivery.person_id)  # type: ignore[arg-type]
        .where(Delivery.round_id == round_id, Delivery.kind == "invitation")).all())


def answer_directly(settings: Settings, session: Session, email: str, round_id: int) -> None:
    """Store a person's answers the way the check-in form does."""
    token = link_for(settings, session, email, round_id).rsplit("/", 1)[1]
    with session_scope(settings.database_url) as s:
        record_answers(s, open_checkin(s, token), {"pulse": "4"})


@pytest.fixture
def fresh(tmp_path: Path) -> Settings:
    """Settings for a SQLite file that does not exist yet (no `cos init` run)."""
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'fresh.db'}", redis_url=None,
        mail_url=(tmp_path / "outbox").as_uri(), mail_from="COS Cadence <cos@cadence.test>",
        base_url="http://127.0.0.1:5000", secret_key=secrets.token_hex(32),
        instance=tmp_path / "instance",
    )


# --- cos campaign start ---------------------------------------------------------------------


def test_campaign_start_prints_only_the_campaign_id_on_stdout(settings, session):
    load(settings)
    started = cos(settings, "campaign", "start", "harbour-air", "--closes-in", "90m")
    assert started.exit_code == 0, started.output
    (round_,) = campaigns(session)
    assert started.stdout == f"{round_.id}\n"
    assert "round 1 open, 4 invitations" in started.stderr
    assert (round_.closes_at - round_.opened_at).total_seconds() == 90 * 60
    assert [status for _, status, _ in ledger(session, round_.id or 0)] == ["queued"] * 4


def test_a_second_open_campaign_is_refused_unless_forced(settings, session):
    load(settings)
    first = int(cos(settings, "campaign", "start", "harbour-air").stdout)
    refused = cos(settings, "campaign", "start", "harbour-air")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert f"already has an open round (id {first}, round 1)" in refused.stderr
    assert f"cos campaign close {first}" in refused.stderr and "--force" in refused.stderr
    assert len(campaigns(session)) == 1

    forced = cos(settings, "campaign", "start", "harbour-air", "--force")
    assert forced.exit_code == 0, forced.output
    assert [(c.id, c.number) for c in campaigns(session)] == [(first, 1), (int(forced.stdout), 2)]


@pytest.mark.parametrize("duration", ["3 fortnights", "0h", "72", "-1h", "1.5d"])
def test_a_bad_duration_is_a_clear_error_and_opens_nothing(settings, session, duration):
    load(settings)
    result = cos(settings, "campaign", "start", "harbour-air", "--closes-in", duration)
    assert result.exit_code == 1
    assert f"{duration!r} is not a duration like 72h, 3d, 90m or 1w" in result.output
    assert campaigns(session) == []


@pytest.mark.parametrize("duration", ["99999999w", "91d", "2161h"])
def test_a_round_longer_than_90_days_is_refused_with_a_clear_error(settings, session, duration):
    load(settings)
    result = cos(settings, "campaign", "start", "harbour-air", "--closes-in", duration)
    assert result.exit_code == 1
    assert "longer than a round can stay open (at most 90 days)" in result.output
    assert campaigns(session) == []


def test_an_unknown_coalition_is_a_clear_error_listing_the_known_ones(settings, session):
    load(settings)
    result = cos(settings, "campaign", "start", "harbour-aer")
    assert result.exit_code == 1
    assert "no coalition 'harbour-aer' (known: harbour-air)" in result.output
    assert campaigns(session) == []


def test_with_redis_unreachable_the_round_opens_and_reconcile_later_sends_each_invitation_once(
        settings, session, smtp_server):
    load(settings)
    down = settings.with_(redis_url="redis://127.0.0.1:1/0")
    started = cos(down, "campaign", "start", "harbour-air")
    assert started.exit_code == 0, started.output
    round_id = int(started.stdout)
    assert "warning: the invitations are saved but not queued" in started.stderr
    assert "cos reconcile" in started.stderr
    assert ledger(session, round_id) == [(e, "queued", 0) for e in PARTNERS]

    reconciled = cos(settings, "reconcile")
    assert reconciled.exit_code == 0, reconciled.output
    assert "queued 4 emails" in reconciled.output
    work(settings)
    assert sorted(r.rcpt_tos[0] for r in smtp_server.wait_for(4)) == PARTNERS

    again = cos(settings, "reconcile")
    assert again.exit_code == 0 and "queued 0 emails" in again.output
    work(settings)
    assert len(smtp_server.messages) == 4
    assert ledger(session, round_id) == [(e, "sent", 1) for e in PARTNERS]


def test_reconcile_while_invitations_are_still_queued_sends_each_only_once(
        settings, session, smtp_server):
    load(settings)
    round_id = int(cos(settings, "campaign", "start", "harbour-air").stdout)
    # The 4 are queued already: the sweep queues none of them again, however often it runs.
    assert "queued 0 emails" in cos(settings, "reconcile").output
    assert "queued 0 emails" in cos(settings, "reconcile").output
    work(settings)
    assert sorted(r.rcpt_tos[0] for r in smtp_server.wait_for(4)) == PARTNERS
    assert len(smtp_server.messages) == 4
    assert ledger(session, round_id) == [(e, "sent", 1) for e in PARTNERS]


def test_reconcile_with_redis_unreachable_fails_saying_how_many_emails_wait(settings):
    load(settings)
    down = settings.with_(redis_url="redis://127.0.0.1:1/0")
    assert cos(down, "campaign", "start", "harbour-air").exit_code == 0
    result = cos(down, "reconcile")
    assert result.exit_code == 1
    assert "4 emails still waiting" in result.output


# --- cos campaign status --------------------------------------------------------------------


def test_campaign_status_lists_who_was_invited_delivered_failed_answered_and_silent(
        settings, session, smtp_server, tmp_path):
    load(settings)
    csv_file = tmp_path / "rex.csv"
    csv_file.write_text("email,name,organisation,role\n"
                        "rex.reject@clinic.example,Rex Reject,Harbour Clinic,partner\n",
                        encoding="utf-8")
    assert cos(settings, "people", "import", "harbour-air", str(csv_file)).exit_code == 0
    round_id = int(cos(settings, "campaign", "start", "harbour-air").stdout)
    work(settings)
    smtp_server.wait_for(4)
    answer_directly(settings, session, "raj@schools.example", round_id)

    status = cos(settings, "campaign", "status", str(round_id))
    assert status.exit_code == 0, status.output
    lines = status.stdout.splitlines()
    assert lines[0].startswith(f"harbour-air round 1 (campaign {round_id}), open until ")
    assert lines[1] == "invited 5, delivered 4, failed 1, answered 1, silent 4, bounced 1"
    rows = {name: line for line in lines[2:]
            for name in ("Rex Reject", "Raj Patel", "Dee Brown", "Ana Silva", "Kim O'Neil")
            if name in line}
    assert len(rows) == 5 == len(lines) - 2
    assert "bounced" in rows["Rex Reject"] and "silent" in rows["Rex Reject"]
    assert "refused recipient rex.reject@clinic.example (550" in rows["Rex Reject"]
    accepted = f"accepted by SMTP 127.0.0.1:{smtp_server.port}"
    assert accepted in rows["Raj Patel"] and "answered (1 revision)" in rows["Raj Patel"]
    assert accepted in rows["Dee Brown"] and "silent" in rows["Dee Brown"]
    assert "[" not in rows["Dee Brown"]  # no error shown for a delivered email


def test_campaign_status_of_an_unknown_campaign_says_so(settings):
    result = cos(settings, "campaign", "status", "404")
    assert result.exit_code == 1
    assert "no round 404" in result.output


# --- cos digest -----------------------------------------------------------------------------


def test_digest_out_writes_the_rounds_html_digest_to_the_file(settings, tmp_path):
    load(settings)
    round_id = int(cos(settings, "campaign", "start", "harbour-air").stdout)
    out = tmp_path / "digest.html"
    result = cos(settings, "digest", "harbour-air", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"digest for campaign {round_id} written to {out}" in result.output
    html = out.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "Harbour Clean Air Alliance" in html and "Round 1" in html


@pytest.mark.parametrize("flags", [["--send", "--out", "{out}"], []], ids=["both", "neither"])
def test_digest_needs_exactly_one_of_send_or_out(settings, tmp_path, smtp_server, flags):
    load(settings)
    assert cos(settings, "campaign", "start", "harbour-air").exit_code == 0
    out = tmp_path / "digest.html"
    result = cos(settings, "digest", "harbour-air",
                 *[f.format(out=out) for f in flags])
    assert result.exit_code == 2
    assert "give exactly one of --send or --out FILE.html" in result.output
    assert not out.exists()
    assert smtp_server.messages == []


def test_digest_of_a_coalition_without_rounds_says_to_start_one(settings, tmp_path):
    load(settings)
    out = tmp_path / "digest.html"
    result = cos(settings, "digest", "harbour-air", "--out", str(out))
    assert result.exit_code == 1
    assert "harbour-air has no such campaign; start one first" in result.output
    assert not out.exists()


# --- cos init -------------------------------------------------------------------------------


def test_init_creates_the_schema_on_a_fresh_sqlite_path_and_running_it_again_is_fine(fresh):
    first = cos(fresh, "init")
    assert first.exit_code == 0, first.output
    assert first.stdout == f"database ready: {fresh.database_url}\n"
    assert is_current(fresh.database_url)
    assert cos(fresh, "load", str(DATA / "harbour.toml")).exit_code == 0
    again = cos(fresh, "init")
    assert again.exit_code == 0, again.output
    with session_scope(fresh.database_url, read_only=True) as s:
        assert s.exec(select(Coalition.slug)).all() == ["harbour-air"]  # data kept


@pytest.mark.parametrize("args", [
    ["load", str(DATA / "harbour.toml")],
    ["people", "import", "harbour-air", str(DATA / "cli_people.csv")],
    ["campaign", "start", "harbour-air"],
    ["campaign", "status", "1"],
    ["campaign", "close", "1"],
    ["digest", "harbour-air", "--out", "{tmp}/digest.html"],
    ["reconcile"],
], ids=lambda a: " ".join(a[:2]) if a[0] in ("people", "campaign") else a[0])
def test_a_command_run_before_init_says_to_run_cos_init(fresh, tmp_path, args):
    result = cos(fresh, *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1
    assert "has no COS tables yet: run `cos init`" in result.output
    assert not (tmp_path / "digest.html").exists()


def test_init_on_a_sqlite_path_in_a_new_folder_creates_it_or_names_the_folder(fresh, tmp_path):
    folder = tmp_path / "new" / "folder"
    result = cos(fresh.with_(database_url=f"sqlite:///{folder / 'cos.db'}"), "init")
    assert result.exit_code == 0 or (
        "run `cos init`" not in result.output and str(folder) in result.output), result.output


# --- COS_SECRET_KEY -------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "secret"), [
    (["campaign", "start", "harbour-air"], None),
    (["campaign", "start", "harbour-air"], "too-short"),
    (["campaign", "close", "1"], None),
    (["digest", "harbour-air", "--send"], None),
    (["reconcile"], None),
], ids=["campaign-start-unset", "campaign-start-short", "campaign-close-unset",
        "digest-send-unset", "reconcile-unset"])
def test_commands_that_sign_links_refuse_to_run_without_cos_secret_key(
        settings, session, smtp_server, args, secret):
    load(settings)
    env: dict[str, str | None] = dict(settings_env(settings))
    env["COS_SECRET_KEY"] = secret  # None removes it from the command's environment
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: COS_SECRET_KEY is not set")
    assert campaigns(session) == []
    assert smtp_server.messages == []


@pytest.mark.parametrize("variable, value, message", [
    ("COS_MAIL_URL", "smtp//mail.example.org", "COS_MAIL_URL: mail URL smtp//mail.example.org"),
    ("COS_MAIL_URL", "smtp://user:pw@mail.example.org", "COS_MAIL_URL:"),
    ("COS_REDIS_URL", "127.0.0.1:6379", "is not a Redis URL like redis://127.0.0.1:6379/0"),
    ("COS_DATABASE_URL", "not a url", "is not a database URL like sqlite:///path/cos.db"),
    ("COS_MAIL_FROM", "nobody", "is not an address like"),
    ("COS_BASE_URL", "cos.example.org", "is not an http(s) address"),
])
def test_a_malformed_setting_is_named_with_an_example_before_anything_runs(
        settings, variable, value, message):
    from click.testing import CliRunner

    from cos.cli import main
    from cos.processes import settings_env

    env = {**settings_env(settings), variable: value}
    result = CliRunner().invoke(main, ["campaign", "status", "1"], env=env)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
