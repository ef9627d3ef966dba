"""A partner's check-in in a real browser: Chromium on a 375 px phone, with JavaScript off.

The link comes out of the invitation email the SMTP server received, the way a partner gets it.
Every page is opened with scripts disabled, which proves the form needs none.
Set COS_TEST_CHROMIUM to use another Chromium; without one the module is skipped (and fails
when COS_TEST_REQUIRE_BROWSER is set, as .ci/run does).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, col, select

from pipeline import queues
from pipeline.models import Person, Response
from tests.helpers import links_in, load, open_round, work

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

    from pipeline.config import Settings
    from tests.conftest_smtp import SMTPSink

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
expect = sync_api.expect

CHROMIUM = os.environ.get("COS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    why = (f"no Chromium executable at {CHROMIUM} (install Debian's chromium or set "
           "COS_TEST_CHROMIUM)")
    if os.environ.get("COS_TEST_REQUIRE_BROWSER"):  # CI: a missing browser is a failure
        pytest.fail(why, pytrace=False)
    pytest.skip(why, allow_module_level=True)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE: ViewportSize = {"width": 375, "height": 740}
RAJ = "raj@schools.example"
WIN = "Sensors are live at five gates"
METRIC = "NO2 at school gates"  # the label reads "NO2 at school gates (µg/m³)"
SAVE = "Save my check-in"

expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Launch Debian's Chromium once for the module."""
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def phone_context(browser: Browser, *, javascript: bool = False) -> BrowserContext:
    """A fresh phone-sized context: 375 x 740, touch, mobile viewport rules, scripts off."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                  device_scale_factor=2, java_script_enabled=javascript,
                                  locale="en-US")
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A page in a fresh phone context with JavaScript disabled."""
    context = phone_context(browser)
    yield context.new_page()
    context.close()


def invite(settings: Settings, smtp_server: SMTPSink) -> tuple[int, dict[str, str]]:
    """Load the harbour coalition, open a round, send it; return its id and the mailed links."""
    load(settings)
    round_id, deliveries = open_round(settings)
    assert queues.enqueue_sends(settings, deliveries) == 4
    work(settings)
    links = links_in(smtp_server.wait_for(4))
    assert RAJ in links, sorted(links)
    return round_id, links


def revisions(session: Session, round_id: int, email: str = RAJ) -> list[int]:
    """Return the stored revisions of a person's answers in a round, in order."""
    return list(session.exec(
        select(Response.revision).join(Person)
        .where(Person.email == email, Response.round_id == round_id)
        .order_by(col(Response.revision))).all())


def save(page: Page) -> int:
    """Tap "Save my check-in", wait for the page it leads to, return the POST's HTTP status."""
    with page.expect_navigation(), \
            page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name=SAVE).tap()
    return posted.value.status


def test_a_partner_answers_from_the_emailed_link_and_finds_the_answers_kept_on_return(
        phone, settings, smtp_server, live_server, session):
    round_id, links = invite(settings, smtp_server)
    link = links[RAJ]
    assert link.startswith(live_server.url + "/c/")

    opened = phone.goto(link)
    assert opened is not None and opened.status == 200
    win_quote = phone.locator("blockquote.win")
    expect(win_quote).to_contain_text(
        "By 2028 no child at a Harbour school breathes air above the WHO limit.")
    header_box = win_quote.bounding_box()
    assert header_box is not None and header_box["y"] < PHONE["height"] / 2, header_box
    expect(phone.get_by_role("heading", level=1)).to_have_text("Hello Raj Patel")

    phone.get_by_label("Done", exact=True).check()
    phone.get_by_label("Note (optional)").fill("All five are live")
    phone.get_by_label(METRIC).fill("41.5")
    phone.get_by_label("A win this round (optional)").fill(WIN)
    phone.get_by_label("4 · Mostly").check()
    phone.get_by_label("Harbour Cyclists").check()
    assert save(phone) == 303

    expect(phone).to_have_url(link + "/thanks")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Thank you, Raj Patel")
    recorded = phone.locator(".recorded")
    for expected in ("Install air sensors at five school gates", "Done: All five are live",
                     "NO2 at school gates", "41.5 µg/m³", WIN, "4 of 5 (Mostly)",
                     "Harbour Cyclists"):
        expect(recorded).to_contain_text(expected)
    assert revisions(session, round_id) == [1]
    assert len(session.exec(select(Response).where(Response.round_id == round_id,
                                                   Response.revision == 1)).all()) == 1

    # Back to the same link: every answer is filled in.
    phone.goto(link)
    expect(phone.locator(".saved")).to_contain_text("saved 1 time)")
    expect(phone.get_by_label("Done", exact=True)).to_be_checked()
    expect(phone.get_by_label("On track", exact=True)).not_to_be_checked()
    expect(phone.get_by_label("Note (optional)")).to_have_value("All five are live")
    expect(phone.get_by_label(METRIC)).to_have_value("41.5")
    expect(phone.get_by_label("A win this round (optional)")).to_have_value(WIN)
    expect(phone.get_by_label("A blocker, or help you need (optional)")).to_have_value("")
    expect(phone.get_by_label("4 · Mostly")).to_be_checked()
    expect(phone.get_by_label("Harbour Cyclists")).to_be_checked()
    expect(phone.get_by_label("Harbour Clinic")).not_to_be_checked()
    expect(phone.get_by_label("Harbour Trust")).not_to_be_checked()

    # A second save is a second revision; the first stays as it was.
    phone.get_by_label(METRIC).fill("39")
    assert save(phone) == 303
    expect(phone.locator(".recorded")).to_contain_text("39 µg/m³")
    assert revisions(session, round_id) == [1, 2]
    phone.goto(link)
    expect(phone.locator(".saved")).to_contain_text("saved 2 times)")
    expect(phone.get_by_label(METRIC)).to_have_value("39")
    expect(phone.get_by_label("A win this round (optional)")).to_have_value(WIN)


