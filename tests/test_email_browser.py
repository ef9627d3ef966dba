"""Every email kind in headless Chromium: 600 px on a desktop, one readable column at 375 px,
with and without the @media rules (Gmail's mobile web and Outlook for Windows ignore them)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.test_browser import browser  # noqa: F401
from tests.test_email_clients import ALL, IDS

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from emails.render import Rendered

# Set COS_TEST_EMAIL_SHOTS=/some/dir to keep a screenshot of every kind at both widths.
SHOTS = os.environ.get("COS_TEST_EMAIL_SHOTS")


def without_media(html: str) -> str:
    return re.sub(r"@media[^{]+\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", html)


@pytest.mark.parametrize(("kind", "rendered"), ALL, ids=IDS)
def test_each_kind_is_600_wide_on_a_desktop_and_one_column_on_a_phone(
        browser: Browser, kind: str, rendered: Rendered) -> None:  # noqa: F811
    assert "@media" not in without_media(rendered.html)
    for width, html, label in [(800, rendered.html, "desktop"), (375, rendered.html, "phone"),
                               (375, without_media(rendered.html), "phone-no-media")]:
        context = browser.new_context(viewport={"width": width, "height": 900},
                                      java_script_enabled=True, is_mobile=width < 600)
        page = context.new_page()
        try:
            page.set_content(html)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, (kind, label, scroll)
            box = page.locator(".container").bounding_box()
            assert box is not None
            if width > 600:
                assert box["width"] == 600, (kind, label, box)
            else:
                assert box["width"] <= width, (kind, label, box)
            heading = page.locator("h1, .heading").first
            if heading.count():
                assert heading.is_visible()
                h_box = heading.bounding_box()
                assert h_box is not None and h_box["x"] >= 0
                assert h_box["x"] + h_box["width"] <= width
            for link in page.locator("a").all():
                assert link.is_visible(), (kind, label, link.inner_text())
            if SHOTS:
                Path(SHOTS).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=f"{SHOTS}/{kind.replace('/', '-')}-{label}.png",
                                full_page=True)
        finally:
            context.close()
