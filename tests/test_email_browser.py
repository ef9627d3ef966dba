"""Every email in headless Chromium, in every shipped language: 600 px on a desktop, one
readable column at 375 px with and without the @media rules (Gmail's mobile web and Outlook for
Windows ignore them), and text that keeps WCAG AA contrast in light mode, in our dark palette
(prefers-color-scheme: dark, as Apple Mail and Outlook for Mac apply it) and when a client
inverts every colour by itself (Outlook.com and Windows Mail's "full inversion").

One browser and one page per width serve every kind (the pages are reused, not reopened).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import CONTRAST_JS
from tests.test_browser import browser  # noqa: F401
from tests.test_email_clients import ALL, IDS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from emails.render import Rendered

# Set COS_TEST_EMAIL_SHOTS=/some/dir to keep a screenshot of every kind at every width.
SHOTS = os.environ.get("COS_TEST_EMAIL_SHOTS")



def without_media(html: str) -> str:
    return re.sub(r"@media[^{]+\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", html)


@pytest.fixture(scope="module")
def pages(browser: Browser) -> Iterator[dict[str, Page]]:  # noqa: F811
    """One page per way of reading: a desktop, a phone, and a desktop in dark mode."""
    contexts = {
        "desktop": browser.new_context(viewport={"width": 800, "height": 900}),
        "phone": browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True,
                                     has_touch=True),
        "dark": browser.new_context(viewport={"width": 800, "height": 900},
                                    color_scheme="dark"),
    }
    try:
        yield {name: context.new_page() for name, context in contexts.items()}
    finally:
        for context in contexts.values():
            context.close()


def shot(page: Page, kind: str, label: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{kind.replace('/', '-')}-{label}.png", full_page=True)


@pytest.mark.parametrize(("kind", "rendered"), ALL, ids=IDS)
def test_each_kind_is_600_wide_on_a_desktop_and_one_column_on_a_phone(
        pages: dict[str, Page], kind: str, rendered: Rendered) -> None:
    assert "@media" not in without_media(rendered.html)
    for width, html, label in [(800, rendered.html, "desktop"), (375, rendered.html, "phone"),
                               (375, without_media(rendered.html), "phone-no-media")]:
        page = pages["desktop" if width > 600 else "phone"]
        page.set_content(html)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, (kind, label, scroll)
        box = page.locator(".container").bounding_box()
        assert box is not None
        if width > 600:
            assert box["width"] == 600, (kind, label, box)
        else:
            assert box["width"] <= width, (kind, label, box)
        heading = page.locator("h1").first
        assert heading.is_visible(), (kind, label)
        h_box = heading.bounding_box()
        assert h_box is not None and h_box["x"] >= 0
        assert h_box["x"] + h_box["width"] <= width
        for link in page.locator("a").all():
            assert link.is_visible(), (kind, label, link.inner_text())
        shot(page, kind, "600" if width > 600 else label.replace("phone", "375"))


@pytest.mark.parametrize(("kind", "rendered"), ALL, ids=IDS)
def test_text_keeps_aa_contrast_in_light_dark_and_inverted_colours(
        pages: dict[str, Page], kind: str, rendered: Rendered) -> None:
    light = pages["desktop"]
    light.set_content(rendered.html)
    assert light.evaluate(CONTRAST_JS, {"invert": False}) == [], (kind, "light")
    assert light.evaluate(CONTRAST_JS, {"invert": True}) == [], (kind, "fully inverted")
    dark = pages["dark"]
    dark.set_content(rendered.html)
    # The dark palette really applies: the card is dark, not the light one kept.
    card = dark.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor")
    assert card == "rgb(24, 34, 45)", (kind, card)
    assert dark.evaluate(CONTRAST_JS, {"invert": False}) == [], (kind, "dark")
    shot(dark, kind, "dark")
