"""`cos mail test` through a real SMTP server, and `cos preview` of every email kind."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_a_sender_over_the_rate_waits_for_the_next_minute(settings: Settings) -> None:
    from pipeline.ratelimit import wait_for_slot

    limited = settings.with_(mail_rate=2)
    now = [1_800_000_050.0]  # ten seconds before a minute ends
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    for _ in range(3):
        wait_for_slot(limited, clock=lambda: now[0], sleep=sleep)
    assert slept == [10.0]  # the third message waited for the next minute


def test_a_mail_rate_that_is_not_a_number_is_refused(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from pipeline.config import ConfigError

    monkeypatch.setenv("COS_MAIL_RATE", "fast")
    with pytest.raises(ConfigError, match="COS_MAIL_RATE='fast' should be a whole number"):
        Settings.from_env(require_secret=False)


@pytest.mark.parametrize("value", ["0", "17", "two", "-1"])
def test_a_number_of_mail_connections_out_of_range_is_refused(monkeypatch, value) -> None:  # type: ignore[no-untyped-def]
    from pipeline.config import ConfigError

    monkeypatch.setenv("COS_MAIL_CONNECTIONS", value)
    with pytest.raises(ConfigError, match=f"COS_MAIL_CONNECTIONS='{value}' should be a whole "
                                          "number from 1 to 16"):
        Settings.from_env(require_secret=False)


def test_mail_connections_default_to_two_and_the_start_up_line_says_so(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COS_MAIL_URL", "smtp://127.0.0.1:2525")
    monkeypatch.delenv("COS_MAIL_CONNECTIONS", raising=False)
    settings = Settings.from_env(require_secret=False)
    assert settings.mail_connections == 2
    assert "mail SMTP 127.0.0.1:2525 (2 connections per send job)" in settings.describe()
    monkeypatch.setenv("COS_MAIL_CONNECTIONS", " 4 ")
    assert Settings.from_env(require_secret=False).mail_connections == 4


def test_the_last_reminder_is_signed_by_the_convener() -> None:
    from emails import render_email
    from emails.examples import example

    context = example("reminder")
    assert "Thank you,\nRiverside Food Coalition" in render_email("reminder", context).text
    context["last"] = True
    rendered = render_email("reminder", context)
    assert rendered.subject.startswith("Riverside Food Coalition: last call, Round 4")
    assert "Thank you,\nJon Evans, for Riverside Food Coalition" in rendered.text
    assert "Jon Evans, for Riverside Food Coalition" in rendered.html
