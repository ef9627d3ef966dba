"""The admin pages in Chromium: an admin runs a whole round from the browser.

Sign in, upload a coalition file with a mistake then fixed, start a round, watch a partner's
answer (given through the emailed link in another page) appear on the status board without a
reload, close the round, read the digest preview. Every main page is checked for labels,
heading order, contrast (WCAG AA) and fitting a 375 px phone, and screenshotted at 1280 and
375 px into COS_TEST_SCREENSHOTS (or a temporary folder).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.admins import create_admin
from pipeline.db import session_scope
from tests.helpers import CONTRAST_JS, links_in, work
from tests.test_browser import PHONE, browser, expect, phone_context, save  # noqa: F401

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ADMIN, PASSWORD = "admin@cadence.test", "correct horse battery staple"
DATA = Path(__file__).parent / "data"
RAJ = "raj@schools.example"
DESKTOP = {"width": 1280, "height": 900}

UNLABELLED_JS = """() => Array.from(document.querySelectorAll('input,select,textarea,button'))
  .filter(el => el.type !== 'hidden')
  .filter(el => el.tagName === 'BUTTON' || el.type === 'submit'
                ? !(el.textContent.trim() || el.value) : !(el.labels && el.labels.length))
  .map(el => el.name || el.id)"""
HEADINGS_JS = """() => Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6'))
  .map(h => Number(h.tagName[1]))"""


def shots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("COS_TEST_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_page(page: Page, name: str, folder: Path) -> None:
    """Check a page's accessibility basics at 1280 and 375 px and screenshot both."""
    assert page.evaluate(UNLABELLED_JS) == [], name
    levels = page.evaluate(HEADINGS_JS)
    assert levels and levels[0] == 1 and levels.count(1) == 1, (name, levels)
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), (name, levels)
    for width, height in ((1280, 900), (375, 740)):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate(CONTRAST_JS, {"skip": ".skip,noscript"}) == [], (name, width)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} scrolls sideways at {width} px ({wide} px wide)"
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]