def test_a_word_for_a_number_is_marked_beside_the_box_and_nothing_is_saved_until_fixed(
        phone, settings, smtp_server, live_server, session):
    round_id, links = invite(settings, smtp_server)
    phone.goto(links[RAJ])

    box = phone.get_by_label(METRIC)
    box.fill("forty")
    phone.get_by_label("A win this round (optional)").fill(WIN)
    assert save(phone) == 400

    expect(phone).to_have_url(links[RAJ])
    expect(phone.get_by_role("alert")).to_contain_text("Some answers need a fix")
    metric = phone.locator(".metric.has-error")
    expect(metric).to_have_count(1)
    expect(metric.get_by_label(METRIC)).to_have_attribute("aria-invalid", "true")
    error = metric.locator("ul.errors")
    expect(error).to_contain_text("\u201cforty\u201d is not a number")
    assert box.get_attribute("aria-describedby") == error.get_attribute("id")
    error_box, input_box = error.bounding_box(), box.bounding_box()
    assert error_box and input_box and 0 <= error_box["y"] - input_box["y"] < 120, (
        "the error should sit right under its box", input_box, error_box)
    expect(box).to_have_value("forty")
    expect(phone.get_by_label("A win this round (optional)")).to_have_value(WIN)
    assert revisions(session, round_id) == []

    box.fill("38.5")
    assert save(phone) == 303
    expect(phone.locator(".recorded")).to_contain_text("38.5 µg/m³")
    expect(phone.locator(".recorded")).to_contain_text(WIN)
    assert revisions(session, round_id) == [1]
    stored = session.exec(select(Response).where(Response.round_id == round_id)).one()
    assert list(stored.answers["readings"].values()) == [38.5]
    assert stored.answers["win"] == WIN


def no_sideways_scroll(page: Page, where: str) -> None:
    """Fail when the page is wider than the phone (page.evaluate runs even with scripts off)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{where}: the page scrolls sideways ({width} px wide)"


def test_the_form_fits_a_375_px_phone_without_sideways_scrolling(
        phone, settings, smtp_server, live_server, session, tmp_path: Path):
    # Scripts really are off in this context, yet page.evaluate still measures the page.
    phone.set_content("<title>before</title><script>document.title = 'ran'</script>")
    assert phone.title() == "before" and phone.evaluate("document.title") == "before"
    _, links = invite(settings, smtp_server)
    phone.goto(links[RAJ])
    assert phone.locator("script").count() == 0
    no_sideways_scroll(phone, "the form")

    button = phone.get_by_role("button", name=SAVE)
    button.scroll_into_view_if_needed()
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 200, box
    for target in phone.locator(".choice, .orgs li").all():
        height = (target.bounding_box() or {"height": 0})["height"]
        assert height >= 44, f"touch target {target.inner_text()!r} is {height} px tall"
    typing_boxes = "input[type=text], input[type=date], input:not([type]), textarea"
    small = phone.evaluate(f"""[...document.querySelectorAll('{typing_boxes}')]
        .map(e => [e.name, parseFloat(getComputedStyle(e).fontSize)])
        .filter(([, size]) => size < 16)""")
    assert phone.locator(typing_boxes).count() >= 5
    assert small == [], f"phones zoom in on boxes under 16 px: {small}"
    phone.screenshot(path=tmp_path / "checkin-375.png", full_page=True)

    phone.get_by_label(METRIC).fill("forty-one point five micrograms, measured at the gate")
    assert save(phone) == 400
    no_sideways_scroll(phone, "the form with an error")
    phone.screenshot(path=tmp_path / "checkin-error-375.png", full_page=True)

    phone.get_by_label(METRIC).fill("41.5")
    phone.get_by_label("A win this round (optional)").fill("x" * 300)
    assert save(phone) == 303
    no_sideways_scroll(phone, "the thank-you page")
    phone.screenshot(path=tmp_path / "thanks-375.png", full_page=True)
    print(f"screenshots in {tmp_path}")


def test_a_large_coalitions_helpers_box_fits_a_375_px_phone_and_its_errors_are_tied_to_it(
        phone, settings, smtp_server, live_server, session):
    from tests.test_checkin_helpers import add_organisations, helped_before

    round_id, links = invite(settings, smtp_server)
    add_organisations(settings, 60)
    helped_before(settings, ["Westside Tenants"])
    phone.goto(links[RAJ])
    names = phone.get_by_label("Other organisations that helped (names, one per line or "
                               "separated by commas)")
    expect(names).to_be_visible()
    expect(phone.get_by_role("group", name="Who helped your organisation this round?")
           .get_by_label("Westside Tenants")).to_be_visible()
    no_sideways_scroll(phone, "the form of a large coalition")

    # Two errors, one quoting a name wider than the phone (no space to break it at).
    names.fill("Northside Food, NorthsideFoodBankCommunityKitchenAndPantryOfTheGreaterRiverside")
    assert save(phone) == 400
    no_sideways_scroll(phone, "the names box with its errors")
    expect(names).to_have_attribute("aria-invalid", "true")
    expect(phone.locator("#helped_by_names-error li")).to_have_count(2)

    phone.get_by_label("Westside Tenants").check()
    names.fill("northside food bank")
    assert save(phone) == 303
    expect(phone.locator(".recorded")).to_contain_text("Northside Food Bank")
    assert revisions(session, round_id) == [1]


def test_a_wrong_or_cut_short_link_shows_this_link_does_not_work_with_status_404(
        phone, settings, smtp_server, live_server, session):
    _, links = invite(settings, smtp_server)
    for wrong in (live_server.url + "/c/" + "A" * 43, links[RAJ][:-5]):
        shown = phone.goto(wrong)
        assert shown is not None and shown.status == 404, wrong
        expect(phone.get_by_role("heading", level=1)).to_have_text("This link does not work")
        expect(phone.locator("main")).to_contain_text("Open the link from your latest")
        expect(phone.locator("form")).to_have_count(0)
        no_sideways_scroll(phone, "the problem page")


ONE_LINE_HEADERS = """() => [...document.querySelectorAll('th')].map(th => {
    const range = document.createRange(); range.selectNodeContents(th);
    return [th.textContent, range.getClientRects().length];
})"""


@pytest.mark.parametrize("width", [375, 1280])
def test_the_local_outbox_lists_date_kind_and_keeps_header_words_whole(
        browser, db_settings, width):
    from cos.processes import web_server
    from forms import create_app
    from tests.helpers import cos

    load(db_settings)
    assert cos(db_settings, "campaign", "start", "harbour-air", "--send-now").exit_code == 0
    app = create_app(db_settings, dev_outbox=True)
    port = int(db_settings.base_url.rsplit(":", 1)[1])
    context = browser.new_context(viewport={"width": width, "height": 800},
                                  java_script_enabled=True)
    page = context.new_page()
    try:
        with web_server(app, "127.0.0.1", port):
            page.goto(f"{db_settings.base_url}/dev/outbox/")
            headers = dict(page.evaluate(ONE_LINE_HEADERS))
            assert headers == {"Sent": 1, "Kind": 1, "To": 1, "Subject": 1}
            rows = page.locator("tbody tr")
            expect(rows).to_have_count(4)
            expect(rows.first.locator("td").nth(1)).to_have_text("invitation")
            expect(rows.first.locator("td").first).to_contain_text(" 20")  # a year: a date
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            with page.expect_navigation(wait_until="load"):  # the stylesheet too
                rows.first.locator("a").click()
            shown = dict(page.evaluate(ONE_LINE_HEADERS))
            assert shown == {"From": 1, "To": 1, "Subject": 1, "Date": 1}
            assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        context.close()


def test_the_funder_page_fits_a_phone_without_scripts_and_names_no_one(
        phone, settings, live_server, tmp_path: Path):
    from tests.helpers import cos
    from tests.test_cos_model import silent_clinic_rounds

    silent_clinic_rounds(settings)
    link = cos(settings, "funder-link", "harbour-air").stdout.strip()
    shown = phone.goto(link)
    assert shown is not None and shown.status == 200
    assert phone.locator("script").count() == 0
    expect(phone.get_by_role("heading", level=2, name="Partnership health")).to_be_visible()
    expect(phone.locator("main")).not_to_contain_text("Harbour Clinic")
    no_sideways_scroll(phone, "the funder page")
    phone.screenshot(path=tmp_path / "funder-375.png", full_page=True)
