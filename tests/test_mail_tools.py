"""`cos mail test` through a real SMTP server, and `cos preview` of every email kind."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Settings
from tests.helpers import cos


def test_mail_test_sends_one_message_and_prints_the_servers_answer(
        settings: Settings, smtp_server) -> None:  # type: ignore[no-untyped-def]
    result = cos(settings, "mail", "test", "someone@example.org")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(": 250 2.0.0 Message accepted for delivery")
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["someone@example.org"]
    assert received.message.get_body(preferencelist=("html",)) is not None


def test_mail_test_to_a_refused_address_fails_with_the_servers_reason(
        settings: Settings, smtp_server) -> None:  # type: ignore[no-untyped-def]
    result = cos(settings, "mail", "test", "nobody.reject@example.org")
    assert result.exit_code == 1
    assert "550 5.1.1" in result.stderr


def test_preview_writes_every_kind_as_html_text_and_subject(
        db_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "preview"
    result = cos(db_settings, "preview", "all", "--out", str(out))
    assert result.exit_code == 0, result.output
    for kind in ("invitation", "reminder", "digest", "notice"):
        assert (out / f"{kind}.html").read_text().startswith("<!DOCTYPE html>") or \
            "<html" in (out / f"{kind}.html").read_text()
        assert (out / f"{kind}.txt").read_text().strip()
        assert "\n" not in (out / f"{kind}.subject.txt").read_text().strip()
    reminder = (out / "reminder.txt").read_text()
    assert "/not-this-week" in reminder and "/u/" in reminder
    assert cos(db_settings, "preview", "newsletter").exit_code == 2