def tab_stops(page: Page, limit: int = 40) -> set[str]:
    """Press Tab through the page from the top; return the text of everything focused."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    seen: set[str] = set()
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.add(page.evaluate("(document.activeElement.innerText || "
                               "document.activeElement.value || '').trim()"))
    return seen


def test_an_admin_runs_a_round_from_the_browser(browser: Browser, settings, smtp_server,  # noqa: F811
                                                live_server, tmp_path):
    folder = shots_dir(tmp_path)
    with session_scope(settings.database_url) as db:
        create_admin(db, ADMIN, PASSWORD)
    context = browser.new_context(viewport=DESKTOP, locale="en-US")  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    page = context.new_page()

    # Signed out, the admin pages send you to sign in; the keyboard alone signs in.
    page.goto(live_server.url + "/admin/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    check_page(page, "sign-in", folder)
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Coalitions")
    check_page(page, "coalitions-empty", folder)

    # A coalition file with a mistake: the line is named and nothing is saved.
    good = (DATA / "harbour.toml").read_text()
    bad = tmp_path / "harbour.toml"
    bad.write_text(good.replace('email = "raj@schools.example"', 'email = "raj-at-schools"'))
    page.get_by_label("Coalition file (.toml)").set_input_files(str(bad))
    page.get_by_role("button", name="Preview the changes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The file needs a fix")
    expect(page.get_by_role("alert")).to_contain_text("raj-at-schools")
    expect(page.get_by_role("alert")).to_contain_text("line ")
    check_page(page, "upload-error", folder)
    page.get_by_role("link", name="Back to upload again").click()

    # Fixed: the preview says what would change, and Apply saves it.
    fixed = tmp_path / "fixed" / "harbour.toml"
    fixed.parent.mkdir()
    fixed.write_text(good)
    page.get_by_label("Coalition file (.toml)").set_input_files(str(fixed))
    page.get_by_role("button", name="Preview the changes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("What this upload would change")
    expect(page.locator(".changes")).to_contain_text("would create: 1 coalition")
    check_page(page, "upload-preview", folder)
    page.get_by_role("button", name="Apply these changes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbour Clean Air Alliance")
    expect(page.get_by_role("status")).to_contain_text("created: 1 coalition")
    check_page(page, "coalition", folder)

    # Start a round: preview the invitation, send a test to myself, start.
    page.get_by_role("link", name="Start a round").click()
    expect(page.get_by_role("heading", level=2, name="The invitation, as")).to_be_visible()
    expect(page.locator("pre.mail")).to_contain_text("Start your check-in here")
    check_page(page, "new-round", folder)
    page.get_by_label("Stays open for").fill("48h")
    page.get_by_role("button", name="Send a test to me").click()
    expect(page.get_by_role("status")).to_contain_text(f"went to {ADMIN}")
    test_mail = smtp_server.wait_for(1)
    assert test_mail[0].rcpt_tos == [ADMIN]
    assert str(test_mail[0].message["Subject"]).startswith("[test] ")
    smtp_server.clear()
    page.get_by_role("button", name="Start the round").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("round 1")
    expect(page.locator('[data-count="invited"]')).to_have_text("4")
    expect(page.locator('[data-count="answered"]')).to_have_text("0")

    # The worker sends the invitations; the board shows them delivered without a reload.
    work(settings)
    links = links_in(smtp_server.wait_for(4))
    raj_row = page.locator(f'tr[data-email="{RAJ}"]')
    expect(raj_row).to_contain_text("delivered")
    expect(raj_row).to_contain_text("silent")

    # Raj answers through his emailed link in another page (a phone, scripts off).
    phone = phone_context(browser).new_page()
    phone.goto(links[RAJ])
    phone.get_by_label("Done", exact=True).check()
    phone.get_by_label("4 · Mostly").check()
    assert save(phone) == 303
    phone.context.close()

    expect(raj_row).to_contain_text("answered")
    expect(page.locator('[data-count="answered"]')).to_have_text("1")
    expect(page.locator('[data-count="silent"]')).to_have_text("3")
    check_page(page, "round-board", folder)

    # Every control on the board is reached with the Tab key.
    assert {"Remind the silent now", "Close the round and send the digest",
            "Preview the digest", "Sign out"} <= tab_stops(page)

    # Remind the silent: three invitations queued again, with the same links.
    smtp_server.clear()
    page.get_by_role("button", name="Remind the silent now").click()
    expect(page.get_by_role("status")).to_contain_text("Reminding 3 silent partners")
    work(settings)
    reminded = smtp_server.wait_for(3)
    assert RAJ not in {m.rcpt_tos[0] for m in reminded}
    smtp_server.clear()

    # Close the round: the digest goes to the lead; then read it as the lead will.
    page.get_by_role("button", name="Close the round and send the digest").click()
    expect(page.get_by_role("status")).to_contain_text("The round is closed")
    assert smtp_server.wait_for(1)[0].rcpt_tos == ["lee@harbourtrust.org"]
    page.get_by_role("link", name="Preview the digest").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Digest of round 1")
    expect(page.locator("pre.mail")).to_contain_text("1 of 4")
    frame = page.frame_locator("iframe.mail-frame")
    expect(frame.locator("body")).to_contain_text("Harbour Clean Air Alliance")
    check_page(page, "digest", folder)

    page.goto(live_server.url + "/admin/c/harbour-air/scoreboard")
    expect(page.get_by_role("heading", level=1)).to_contain_text("scoreboard")
    check_page(page, "scoreboard", folder)
    page.get_by_role("link", name="Email previews").click()
    expect(page.get_by_role("heading", level=2, name="Digest for leads",
                            exact=True)).to_be_visible()
    frames = page.locator("iframe.mail-frame")
    # Every kind in English (invitation first, digest third, sign-in last), then in Spanish.
    for n, words in ((0, "how did this round go"), (2, "8 of 10 partners"), (6, "Sign in"),
                     (7, "cómo ha ido esta ronda")):
        expect(frames.nth(n).content_frame.locator("body")).to_contain_text(words)
    check_page(page, "emails", folder)
    context.close()


def test_the_status_board_reloads_itself_where_javascript_is_off(browser: Browser,  # noqa: F811
                                                                 settings, live_server):
    from tests.helpers import load, open_round

    load(settings)
    round_id, _ = open_round(settings)
    with session_scope(settings.database_url) as db:
        create_admin(db, ADMIN, PASSWORD)
    context = phone_context(browser)  # JavaScript off
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/rounds/{round_id}")
    page.get_by_label("Email", exact=True).fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("round 1")
    refresh = page.locator('noscript meta[http-equiv="refresh"]')
    assert refresh.count() == 1 or "http-equiv" in page.content()
    expect(page.get_by_role("link", name="Reload")).to_be_visible()
    context.close()


def test_an_admin_runs_the_cadence_and_reads_the_model_scoreboard(browser: Browser,  # noqa: F811
                                                                  settings, live_server,
                                                                  tmp_path):
    from sqlmodel import select

    from pipeline.merge import merge_round
    from pipeline.models import Metric, Person, Round, utcnow
    from tests.helpers import load
    from tests.test_merge import submit
    from tests.test_round_kinds import open_kind

    folder = shots_dir(tmp_path)
    load(settings)
    with session_scope(settings.database_url) as db:
        create_admin(db, ADMIN, PASSWORD)
        no2 = str(db.exec(select(Metric.id).where(Metric.key == "no2")).one())
        raj = db.exec(select(Person).where(Person.email == RAJ)).one()
        raj.suppressed_at, raj.suppressed_reason = utcnow(), "550 no such mailbox"
        db.add(raj)
    for value in (44.0, 40.0, 37.5):
        checkin = open_kind(settings, "checkin")
        submit(settings, checkin, "dee@clinic.example", {"win": "Clinic joined"})
        submit(settings, checkin, "kim@cyclists.example", {"pulse": 4})
        submit(settings, checkin, RAJ, {"readings": {no2: value}})
        with session_scope(settings.database_url) as db:
            merge_round(db, checkin)
            db.get(Round, checkin).closed_at = utcnow()  # type: ignore[union-attr]
    echo = open_kind(settings, "win-echo")
    submit(settings, echo, "dee@clinic.example", {"echo": "More bike lanes downtown"})
    submit(settings, echo, "kim@cyclists.example",
           {"echo": "No Harbour school child breathes dirty air"})
    with session_scope(settings.database_url) as db:
        merge_round(db, echo)

    context = browser.new_context(viewport=DESKTOP, locale="en-US")  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(live_server.url + "/admin/c/harbour-air")
    page.get_by_label("Email", exact=True).fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # The cadence page: set a schedule (a typo first), pause the open round, restore Raj.
    page.get_by_role("link", name="Cadence").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("cadence")
    page.get_by_label("Open", exact=True).fill("Tusday 09:00")
    page.get_by_label("Close after").fill("72h")
    page.get_by_role("button", name="Save the cadence").click()
    expect(page.get_by_role("alert")).to_contain_text("Tuesday")
    page.get_by_label("Open", exact=True).fill("Tuesday 09:00")
    page.get_by_role("button", name="Save the cadence").click()
    expect(page.get_by_role("status")).to_contain_text("The cadence is saved")
    expect(page.locator("table").first).to_contain_text("open")
    page.get_by_role("button", name="Pause round 4").click()
    expect(page.get_by_role("status")).to_contain_text("Round 4 is paused")
    expect(page.get_by_role("button", name="Resume round 4")).to_be_visible()
    expect(page.get_by_role("button", name=f"Restore {RAJ}")).to_be_visible()
    check_page(page, "cadence", folder)
    page.get_by_role("button", name=f"Restore {RAJ}").click()
    expect(page.get_by_role("status")).to_contain_text("Restored Raj Patel")

    # Edit the coalition's stage and a metric's target.
    page.goto(live_server.url + "/admin/c/harbour-air/edit")
    check_page(page, "edit-coalition", folder)
    page.get_by_label("Stage", exact=True).select_option("growth")
    page.locator("#metrics-0-target").fill("20")
    page.get_by_role("button", name="Save the changes").click()
    expect(page.get_by_role("status")).to_contain_text("updated")
    expect(page.locator(".muted").first).to_contain_text("stage growth")

    # The scoreboard: phase state, moves, a sparkline per metric, and the echo marks.
    page.get_by_role("link", name="Scoreboard and past rounds").click()
    expect(page.get_by_role("heading", level=2, name="Next right moves")).to_be_visible()
    spark = page.locator("svg.spark polyline").first
    expect(spark).to_be_visible()
    assert (spark.get_attribute("points") or "").count(",") == 3
    page.get_by_label("Mark for Dee Brown").select_option("partial")
    page.get_by_role("row", name="Dee Brown").get_by_role("button", name="Set").click()
    expect(page.get_by_role("status")).to_contain_text("Dee Brown: marked partial")
    check_page(page, "scoreboard-model", folder)
    context.close()
