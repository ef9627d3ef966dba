"""Guessing links is slowed down: a limit per client address, shared by all web processes."""

from __future__ import annotations

import logging
import secrets

import pytest

from cos.local_redis import free_port
from forms import create_app
from forms.ratelimit import Rate
from pipeline.config import ConfigError
from tests.helpers import link_for, load, open_round


def guess() -> str:
    return f"/c/{secrets.token_urlsafe(32)}"


@pytest.fixture
def limited(settings, monkeypatch):
    """Settings with a limit of 5 requests a minute on token pages."""
    monkeypatch.setenv("COS_RATE_LIMIT", "5/minute")
    return settings


def test_the_request_over_the_limit_gets_a_friendly_429_with_retry_after(limited):
    client = create_app(limited).test_client()
    for _ in range(5):
        assert client.get(guess()).status_code == 404
    over = client.get(guess())
    assert over.status_code == 429
    assert 1 <= int(over.headers["Retry-After"]) <= 61
    assert "Too many requests" in over.text and "try again" in over.text
    assert over.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert client.post(guess(), data={}).status_code == 429  # the POST page too


def test_a_real_link_is_limited_too_and_another_address_is_not(limited, session):
    load(limited)
    round_id, _ = open_round(limited)
    link = link_for(limited, session, "ana@harbourtrust.org", round_id)
    client = create_app(limited).test_client()
    for _ in range(5):
        assert client.get(guess()).status_code == 404
    assert client.get(link).status_code == 429
    assert client.get(link + "/thanks").status_code == 429
    other = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get(link, environ_base=other).status_code == 200


def test_two_app_instances_share_one_count_through_redis(limited):
    first, second = create_app(limited).test_client(), create_app(limited).test_client()
    for client in (first, second, first, second, first):
        assert client.get(guess()).status_code == 404
    assert second.get(guess()).status_code == 429
    assert first.get(guess()).status_code == 429


def test_pages_outside_the_limit_are_not_counted(limited):
    client = create_app(limited).test_client()
    for _ in range(10):
        assert client.get("/healthz").status_code == 200
    assert client.get(guess()).status_code == 404


def test_with_redis_down_the_pages_are_served_and_one_warning_is_logged(
        limited, session, caplog):
    load(limited)
    round_id, _ = open_round(limited)
    link = link_for(limited, session, "ana@harbourtrust.org", round_id)
    down = limited.with_(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client = create_app(down).test_client()
    with caplog.at_level(logging.WARNING, logger="forms.ratelimit"):
        for _ in range(8):
            assert client.get(link).status_code == 200
    warnings = [r for r in caplog.records if r.name == "forms.ratelimit"]
    assert len(warnings) == 1 and "Redis" in warnings[0].getMessage()


def test_forwarded_for_is_believed_only_from_a_listed_proxy(limited, monkeypatch):
    monkeypatch.setenv("COS_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    client = create_app(limited).test_client()
    via_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    for n in range(5):  # five guessers behind the proxy, one guess each
        headers = {"X-Forwarded-For": f"198.51.100.{n}, 10.1.2.3"}
        assert client.get(guess(), headers=headers, environ_base=via_proxy).status_code == 404
    for _ in range(5):
        headers = {"X-Forwarded-For": "198.51.100.9"}
        assert client.get(guess(), headers=headers, environ_base=via_proxy).status_code == 404
    headers = {"X-Forwarded-For": "198.51.100.9"}
    assert client.get(guess(), headers=headers, environ_base=via_proxy).status_code == 429
    # A visitor who is not a listed proxy cannot pick its own address with the header.
    stranger = {"REMOTE_ADDR": "203.0.113.5"}
    for n in range(5):
        headers = {"X-Forwarded-For": f"198.51.100.{100 + n}"}
        assert client.get(guess(), headers=headers, environ_base=stranger).status_code == 404
    headers = {"X-Forwarded-For": "198.51.100.200"}
    assert client.get(guess(), headers=headers, environ_base=stranger).status_code == 429


@pytest.mark.parametrize(("text", "rate"), [
    ("60/minute", Rate(60, 60)), ("10 per second", Rate(10, 1)), ("1000/hour", Rate(1000, 3600)),
    ("5/10minutes", Rate(5, 600)), ("off", Rate(0, 1)),
])
def test_the_limit_is_read_from_the_usual_forms(text, rate):
    assert Rate.parse(text) == rate


def test_a_mistyped_limit_stops_the_app_with_a_clear_message(settings, monkeypatch):
    monkeypatch.setenv("COS_RATE_LIMIT", "sixty a minute")
    with pytest.raises(ConfigError, match="COS_RATE_LIMIT='sixty a minute' is not a rate"):
        create_app(settings)
    monkeypatch.setenv("COS_RATE_LIMIT", "60/minute")
    monkeypatch.setenv("COS_TRUSTED_PROXIES", "my-proxy")
    with pytest.raises(ConfigError, match="COS_TRUSTED_PROXIES: 'my-proxy'"):
        create_app(settings)


def test_the_api_has_its_own_limit_and_answers_429_in_json(settings, monkeypatch):
    monkeypatch.setenv("COS_API_RATE_LIMIT", "2/minute")
    client = create_app(settings).test_client()
    wrong = {"Authorization": "Bearer not-a-token"}
    for _ in range(2):
        assert client.get("/api/v1/coalitions/harbour-air", headers=wrong).status_code == 401
    over = client.get("/api/v1/coalitions/harbour-air/rounds", headers=wrong)
    assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
    assert over.json is not None and over.json["status"] == 429
    assert "too many requests" in over.json["error"]
    assert client.get(guess()).status_code == 404  # the link pages count apart
