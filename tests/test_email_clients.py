"""Every email kind keeps to what Gmail, Outlook, Apple Mail and Yahoo all support.

The list of forbidden features comes from the caniemail data (the npm tool doiuse-email,
bench/doiuse_email.mjs, was the judge); this test keeps our own copy so it runs without node.
"""

from __future__ import annotations

import email
import email.policy
import http.server
import logging
import re
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import lxml.html
import pytest

from emails import build_message, list_id
from emails.examples import NAMES, WEB_PAGES, example, render_preview
from emails.i18n import LANGUAGES
from emails.inline import clear
from emails.render import TEXT_WIDTH, Rendered, premailer_inline

LONG_WIN = ("By the summer of 2027 every family in Riverside, in every street from the "
            "harbour to the hills, can reach a hot meal within a fifteen-minute walk, "
            "seven days a week, without having to ask twice.")

# CSS properties some of the promised clients ignore, where losing them would hide or break
# something (caniemail: Outlook for Windows, Gmail, Yahoo).
FORBIDDEN_CSS = (
    "border-radius", "white-space", "word-break", "overflow-wrap", "word-wrap", "height",
    "max-height", "min-height", "position", "float", "display: flex", "display: grid",
    "background-image", "box-shadow", "linear-gradient", "url(", "@import", "@font-face",
    "opacity", "transform", "transition", "animation",
)
FORBIDDEN_ATTRIBUTES = ("target", "height", "onclick", "srcset")
FORBIDDEN_ELEMENTS = ("img", "svg", "picture", "video", "form", "input", "button", "script",
                      "link", "iframe", "wbr")
VAGUE_LINK_TEXT = {"here", "click here", "link", "this link", "more", "read more"}


def rendered_kinds(**overrides: Any) -> Iterator[tuple[str, Rendered]]:
    """Render every email the app sends (emails.examples.NAMES: the round kinds, the web
    digest, the admin alert, the opt-out notice, the sign-in link) in every shipped language;
    named KIND for English, KIND-LANG otherwise."""
    for language in LANGUAGES:
        for name in NAMES:
            context = example(name, language)
            context.update({k: v for k, v in overrides.items() if k in context})
            yield (name if language == "en" else f"{name}-{language}",
                   render_preview(name, context))


def language_of(kind: str) -> str:
    return kind.rsplit("-", 1)[1] if kind.rsplit("-", 1)[-1] in LANGUAGES else "en"


def is_web_page(kind: str) -> bool:
    """Say whether a rendered kind is a web page (styles in the head, nothing inlined)."""
    language = language_of(kind)
    return (kind if language == "en" else kind.removesuffix(f"-{language}")) in WEB_PAGES


ALL = list(rendered_kinds(win=LONG_WIN))
IDS = [kind for kind, _ in ALL]


def head_css(tree: Any) -> str:
    return "\n".join(style.text or "" for style in tree.iter("style"))


@pytest.mark.parametrize(("kind", "rendered"), ALL, ids=IDS)
def test_no_kind_uses_a_feature_a_promised_client_lacks(kind: str, rendered: Rendered) -> None:
    tree = lxml.html.document_fromstring(rendered.html)
    inline = "\n".join(el.get("style", "") for el in tree.iter() if isinstance(el.tag, str))
    for css in (inline, head_css(tree)):
        for feature in FORBIDDEN_CSS:
            found = re.search(rf"(?<![\w-]){re.escape(feature)}", css)
            assert found is None, f"{kind}: uses {feature}"
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        assert element.tag not in FORBIDDEN_ELEMENTS, f"{kind}: has a <{element.tag}>"
        for name in FORBIDDEN_ATTRIBUTES:
            assert element.get(name) is None, f"{kind}: <{element.tag} {name}=...>"


@pytest.mark.parametrize(("kind", "rendered"), ALL, ids=IDS)
def test_the_layout_is_tables_600_wide_that_hold_in_outlook(kind: str, rendered: Rendered) -> None:
    tree = lxml.html.document_fromstring(rendered.html)
    html = tree.getroottree().getroot()
    assert html.get("lang") == language_of(kind) and html.get("dir") == "ltr", kind
    for table in tree.iter("table"):
        assert table.get("role") == "presentation", kind
        assert table.get("cellpadding") == "0" and table.get("cellspacing") == "0", kind
    container = tree.find_class("container")[0]
    assert container.get("width") == "600"
    # Fluid on phones (width 100% capped by max-width) ...
    # (inline in an email; a web page keeps its rules in the head)
    style = (head_css(tree) if is_web_page(kind) else container.get("style")).replace(" ", "")
    assert "width:100%" in style and "max-width:600px" in style
    # ... and 600 in Outlook for Windows, which ignores max-width: a ghost table only it reads.
    assert re.search(r'<!--\[if mso\]><table role="presentation" width="600"', rendered.html)
    assert "<![endif]-->" in rendered.html
    # Real headings, one h1; no div layout.
    assert len(tree.findall(".//h1")) == 1, kind
    assert not tree.findall(".//div"), kind


