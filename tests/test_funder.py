"""The funder's page: a signed, revocable, read-only link that names no one."""

from __future__ import annotations

from tests.helpers import cos
from tests.test_cos_model import silent_clinic_rounds


def test_the_funder_link_shows_the_one_page_without_names_and_can_be_revoked(settings, app):
    silent_clinic_rounds(settings)
    made = cos(settings, "funder-link", "harbour-air")
    assert made.exit_code == 0, made.output
    link = made.stdout.strip()
    assert link.startswith(settings.base_url + "/f/harbour-air/")
    path = link[len(settings.base_url):]
    client = app.test_client()
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Harbour Clean Air Alliance" in html and "Partnership health" in html
    assert "<svg class=\"spark\"" in html or "Car-free school streets" in html
    assert "<script" not in html
    for name in ("Dee Brown", "Harbour Clinic", "Raj Patel", "Phone"):
        assert name not in html, name
    assert "No partner is ranked" in html

    assert client.get(path[:-2] + "xx").status_code == 404
    assert client.get(path.replace("harbour-air", "other")).status_code == 404
    again = cos(settings, "funder-link", "harbour-air").stdout.strip()
    assert again == link  # the same link until replaced
    renewed = cos(settings, "funder-link", "harbour-air", "--new").stdout.strip()
    assert renewed != link
    assert client.get(path).status_code == 404
    assert client.get(renewed[len(settings.base_url):]).status_code == 200
    off = cos(settings, "funder-link", "harbour-air", "--revoke")
    assert off.exit_code == 0 and "off" in off.stderr
    assert client.get(renewed[len(settings.base_url):]).status_code == 404


def test_cos_worksheet_writes_the_readiness_win_and_scoreboard_sheets(settings, tmp_path):
    from tests.helpers import load

    load(settings)
    early = cos(settings, "worksheet", "scoreboard", "harbour-air", "--out",
                str(tmp_path / "s.html"))
    assert early.exit_code != 0 and "no rounds yet" in early.output
    silent_clinic_rounds(settings)
    for kind, expected in (("readiness", "A champion with influence"),
                           ("win", "By 2028"),
                           ("scoreboard", "Phone Harbour Clinic; don&#39;t email.")):
        out = tmp_path / f"{kind}.html"
        done = cos(settings, "worksheet", kind, "harbour-air", "--out", str(out))
        assert done.exit_code == 0, done.output
        html = out.read_text(encoding="utf-8")
        assert expected in html, kind
        assert "<script" not in html and "@media print" in html


def test_the_digest_carries_a_signed_link_to_its_web_version_that_expires(settings, app):
    import re
    from datetime import timedelta

    from pipeline.db import session_scope
    from pipeline.digest import read_digest_link, render_digest
    from pipeline.models import Round, utcnow

    round_id = silent_clinic_rounds(settings)
    with session_scope(settings.database_url) as s:
        rendered = render_digest(s, settings, round_id)
        closes = s.get(Round, round_id).closes_at
    found = re.search(r"(/d/(\d+)\.(\d+)\.([A-Za-z0-9_-]{43}))", rendered.text)
    assert found and int(found.group(2)) == round_id
    client = app.test_client()
    page = client.get(found.group(1))
    assert page.status_code == 200
    assert "Next right moves" in page.get_data(as_text=True)
    # The web version, not the email: styles left in the head for the browser (no inliner).
    assert re.search(r'<td class="card">', page.get_data(as_text=True))
    assert "style-src 'unsafe-inline'" in page.headers["Content-Security-Policy"]
    forged = found.group(1)[:-3] + "AAA"
    assert client.get(forged).status_code == 404
    longer = found.group(1).replace(f".{found.group(3)}.", f".{int(found.group(3)) + 1}.")
    assert client.get(longer).status_code == 404
    assert client.get("/d/not-a-link").status_code == 404
    link = found.group(1).removeprefix("/d/")
    assert read_digest_link(settings.secret_key, link, utcnow()) == round_id
    assert read_digest_link(settings.secret_key, link, closes + timedelta(days=31)) is None
