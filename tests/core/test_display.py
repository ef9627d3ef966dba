"""How times and email states are written for people."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.core.display import delivery_state, format_local_short, iso_utc

TZ = "America/New_York"
AT = datetime(2026, 1, 15, 19, 5, tzinfo=UTC)


def test_a_sent_email_says_whether_it_reached_a_server_or_only_a_file():
    assert delivery_state("sent", via="SMTP smtp.example.org:587") == (
        "accepted by SMTP smtp.example.org:587")
    assert delivery_state("sent", via="file outbox /srv/out") == (
        "written to file outbox /srv/out (not delivered to an inbox)")
    assert delivery_state("sent") == "sent"  # rows from before the ledger recorded it


def test_a_failure_waiting_for_a_retry_says_when_in_local_time_and_which_attempt():
    assert delivery_state("failed", attempts=2, retry_at=AT, timezone=TZ) == (
        "retrying at 2026-01-15 14:05 EST (attempt 2)")
    assert delivery_state("failed") == "failed, waiting for a retry"


def test_final_states_say_they_are_final():
    assert delivery_state("rejected") == "rejected, not retried"
    assert delivery_state("expired") == "not sent (too late)"


def test_times_for_terminals_are_local_and_for_machines_utc_with_a_z():
    assert format_local_short(AT, TZ) == "2026-01-15 14:05 EST"
    assert format_local_short(AT, TZ, with_date=False) == "14:05 EST"
    assert iso_utc(AT) == "2026-01-15T19:05:00Z"
