"""The admin pages over HTTP (Flask's test client, the real database): who may open what,
signing in and out, lockout, leads' emailed links, CSRF, and uploads that go wrong."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from forms import create_app
from pipeline.admins import (
    SignInRefused,
    check_sign_in_link,
    create_admin,
    issue_sign_in_link,
    redeem_sign_in_link,
)
from pipeline.coalitions import load_coalition
from pipeline.core.throttle import lockout
from pipeline.db import session_scope
from pipeline.models import AdminUser, Coalition, Round, utcnow
from tests.helpers import load, open_round

ROOT = Path(__file__).resolve().parent.parent
ADMIN, PASSWORD = "admin@cadence.test", "correct horse battery staple"
LEE = "lee@harbourtrust.org"  # leads harbour-air
AMARA = "amara.okafor@riversidecf.org.uk"  # leads the example coalition only


def cos(settings: Any, *args: str, input: str) -> Any:
    """Run a `cos` command with the test settings and this standard input."""
    from click.testing import CliRunner

    from cos.cli import main
    from cos.processes import settings_env

    return CliRunner().invoke(main, list(args), env=settings_env(settings), input=input,
                              catch_exceptions=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def sign_in(client: Any, email: str = ADMIN, password: str = PASSWORD,
            address: str = "127.0.0.1") -> Any:
    page = client.get("/admin/sign-in").get_data(as_text=True)
    return client.post("/admin/sign-in", data={"email": email, "password": password,
                                               "csrf_token": csrf_of(page)},
                       environ_base={"REMOTE_ADDR": address})


def sign_in_lead(client: Any, settings: Any, email: str) -> None:
    with session_scope(settings.database_url) as db:
        token = issue_sign_in_link(db, email)
    assert token
    page = client.get(f"/admin/sign-in/link/{token}").get_data(as_text=True)
    done = client.post(f"/admin/sign-in/link/{token}", data={"csrf_token": csrf_of(page)})
    assert done.status_code == 303, done.get_data(as_text=True)


@pytest.fixture
def admin_app(db_settings):  # type: ignore[no-untyped-def]
    db_settings.instance.mkdir(parents=True, exist_ok=True)
    with session_scope(db_settings.database_url) as db:
        create_admin(db, ADMIN, PASSWORD)
    app = create_app(db_settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def two_coalitions(db_settings) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """harbour-air (led by Lee) and the example coalition (led by Amara), each with a round."""
    load(db_settings)
    with session_scope(db_settings.database_url) as db:
        load_coalition(db, ROOT / "examples" / "riverside-food.toml")
    rounds = {}
    for slug in ("harbour-air", "riverside-food"):
        rounds[slug] = open_round(db_settings, slug)[0]
    return rounds


def url_for_rule(rule: Any, slug: str, round_id: int) -> str:
    values = {"slug": slug, "round_id": round_id, "token": "x" * 43, "name": "invitation"}
    path = rule.rule
    for arg in rule.arguments:
        path = re.sub(r"<(?:[a-z]+:)?" + arg + ">", str(values[arg]), path)
    return path


def admin_rules(app: Any) -> list[Any]:
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.")]


PUBLIC = {"admin.sign_in", "admin.lead_sign_in", "admin.lead_link", "admin.lead_link_confirm",
          "admin.sign_out"}


def test_every_admin_url_sends_a_signed_out_visitor_to_sign_in(admin_app, two_coalitions):
    client = admin_app.test_client()
    checked = 0
    for rule in admin_rules(admin_app):
        if rule.endpoint in PUBLIC:
            continue
        url = url_for_rule(rule, "harbour-air", two_coalitions["harbour-air"])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            assert response.status_code == 302, (method, url, response.status_code)
            assert response.headers["Location"].startswith("/admin/sign-in"), url
            checked += 1
    assert checked >= 15


def test_every_admin_url_refuses_a_lead_of_another_coalition(admin_app, db_settings,
                                                             two_coalitions):
    client = admin_app.test_client()
    sign_in_lead(client, db_settings, AMARA)
    theirs = client.get("/admin/").get_data(as_text=True)
    assert "riverside-food" in theirs and "harbour-air" not in theirs
    checked = 0
    for rule in admin_rules(admin_app):
        if rule.endpoint in PUBLIC:
            continue
        url = url_for_rule(rule, "harbour-air", two_coalitions["harbour-air"])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            if rule.endpoint == "admin.index":
                assert response.status_code == 200
                continue
            assert response.status_code == 403, (method, url, response.status_code)
            checked += 1
    assert checked >= 14
    # Their own coalition opens, read-only: no start or upload, no POST.
    own = client.get("/admin/c/riverside-food")
    assert own.status_code == 200 and "Start a round" not in own.get_data(as_text=True)
    rid = two_coalitions["riverside-food"]
    assert client.get(f"/admin/rounds/{rid}").status_code == 200
    assert client.get(f"/admin/rounds/{rid}/status.json").json["coalition"] == "riverside-food"
    assert client.post(f"/admin/rounds/{rid}/close").status_code == 403
    with session_scope(db_settings.database_url, read_only=True) as db:
        assert db.get(Round, rid).closed_at is None  # type: ignore[union-attr]


def test_cos_admin_create_stores_an_argon2_hash_and_the_password_signs_in(db_settings):
    db_settings.instance.mkdir(parents=True, exist_ok=True)
    result = cos(db_settings, "admin", "create", "Boss@Example.org", "--password-stdin",
                 input="a long enough password\n")
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output + result.stderr
    with session_scope(db_settings.database_url, read_only=True) as db:
        admin = db.exec(select(AdminUser)).one()
    assert admin.email == "boss@example.org"
    assert admin.password_hash.startswith("$argon2id$")
    client = create_app(db_settings).test_client()
    assert sign_in(client, "boss@example.org", "a long enough password").status_code == 303
    assert client.get("/admin/").status_code == 200

    short = cos(db_settings, "admin", "create", "x@example.org", "--password-stdin",
                input="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output


def test_cos_admin_create_asks_for_the_password_twice(db_settings):
    db_settings.instance.mkdir(parents=True, exist_ok=True)
    mismatch = cos(db_settings, "admin", "create", "x@example.org",
                   input="first password 1\nother password 2\n" * 3)
    assert mismatch.exit_code != 0
    same = cos(db_settings, "admin", "create", "x@example.org",
               input="first password 1\nfirst password 1\n")
    assert same.exit_code == 0, same.output


def test_the_session_cookie_is_httponly_and_lax_and_secure_on_https(admin_app, db_settings):
    response = sign_in(admin_app.test_client())
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = create_app(db_settings.with_(base_url="https://cos.example.org"))
    assert "Secure" in sign_in(secure.test_client()).headers["Set-Cookie"]


def test_sign_out_is_a_post_and_ends_the_session(admin_app):
    client = admin_app.test_client()
    sign_in(client)
    page = client.get("/admin/").get_data(as_text=True)
    assert client.get("/admin/sign-out").status_code == 405
    assert client.post("/admin/sign-out", data={"csrf_token": csrf_of(page)}).status_code == 303
    assert client.get("/admin/").status_code == 302


def test_repeated_failures_shut_sign_in_for_the_account_even_with_the_right_password(admin_app):
    client = admin_app.test_client()
    for n in range(5):
        refused = sign_in(client, password=f"wrong {n}", address=f"10.0.0.{n}")
        assert refused.status_code == 400
        assert "do not match" in refused.get_data(as_text=True)
    assert "Sign-in is shut for 30 seconds" in refused.get_data(as_text=True)
    locked = sign_in(client, address="10.0.0.99")
    assert locked.status_code == 400 and "Too many failed sign-ins" in locked.get_data(
        as_text=True)
    assert client.get("/admin/").status_code == 302


def test_repeated_failures_from_one_address_shut_it_for_every_account(admin_app):
    client = admin_app.test_client()
    for n in range(5):
        sign_in(client, email=f"guess{n}@example.org", password="nope", address="10.1.1.1")
    assert "Too many failed" in sign_in(client, address="10.1.1.1").get_data(as_text=True)
    assert sign_in(client, address="10.1.1.2").status_code == 303


def test_the_lockout_grows_and_has_a_ceiling():
    assert [lockout(n).total_seconds() for n in (1, 4, 5, 6, 7)] == [0, 0, 30, 60, 120]
    assert lockout(50) == timedelta(minutes=15)


def test_a_lead_link_is_confirmed_by_post_works_once_and_expires(admin_app, db_settings,
                                                                two_coalitions):
    client = admin_app.test_client()
    with session_scope(db_settings.database_url) as db:
        assert issue_sign_in_link(db, "nobody@example.org") is None
        token = issue_sign_in_link(db, LEE)
        old = issue_sign_in_link(db, LEE, now=utcnow() - timedelta(minutes=16))
    assert token and old
    for _ in range(2):  # a mail scanner's GET changes nothing
        page = client.get(f"/admin/sign-in/link/{token}")
        assert page.status_code == 200 and "Sign me in" in page.get_data(as_text=True)
    csrf = csrf_of(page.get_data(as_text=True))
    assert client.post(f"/admin/sign-in/link/{token}").status_code == 400  # no CSRF token
    assert client.post(f"/admin/sign-in/link/{token}", data={"csrf_token": csrf}
                       ).status_code == 303
    assert "harbour-air" in client.get("/admin/").get_data(as_text=True)
    again = client.get(f"/admin/sign-in/link/{token}")
    assert again.status_code == 410 and "used already" in again.get_data(as_text=True)
    expired = client.get(f"/admin/sign-in/link/{old}")
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    with session_scope(db_settings.database_url) as db, pytest.raises(SignInRefused):
        redeem_sign_in_link(db, old)
    with session_scope(db_settings.database_url, read_only=True) as db:
        assert not check_sign_in_link(db, "not-a-token").usable


def test_asking_for_a_lead_link_emails_it_and_says_the_same_for_strangers(admin_app,
                                                                         db_settings,
                                                                         two_coalitions):
    client = admin_app.test_client()
    outbox = Path(db_settings.instance / "outbox")
    for email in (LEE, "stranger@example.org"):
        page = client.get("/admin/sign-in").get_data(as_text=True)
        said = client.post("/admin/sign-in/lead", data={
            "lead-email": email, "lead-csrf_token": csrf_of(page)}).get_data(as_text=True)
        assert "If that address leads a coalition" in said
    sent = sorted(outbox.glob("*.eml"))
    assert len(sent) == 1
    text = sent[0].read_text()
    assert LEE in text and "/admin/sign-in/link/" in text and "text/html" in text


def test_a_post_without_its_csrf_token_is_refused(admin_app, two_coalitions, db_settings):
    client = admin_app.test_client()
    refused = client.post("/admin/sign-in", data={"email": ADMIN, "password": PASSWORD})
    assert refused.status_code == 400 and client.get("/admin/").status_code == 302
    sign_in(client)
    rid = two_coalitions["harbour-air"]
    client.post(f"/admin/rounds/{rid}/close")
    client.post("/admin/c/harbour-air/rounds/new", data={"closes_in": "72h", "start": "1"})
    with session_scope(db_settings.database_url, read_only=True) as db:
        assert db.get(Round, rid).closed_at is None  # type: ignore[union-attr]
        assert len(db.exec(select(Round)).all()) == 2


def upload(client: Any, data: bytes, name: str = "coalition.toml", *, prune: bool = False
           ) -> Any:
    import io

    page = client.get("/admin/").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "file": (io.BytesIO(data), name)}
    if prune:
        form["prune"] = "y"
    return client.post("/admin/coalitions/upload", data=form,
                       content_type="multipart/form-data")


def test_an_upload_that_is_not_utf8_is_refused_with_a_clear_message(admin_app, db_settings):
    client = admin_app.test_client()
    sign_in(client)
    text = (ROOT / "tests" / "data" / "harbour.toml").read_text()
    response = upload(client, text.replace("Harbour Clean", "Hårbour Clean").encode("latin-1"))
    assert response.status_code == 400
    assert "not UTF-8 text" in response.get_data(as_text=True)
    with session_scope(db_settings.database_url, read_only=True) as db:
        assert db.exec(select(Coalition)).first() is None


def test_an_upload_too_large_gets_a_friendly_413_page(admin_app):
    client = admin_app.test_client()
    sign_in(client)
    response = upload(client, b"# padding\n" * 40_000)
    assert response.status_code == 413
    assert "That file is too large" in response.get_data(as_text=True)
    assert "256 KB" in response.get_data(as_text=True)


def test_a_malformed_upload_names_the_line_and_nothing_changes(admin_app, db_settings):
    client = admin_app.test_client()
    sign_in(client)
    broken = upload(client, b'[coalition]\nslug = "x"\nname = "unclosed\n')
    assert broken.status_code == 400
    assert "line 3, column" in broken.get_data(as_text=True)
    text = (ROOT / "tests" / "data" / "harbour.toml").read_text()
    bad_email = upload(client, text.replace("raj@schools.example", "raj-at-schools").encode())
    said = bad_email.get_data(as_text=True)
    assert bad_email.status_code == 400 and "raj-at-schools" in said
    assert re.search(r"line \d+", said)
    empty = upload(client, b"")
    assert empty.status_code == 400
    assert re.search("Choose a file|empty", empty.get_data(as_text=True))
    with session_scope(db_settings.database_url, read_only=True) as db:
        assert db.exec(select(Coalition)).first() is None


def test_a_people_csv_is_previewed_then_applied(admin_app, db_settings):
    import io

    load(db_settings)
    client = admin_app.test_client()
    sign_in(client)
    page = client.get("/admin/c/harbour-air").get_data(as_text=True)
    csv = b"email,name,organisation,role\nzoe@bay.example,Zoe Quinn,Bay Foundation,partner\n"
    preview = client.post("/admin/c/harbour-air/people/upload", data={
        "csrf_token": csrf_of(page), "file": (io.BytesIO(csv), "people.csv")},
        content_type="multipart/form-data").get_data(as_text=True)
    assert "would create: 1 person" in preview
    assert "zoe@bay.example" not in client.get("/admin/c/harbour-air").get_data(as_text=True)
    content = re.search(r'name="content" type="hidden" value="([^"]*)"', preview)
    assert content
    import html

    done = client.post("/admin/c/harbour-air/people/apply", data={
        "csrf_token": csrf_of(preview), "content": html.unescape(content.group(1)),
        "filename": "people.csv"})
    assert done.status_code == 303
    assert "zoe@bay.example" in client.get("/admin/c/harbour-air").get_data(as_text=True)
    bad_csv = csv + b"bad-address,X,Bay Foundation,\n"
    bad = client.post("/admin/c/harbour-air/people/upload", data={
        "csrf_token": csrf_of(preview), "file": (io.BytesIO(bad_csv), "people.csv")},
        content_type="multipart/form-data")
    assert bad.status_code == 400 and "line 3" in bad.get_data(as_text=True)


def test_every_email_kind_is_previewed_with_html_and_text(admin_app):
    client = admin_app.test_client()
    sign_in(client)
    page = client.get("/admin/emails").get_data(as_text=True)
    for title in ("Invitation to check in", "Digest for leads", "sign-in link"):
        assert title in page
    for name in ("invitation", "digest", "sign-in", "es/reminder", "opt-out-notice"):
        framed = client.get(f"/admin/emails/{name}.html")
        assert framed.status_code == 200 and "<html" in framed.get_data(as_text=True).lower()
        assert "frame-ancestors 'self'" in framed.headers["Content-Security-Policy"]


def test_an_unknown_coalition_or_round_is_a_404_page_that_says_so(admin_app):
    client = admin_app.test_client()
    sign_in(client)
    missing = client.get("/admin/c/no-such-thing")
    assert missing.status_code == 404 and "no coalition" in missing.get_data(as_text=True)
    assert client.get("/admin/rounds/999").status_code == 404


def test_a_sign_in_ends_after_a_working_day(admin_app):
    import time

    client = admin_app.test_client()
    sign_in(client)
    assert client.get("/admin/").status_code == 200
    with client.session_transaction() as session:
        session["since"] = int(time.time()) - 13 * 3600
    assert client.get("/admin/").status_code == 302


def test_every_admin_page_answers_a_signed_in_admin_with_the_security_headers(
        admin_app, two_coalitions):
    from tests.test_headers import assert_safe_headers

    client = admin_app.test_client()
    sign_in(client)
    statuses = set()
    for rule in admin_rules(admin_app):
        if "GET" not in rule.methods or "token" in rule.arguments:
            continue
        url = url_for_rule(rule, "harbour-air", two_coalitions["harbour-air"])
        response = client.get(url)
        statuses.add(response.status_code)
        assert_safe_headers(response, f"GET {url}")
    assert statuses == {200}
