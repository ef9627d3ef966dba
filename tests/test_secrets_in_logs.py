"""No token, link or password reaches a log (web app, worker, CLI; any level) or the database."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from cos.processes import settings_env
from pipeline.config import Settings
from pipeline.logcontext import RedactFilter, redact
from tests.conftest_smtp import SMTP_PASSWORD, SMTP_USER
from tests.helpers import answer, cos, links_in, load

TEST_SIDE = ("mail.log", "urllib3", "asyncio")
TOKEN_RE = re.compile(r"/c/([A-Za-z0-9_-]{16,})")


def run_worker(settings: Settings, env: dict[str, str]) -> str:
    """Run `cos worker --burst` at DEBUG; return everything it wrote."""
    done = subprocess.run([sys.executable, "-m", "cos.cli", "worker", "--burst"],
                          env={**settings_env(settings), **env, "COS_LOG_LEVEL": "DEBUG"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def issued_links(messages: list) -> set[str]:  # type: ignore[type-arg]
    """Every URL of ours in every part and header of the received emails."""
    found = set()
    for received in messages:
        raw = received.message.as_string()
        for part in received.message.walk():
            if part.get_content_maintype() == "text":
                raw += part.get_content()
        found |= set(re.findall(r"https?://127\.0\.0\.1:\d+/[^\s\"'<>]+", raw))
    return found


def test_a_whole_round_logs_no_token_link_or_password(
        settings, smtp_tls_servers, tls_certificate: Path, live_server, session, caplog,
        monkeypatch):
    server = smtp_tls_servers["starttls"]
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate))
    mail_url = (f"smtp+starttls://{quote(SMTP_USER, safe='')}:{quote(SMTP_PASSWORD, safe='')}"
                f"@127.0.0.1:{server.port}")
    here = settings.with_(mail_url=mail_url)
    caplog.set_level(logging.DEBUG)
    for name in ("werkzeug", "rq", "forms", "pipeline", "cos", "emails"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    outputs = []

    load(here)
    started = cos(here, "-v", "campaign", "start", "harbour-air", "--closes-in", "48h")
    assert started.exit_code == 0, started.output
    round_id = started.stdout.split()[0]
    outputs.append(run_worker(here, {"SSL_CERT_FILE": str(tls_certificate)}))
    invitations = server.wait_for(4)
    links = links_in(invitations)
    assert len(links) == 4

    # Partners answer, one twice, one with a stale form; a guesser tries a made-up link.
    assert answer(links["raj@schools.example"], {"win": "Sensors live", "pulse": "4"}
                  ).status_code == 200
    assert answer(links["raj@schools.example"], {"pulse": "5"}).status_code == 200
    assert answer(links["kim@cyclists.example"], {"pulse": "3"}).status_code == 200
    stale = requests.post(links["ana@harbourtrust.org"], data={"pulse": "2"}, timeout=10)
    assert stale.status_code == 400
    assert requests.get(links["dee@clinic.example"] + "/thanks", timeout=10).status_code == 200
    assert requests.get(f"{live_server.url}/c/{'x' * 43}", timeout=10).status_code == 404
    outputs.append(run_worker(here, {"SSL_CERT_FILE": str(tls_certificate)}))

    for args in (("reconcile",), ("campaign", "status", round_id),
                 ("campaign", "close", round_id)):
        assert cos(here, "-v", *args).exit_code == 0
    messages = server.wait_for(5)
    assert requests.get(links["raj@schools.example"], timeout=10).status_code == 410

    secrets = issued_links(messages)
    assert set(links.values()) <= secrets
    secrets |= {t for link in secrets for t in TOKEN_RE.findall(link)}
    secrets |= {SMTP_PASSWORD, quote(SMTP_PASSWORD, safe=""), here.secret_key}
    # The test's own SMTP server and HTTP client log what they receive and ask: not ours.
    ours = [r for r in caplog.records if not r.name.startswith(TEST_SIDE)]
    text = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logs = "\n".join([*(text.format(r) for r in ours), *outputs])
    assert "GET /c/" in logs and "POST /c/" in logs  # the web requests were logged ...
    assert "merged round" in logs  # ... and the worker's work
    leaked = sorted(s for s in secrets if s in logs)
    assert leaked == [], leaked

    # Nor does the database: it keeps each link's salt and the hash of its token.
    from sqlmodel import SQLModel

    stored = "\n".join(str(row) for table in SQLModel.metadata.sorted_tables
                       for row in session.execute(table.select()))
    assert "@schools.example" in stored  # the dump did read the data
    assert sorted(s for s in secrets if s in stored) == []


@pytest.mark.parametrize(("line", "clean"), [
    ('127.0.0.1 - - "GET /c/Ab3_-xYz0123456789abcdefghijklmnopqrstuvw HTTP/1.1" 200',
     '127.0.0.1 - - "GET /c/[token] HTTP/1.1" 200'),
    ("Exception on /c/Ab3_-xYz0123456789abcdefghij/thanks [GET]",
     "Exception on /c/[token]/thanks [GET]"),
    ("mail smtp+starttls://cos%40example.org:p%40ss%3Aword@smtp.example.org:587",
     "mail smtp+starttls://cos%40example.org:***@smtp.example.org:587"),
    ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("merged round 3: 4 answers", "merged round 3: 4 answers"),
])
def test_the_redaction_keeps_the_line_and_drops_the_secret(line, clean):
    assert redact(line) == clean


def test_a_traceback_is_redacted_too():
    record = logging.LogRecord("werkzeug", logging.ERROR, __file__, 1, "failed on %s",
                               ("/c/Ab3_-xYz0123456789abcdefghij",), None)
    try:
        raise ValueError("bad link /c/Ab3_-xYz0123456789abcdefghij")
    except ValueError:
        record.exc_info = sys.exc_info()
    RedactFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "Ab3_" not in text and text.count("/c/[token]") >= 2
