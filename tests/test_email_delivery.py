"""Each kind as delivered to a real SMTP server: its headers, its size, its DKIM signature."""

from __future__ import annotations

import base64
import email
import email.policy
import subprocess
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from sqlmodel import select

from emails import build_message, render_email
from emails import dkim as cos_dkim
from emails.transport import FileOutbox
from pipeline import ledger
from pipeline.config import ConfigError, Settings
from pipeline.core.vocab import EmailKind
from pipeline.db import session_scope
from pipeline.digest import digest_context, render_digest
from pipeline.models import Coalition, Person, Round
from pipeline.sending import send_in_process
from tests.helpers import cos, load, work
from tests.test_digest_queries import grow

GMAIL_CLIP = 102 * 1024
SELECTOR = "cos2026"


def make_key(tmp_path: Path) -> tuple[Path, bytes]:
    """Write a fresh 2048-bit RSA key; return its path and its DNS TXT record."""
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def dns_for(domain: str, record: bytes):  # type: ignore[no-untyped-def]
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name.decode().rstrip(".") == f"{SELECTOR}._domainkey.{domain}" else None
    return dnsfunc


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.fixture
def dkim_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    key, record = make_key(tmp_path)
    monkeypatch.setenv("COS_DKIM_SELECTOR", SELECTOR)
    monkeypatch.setenv("COS_DKIM_KEY_FILE", str(key))
    monkeypatch.setenv("COS_MAIL_FROM", "Harbour Clean Air <cos@example.org>")
    return record


def test_every_kind_arrives_with_its_headers_and_a_valid_dkim_signature(
        settings, session, smtp_server, dkim_on, monkeypatch):  # type: ignore[no-untyped-def]
    settings = replace(settings, mail_from="Harbour Clean Air <cos@example.org>")
    monkeypatch.setenv("COS_MAIL_FROM", settings.mail_from)
    load(settings)
    started = cos(settings, "campaign", "start", "harbour-air", "--closes-in", "48h")
    assert started.exit_code == 0, started.output
    round_id = int(started.stdout.split()[0])
    work(settings)
    invitations = smtp_server.wait_for(4)
    smtp_server.clear()
    people = [p.id or 0 for p in session.exec(select(Person).where(
        Person.email == "ana@harbourtrust.org"))]
    reminder_rows = ledger.ensure_rows(session, round_id, people, EmailKind.REMINDER,
                                       reminder=1)
    session.commit()  # the sender reads the rows in its own session
    send_in_process(settings, reminder_rows)
    reminders = smtp_server.wait_for(1)
    smtp_server.clear()
    assert cos(settings, "campaign", "close", str(round_id)).exit_code == 0
    work(settings)
    digests = smtp_server.wait_for(1)

    for kind, received in [("invitation", invitations[0]), ("reminder", reminders[0]),
                           ("digest", digests[0])]:
        message = received.message
        assert message["Message-ID"].endswith("@example.org>"), kind
        assert message["Date"], kind
        assert str(message["From"]) == "Harbour Clean Air <cos@example.org>", kind
        assert message["Auto-Submitted"] == "auto-generated", kind
        assert message["List-Id"] == (
            "Harbour Clean Air Alliance <harbour-air.lists.example.org>"), kind
        assert message["List-Unsubscribe"].startswith(f"<{settings.base_url}/u/"), kind
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", kind
        subject = message["Subject"]
        assert "Harbour Clean Air Alliance" in subject and len(subject) <= 70, (kind, subject)
        if kind != "digest":  # partners write back to the lead; the lead gets the digest
            assert message["Reply-To"] == "Lee Park <lee@harbourtrust.org>" or (
                "lee@harbourtrust.org" in message["Reply-To"]), kind
        assert message["DKIM-Signature"], kind
        signed = dkim.DKIM(received.raw).verify(dnsfunc=dns_for("example.org", dkim_on))
        assert signed, kind
        tags = dict(t.strip().split("=", 1) for t in str(message["DKIM-Signature"])
                    .replace("\r\n", "").split(";") if "=" in t)
        covered = {h.strip().lower() for h in tags["h"].split(":")}
        assert {"from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe",
                "list-unsubscribe-post"} <= covered, covered
        assert tags["d"].strip() == "example.org" and tags["s"].strip() == SELECTOR


def test_a_tampered_message_fails_verification(tmp_path, dkim_on):  # type: ignore[no-untyped-def]
    outbox = FileOutbox(tmp_path / "outbox")
    message = build_message(_notice(), sender="COS <cos@example.org>", to_name="Ana",
                            to_addr="ana@example.org", message_id="<1@example.org>",
                            headers={"List-Unsubscribe": "<https://cos.example.org/u/1>",
                                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    outbox.send(message)  # the file outbox signs too
    raw = outbox.list()[0].read_bytes()
    dnsfunc = dns_for("example.org", dkim_on)
    assert dkim.DKIM(raw).verify(dnsfunc=dnsfunc)
    forged = raw.replace(b"List-Unsubscribe: <https://cos.example.org/u/1>",
                         b"List-Unsubscribe: <https://evil.example/u/1>")
    assert forged != raw and not dkim.DKIM(forged).verify(dnsfunc=dnsfunc)


def _notice():  # type: ignore[no-untyped-def]
    from emails import render_email
    from emails.examples import example

    return render_email("notice", example("notice"))


def test_without_a_selector_nothing_is_signed(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("COS_DKIM_SELECTOR", raising=False)
    monkeypatch.delenv("COS_DKIM_KEY_FILE", raising=False)
    outbox = FileOutbox(tmp_path)
    outbox.send(build_message(_notice(), sender="cos@example.org", to_name="", to_addr=
                              "a@example.org", message_id="<2@example.org>"))
    assert "DKIM-Signature" not in parse(outbox.list()[0].read_bytes())
    assert cos_dkim.describe() == "DKIM off (COS_DKIM_SELECTOR not set)"


@pytest.mark.parametrize(("key_text", "match"), [
    (None, "cannot be read"),
    ("not a key", "not a usable PEM private key"),
])
def test_a_bad_key_file_stops_start_up_with_a_clear_message(
        tmp_path, monkeypatch, key_text, match):  # type: ignore[no-untyped-def]
    key = tmp_path / "dkim.pem"
    if key_text is not None:
        key.write_text(key_text)
    monkeypatch.setenv("COS_DKIM_SELECTOR", SELECTOR)
    monkeypatch.setenv("COS_DKIM_KEY_FILE", str(key))
    monkeypatch.setenv("COS_SECRET_KEY", "x" * 32)
    monkeypatch.setenv("COS_MAIL_FROM", "COS <cos@example.org>")
    with pytest.raises(ConfigError, match=match):
        Settings.from_env()


def test_the_start_up_line_says_dkim_is_on(dkim_on, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COS_SECRET_KEY", "x" * 32)
    assert f"DKIM on (d=example.org, s={SELECTOR})" in Settings.from_env().describe()


def test_a_500_organisation_digest_is_under_gmails_clipping_limit(db_settings):  # type: ignore[no-untyped-def]
    with session_scope(db_settings.database_url) as session:
        round_id = grow(session, "big", organisations=500, rounds=2)
    with session_scope(db_settings.database_url) as session:
        round_ = session.get(Round, round_id)
        assert round_ is not None
        coalition = session.get(Coalition, round_.coalition_id)
        assert coalition is not None
        rendered = render_email("digest", digest_context(session, db_settings, round_,
                                                         coalition))
        full = render_digest(session, db_settings, round_id)  # the web version: everything
    assert "Org 499" in full.text and "Org 499" not in rendered.text
    assert "...and 488 more in the full digest on the web:" in rendered.text
    message = build_message(rendered, sender=db_settings.mail_from, to_name="Lead",
                            to_addr="lead@big.org", message_id="<big@example.org>")
    size = len(message.as_bytes(policy=email.policy.SMTP))
    html = len(rendered.html.encode())
    print(f"500-organisation digest: message {size} bytes, HTML {html} bytes")
    assert html < GMAIL_CLIP and size < GMAIL_CLIP, (size, html)


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_admin_alert_opt_out_notice_and_sign_in_link_arrive_parsed_back_whole(
        settings, session, smtp_server, language):  # type: ignore[no-untyped-def]
    """The kinds outside the ledger, as delivered: both parts, the headers a bulk sender is
    held to, no unsubscribe header (they are not recurring), in the lead's language."""
    from pipeline.admins import issue_sign_in_link, send_message, sign_in_message
    from pipeline.lifecycle import opt_out, round_paused, tell_leads_of_opt_out

    load(settings)
    lee = session.exec(select(Person).where(Person.email == "lee@harbourtrust.org")).one()
    lee.language = language
    session.add(lee)
    session.commit()
    round_id, _ = _paused_round(settings)
    round_paused(settings, round_id)
    raj = session.exec(select(Person).where(Person.email == "raj@schools.example")).one()
    assert opt_out(settings, raj.id or 0) is not None
    tell_leads_of_opt_out(settings, raj.id or 0)
    token = issue_sign_in_link(session, "lee@harbourtrust.org")
    session.commit()
    assert token is not None
    send_message(settings, sign_in_message(settings, "lee@harbourtrust.org", token))
    arrived = smtp_server.wait_for(3)

    words = {"en": ["Round 1 paused itself", "Raj Patel opted out", "sign-in link"],
             "es": ["la Ronda 1 se ha pausado sola", "baja de Raj Patel",
                    "tu enlace para entrar"]}[language]
    for received, said in zip(arrived, words, strict=True):
        message = parse(received.raw)
        subject = message["Subject"]
        assert subject.startswith("Harbour Clean Air Alliance: ") and said in subject, subject
        assert received.rcpt_tos == ["lee@harbourtrust.org"]
        assert message["Message-ID"].endswith(f"@{settings.mail_domain}>"), subject
        assert message["Date"] and message["Auto-Submitted"] == "auto-generated", subject
        assert str(message["From"]) == "COS Cadence <cos@cadence.test>", subject
        assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
        if "sign" not in said and "enlace" not in said:
            assert message["List-Id"] == (
                "Harbour Clean Air Alliance <harbour-air.lists.cadence.test>"), subject
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        assert f'<html lang="{language}"' in html, subject
        assert all(len(line) <= 78 or len(line.split()) == 1 for line in text.splitlines())
        if language == "es":
            for english in ("You get this because", "paused itself", "opted out", "Sign in"):
                assert english not in text and english not in html, (subject, english)


def _paused_round(settings):  # type: ignore[no-untyped-def]
    from pipeline.models import Round
    from tests.helpers import open_round

    round_id, deliveries = open_round(settings)
    with session_scope(settings.database_url) as s:
        round_ = s.get(Round, round_id)
        round_.paused_at = round_.opened_at
        round_.pause_reason = "paused itself after 2 delivery failures in a row"
    return round_id, deliveries
