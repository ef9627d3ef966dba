"""An admin always knows where mail goes, and a command that could not send says so."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result
from sqlmodel import select

from cos.cli import base_url_problem, main
from cos.local_redis import free_port
from cos.processes import settings_env
from pipeline.config import Settings
from pipeline.models import Round
from tests.helpers import cos, load


def cos_without_mail_url(settings: Settings, *args: str, **env: str) -> Result:
    """Run `cos` the way a new shell would: COS_MAIL_URL not set at all."""
    environ = {**settings_env(settings), "COS_MAIL_URL": None, "COS_ENV": None, **env}
    return CliRunner().invoke(main, list(args), env=environ)  # type: ignore[arg-type]


@pytest.mark.parametrize("args", [["worker", "--burst"], ["campaign", "start", "harbour-air"],
                                  ["campaign", "close", "1"]])
def test_outside_development_a_missing_mail_url_is_an_error_not_a_quiet_outbox(
        settings, session, args):
    load(settings)
    result = cos_without_mail_url(settings, *args)
    assert result.exit_code == 1
    assert "COS_MAIL_URL is not set" in result.output
    assert "COS_ENV=development" in result.output
    assert session.exec(select(Round)).all() == []


def test_in_development_the_worker_says_it_uses_the_file_outbox(settings):
    load(settings)
    result = cos_without_mail_url(settings, "worker", "--burst", COS_ENV="development")
    assert result.exit_code == 0, result.output
    start = result.output.splitlines()[0]
    assert start.startswith(f"using database {settings.database_url}")
    assert f"Redis {settings.redis_url}" in start
    assert "mail file outbox " in start and "nothing leaves this machine" in start
    assert f"instance {settings.instance}" in start


def test_the_start_up_line_masks_passwords(settings):
    secret_db = "postgresql://cos:hunter2@127.0.0.1:1/cos"
    result = CliRunner().invoke(main, ["init"], env={
        **settings_env(settings), "COS_DATABASE_URL": secret_db,
        "COS_MAIL_URL": "smtp+starttls://cos:mailpass@127.0.0.1:2525"})
    assert "hunter2" not in result.output and "mailpass" not in result.output
    assert "cos:***@127.0.0.1:1/cos" in result.output


def test_status_tells_a_file_outbox_from_an_smtp_server(db_settings, session):
    load(db_settings)
    started = cos(db_settings, "campaign", "start", "harbour-air", "--send-now")
    assert started.exit_code == 0, started.output
    status = cos(db_settings, "campaign", "status", started.stdout.strip())
    assert "written to file outbox" in status.stdout
    assert "accepted by" not in status.stdout


def test_a_round_is_not_opened_when_the_smtp_server_cannot_be_reached(settings, session):
    load(settings)
    dead = settings.with_(mail_url=f"smtp://127.0.0.1:{free_port()}")
    for _ in range(2):  # retrying after the error opens nothing either
        result = cos(dead, "campaign", "start", "harbour-air", "--force")
        assert result.exit_code == 1
        assert "mail cannot go out, so nothing was opened" in result.output
        assert "could not connect to SMTP server" in result.output
    assert session.exec(select(Round)).all() == []


def test_send_now_exits_non_zero_when_an_email_was_not_sent(settings, session, smtp_server,
                                                             tmp_path):
    load(settings)
    people = tmp_path / "people.csv"
    people.write_text("email,name,organisation,role\n"
                      "rex.reject@clinic.example,Rex Reject,Harbour Clinic,partner\n")
    assert cos(settings, "people", "import", "harbour-air", str(people)).exit_code == 0
    result = cos(settings, "campaign", "start", "harbour-air", "--send-now")
    assert result.exit_code == 1
    assert "1 of 5 emails not sent" in result.output


@pytest.mark.parametrize(("base_url", "port", "warned"), [
    ("http://127.0.0.1:5000", 5057, True),
    ("http://localhost:5000", 5000, False),
    ("https://checkin.example.org", 5057, False),  # behind a proxy: not ours to judge
    ("http://127.0.0.1", 80, False),
])
def test_serve_warns_when_the_base_url_does_not_reach_its_port(base_url, port, warned):
    problem = base_url_problem(base_url, "127.0.0.1", port)
    assert bool(problem) is warned
    if warned:
        assert "every emailed link would be dead" in problem and "--port 5000" in problem


def test_the_wsgi_app_imports_from_any_directory_and_says_what_it_uses(db_settings, tmp_path):
    import subprocess
    import sys

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = "from cos.wsgi import app; print(app.test_client().get('/c/nope').status_code)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, capture_output=True,
                          text=True, env=settings_env(db_settings), timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "404"
    assert f"COS Cadence web app using database {db_settings.database_url}" in done.stderr


def test_invitations_reply_to_the_coalitions_lead_and_name_them(settings, smtp_server):
    load(settings)
    assert cos(settings, "campaign", "start", "harbour-air", "--send-now").exit_code == 0
    received = smtp_server.wait_for(4)
    for mail in received:
        assert mail.message["Reply-To"] == "Lee Park <lee@harbourtrust.org>"
        text = mail.message.get_body(preferencelist=("plain",)).get_content()
        assert "Reply to this email, or write to Lee Park" in " ".join(text.split())
        assert "lee@harbourtrust.org" in text
