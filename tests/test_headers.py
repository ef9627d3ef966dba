"""Every page the app serves carries the security headers; no template needs inline script."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.routing import Rule

from forms import create_app
from forms.ratelimit import Rate
from pipeline.config import Settings
from tests.helpers import cos, link_for, load

TEMPLATES = Path(__file__).parent.parent / "forms" / "templates"
METRICS_TOKEN = secrets.token_urlsafe(16)


def assert_safe_headers(response, where: str, *, https: bool = False) -> None:  # type: ignore[no-untyped-def]
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
    assert directives.get("default-src") == "'none'", (where, csp)
    if re.fullmatch(r"GET /admin/rounds/\d+", where) and response.status_code == 200:
        # The admin status board runs our own static board.js (no inline script anywhere).
        assert directives.get("script-src") in (None, "'self'"), (where, csp)
    else:
        assert "script-src" not in directives, (where, csp)  # so no script runs, inline or not
    if re.fullmatch(r"GET /admin/.+\.html(\?.*)?", where) and response.status_code == 200:
        # An email's HTML, shown in a frame on our own admin pages only.
        assert directives.get("frame-ancestors") == "'self'", (where, csp)
        assert headers.get("X-Frame-Options") == "SAMEORIGIN", where
    else:
        assert directives.get("frame-ancestors") == "'none'", (where, csp)
        assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "no-referrer", where
    assert ("Strict-Transport-Security" in headers) == https, where
    for cookie in headers.getlist("Set-Cookie"):
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "samesite"} <= attributes, (where, cookie)
        assert ("secure" in attributes) == https, (where, cookie)


@pytest.fixture
def outbox_settings(settings: Settings, monkeypatch) -> Settings:  # type: ignore[no-untyped-def]
    """A round sent to the file outbox (so the outbox pages have an email to show)."""
    monkeypatch.setenv("COS_METRICS_TOKEN", METRICS_TOKEN)
    here = settings.with_(mail_url=(settings.instance / "outbox").as_uri())
    load(here)
    started = cos(here, "campaign", "start", "harbour-air", "--send-now")
    assert started.exit_code == 0, started.output
    return here


def example_urls(app: Flask, rule: Rule, token: str, email: str) -> list[str]:
    """Fill a rule's variables with a working value and a wrong one."""
    good = {"token": token, "name": email, "filename": "cos.css", "slug": "harbour-air",
            "number": 1, "round_id": 1}
    bad = {"token": secrets.token_urlsafe(32), "name": "nothing.eml", "filename": "nothing.js",
           "slug": "nowhere", "number": 99, "round_id": 99}
    with app.test_request_context():
        from flask import url_for

        return sorted({url_for(rule.endpoint, **{k: v[k] for k in rule.arguments})
                       for v in (good, bad)})


@pytest.mark.parametrize("https", [False, True])
def test_every_route_answers_with_the_security_headers(outbox_settings, session, https):
    base_url = "https://cos.example.org" if https else outbox_settings.base_url
    here = outbox_settings.with_(base_url=base_url)
    app = create_app(here, dev_outbox=True)
    app.config["COS_RATE_LIMITS"] = {"token": Rate(0, 1), "api": Rate(0, 1)}

    @app.get("/test-boom")
    def boom() -> str:
        raise RuntimeError("a bug")

    round_id = 1
    token = link_for(here, session, "ana@harbourtrust.org", round_id).removeprefix("/c/")
    email = sorted((here.instance / "outbox").rglob("*.eml"))[0].name
    client = app.test_client()
    seen = set()
    for rule in app.url_map.iter_rules():
        for url in example_urls(app, rule, token, email):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
                response = client.open(url, method=method, headers=headers)
                assert_safe_headers(response, f"{method} {url}", https=https)
                seen.add(response.status_code)
        seen.add(rule.endpoint)
    # Pages no rule names: not found, wrong method, too many requests.
    assert_safe_headers(client.get("/no/such/page"), "404", https=https)
    assert_safe_headers(client.delete("/healthz"), "405", https=https)
    app.config["COS_RATE_LIMITS"] = {"token": Rate(1, 60)}
    app.extensions.pop("cos_rate_limits", None)
    client.get(f"/c/{token}")
    limited = client.get(f"/c/{token}")
    assert limited.status_code == 429
    assert_safe_headers(limited, "429", https=https)
    assert {"checkin.show", "checkin.submit", "checkin.thanks", "outbox.index", "outbox.show",
            "outbox.html", "healthz", "readyz", "metrics", "static", "index"} <= seen
    assert {200, 303, 400, 404, 500} <= seen


def test_the_form_pages_set_a_session_cookie_secure_only_over_https(outbox_settings, session):
    for base_url, secure in (("https://cos.example.org", True), (outbox_settings.base_url, False)):
        app = create_app(outbox_settings.with_(base_url=base_url))
        link = link_for(outbox_settings, session, "ana@harbourtrust.org", 1)
        page = app.test_client().get(link)
        assert page.status_code == 200
        cookie = page.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")),
                         ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_needs_what_the_policy_blocks(template: Path):
    """No inline script, event handler, javascript: URL or style attribute (the CSP blocks them)."""
    source = template.read_text()
    # <script src="..."> of our own static files is allowed (the admin status board's).
    assert not re.search(r"<script(?![^>]*\ssrc=)|\son[a-z]+\s*=|javascript:|\sstyle\s*=|<style",
                         source, re.I), template