@pytest.mark.parametrize(("kind", "rendered"), ALL, ids=IDS)
def test_links_say_where_they_go_and_everything_is_readable_as_text(
        kind: str, rendered: Rendered) -> None:
    tree = lxml.html.document_fromstring(rendered.html)
    for link in tree.iter("a"):
        href = link.get("href")
        assert href and href.startswith(("https://", "mailto:")), (kind, href)
        text = " ".join(link.text_content().split())
        assert text and text.lower() not in VAGUE_LINK_TEXT, (kind, text)
        # The text part shows every link.
        assert href.removeprefix("mailto:") in rendered.text, (kind, href)


@pytest.mark.parametrize(("kind", "rendered"), ALL, ids=IDS)
def test_text_and_background_colours_are_set_together(kind: str, rendered: Rendered) -> None:
    """A client that inverts colours in dark mode inverts a pair set together; a text colour
    left to the client on a light background we chose would turn light on light."""
    tree = lxml.html.document_fromstring(rendered.html)
    for element in tree.iter():
        style = element.get("style", "") if isinstance(element.tag, str) else ""
        if "background-color" in style and element.tag not in ("table", "body"):
            coloured = element.text_content().strip() == "" or re.search(
                r"(?<![\w-])color:", style) or all(
                re.search(r"(?<![\w-])color:", child.get("style", ""))
                for child in element.iter() if child is not element
                and isinstance(child.tag, str) and child.tag in ("p", "a", "span", "td"))
            assert coloured, (kind, element.tag, style)


@pytest.mark.parametrize(("kind", "rendered"), ALL, ids=IDS)
def test_phone_styles_stay_in_the_head_and_beat_the_inline_ones(
        kind: str, rendered: Rendered) -> None:
    tree = lxml.html.document_fromstring(rendered.html)
    css = head_css(tree)
    media = re.search(r"@media[^{]+\{(.*)\}\s*$", css, re.S)
    assert media, kind
    declarations = [d.strip() for d in re.findall(r"\{([^{}]*)\}", media.group(1))
                    for d in d.split(";") if d.strip()]
    assert declarations and all(d.endswith("!important") for d in declarations), declarations
    card = tree.find_class("card")[0]
    if is_web_page(kind):  # a browser reads the head: nothing inlined, the rules all there
        assert card.get("style") is None and re.search(r"\.card \{ padding: 28px;", css)
    else:  # everything outside @media was inlined: no other rule is left in the head
        assert re.sub(r"@media[^{]+\{.*\}\s*$", "", css, flags=re.S).strip() == ""
        assert "padding:28px" in card.get("style")
    assert re.search(
        r"\.card\s*\{\s*padding: 22px 18px !important", css)


@pytest.mark.parametrize(("kind", "rendered"), ALL, ids=IDS)
def test_the_text_part_is_wrapped_at_78_columns_without_breaking_a_url(
        kind: str, rendered: Rendered) -> None:
    for line in rendered.text.splitlines():
        assert len(line) <= TEXT_WIDTH or re.fullmatch(r"\s*\S+", line), (kind, line)
    tree = lxml.html.document_fromstring(rendered.html)
    for link in tree.iter("a"):
        url = link.get("href").removeprefix("mailto:")
        # whole, on one line
        assert re.search(rf"(?<!\S){re.escape(url)}(?![\w/%?#=&-])", rendered.text), (kind, url)


def test_a_long_win_is_wrapped_with_its_indent_kept() -> None:
    text = dict(ALL)["invitation"].text
    quoted = text[text.index('  "By the summer'):].split("\n\n")[0].splitlines()
    assert len(quoted) > 1 and all(line.startswith("  ") for line in quoted)
    assert " ".join(line.strip() for line in quoted) == f'"{LONG_WIN}"'


class _Counting(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Counting.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"p { color: red; }")

    def log_message(self, *args: Any) -> None:
        pass


def test_premailer_fetches_nothing_from_the_network() -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/evil.css"
        html = (f'<html><head><link rel="stylesheet" href="{url}"><style>p {{ margin: 0; }}'
                "</style></head><body><p>Hi</p></body></html>")
        inlined = premailer_inline(html)
    finally:
        server.shutdown()
        server.server_close()
    assert _Counting.requests == []
    assert 'style="margin:0"' in inlined and "color: red" not in inlined


def test_rendering_every_kind_prints_no_css_warning(
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    clear()  # make Premailer (and cssutils) really run
    with caplog.at_level(logging.DEBUG):
        list(rendered_kinds(win=LONG_WIN))
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING
             or r.name.startswith(("cssutils", "premailer", "CSSUTILS"))]
    assert noisy == []


def test_list_id_names_the_coalition_on_the_sending_domain() -> None:
    assert list_id("Harbour Clean Air", "harbour-air", "example.org") == (
        "Harbour Clean Air <harbour-air.lists.example.org>")
    assert list_id('Caf\u00e9 "North" <x>', "Caf\u00e9_N", "Example.ORG") == (
        '"Caf\u00e9 North x" <caf-n.lists.example.org>')


def test_every_message_says_it_was_sent_automatically_by_a_named_sender() -> None:
    message = build_message(dict(ALL)["notice"], sender="cos@example.org", to_name="Ana",
                            to_addr="ana@example.org", message_id="<1@example.org>")
    assert message["Auto-Submitted"] == "auto-generated"
    assert str(message["From"]) == "COS Cadence <cos@example.org>"


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed
