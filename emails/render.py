"""Render an email kind to its subject, text and inlined HTML parts."""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jinja2
from premailer import Premailer

from emails.format import FILTERS, TESTS, one_line
from emails.i18n import install, template_values
from emails.inline import replay_inline

TEMPLATE_DIR = Path(__file__).parent / "templates"


def template_kinds() -> frozenset[str]:
    """Return the kinds that have a full template triple (subject, text and HTML)."""
    return frozenset(
        path.name.removesuffix(".subject.txt")
        for path in TEMPLATE_DIR.glob("*.subject.txt")
        if (TEMPLATE_DIR / path.name.replace(".subject.txt", ".txt")).exists()
        and (TEMPLATE_DIR / path.name.replace(".subject.txt", ".html")).exists()
    )


KINDS = template_kinds()

# Keys a template may read that the caller is allowed to leave out.
OPTIONAL_KEYS: Mapping[str, Any] = {
    "contact": None,  # {"name": ..., "email": ...}: whom to write to with questions
    "footer_reason": None,
    "unsubscribe_link": None,  # recurring emails: the person's opt-out page
    "lead_organisation": None,
    "web_link": None,
    "language": None,  # the reader's language (emails.i18n.LANGUAGES); English when unset
    "number_locale": None,  # the coalition's locale for numbers (Babel), else the language's
    "web": False,  # True for a page in a browser (render_web), not an email
}


@dataclass(frozen=True)
class Rendered:
    """One email ready to be put in a message: subject line, text part, HTML part."""

    subject: str
    text: str
    html: str


@cache
def environment() -> jinja2.Environment:
    """Return the shared Jinja environment: HTML autoescaped, undefined names fail."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Templates ship with the code: no stat() of three files for every email rendered.
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    env.tests.update(TESTS)
    install(env)
    return env


def inline_css(html: str) -> str:
    """Move the layout's CSS into style attributes, keeping @media rules in the head.

    The result is premailer_inline(html) byte for byte; Premailer runs once per shape of
    email and is replayed for the rest (emails.inline).
    """
    return replay_inline(html, premailer_inline)


def premailer_inline(html: str) -> str:
    """Run Premailer on the HTML: the reference inline_css must equal."""
    return Premailer(
        html,
        allow_network=False,
        cssutils_logging_level=logging.CRITICAL,
        # Keep !important on the leftover @media rules so phone styles beat inline ones.
        strip_important=False,
        disable_link_rewrites=True,
        # Width and height attributes are written in the templates for Outlook; CSS widths
        # such as the fluid 100% of the container must not overwrite them.
        disable_basic_attributes=["width", "height"],
    ).transform()


def render_email(kind: str, context: Mapping[str, Any]) -> Rendered:
    """Render the subject, text and HTML of an email kind from its context."""
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}: expected one of {sorted(KINDS)}")
    return render_named(kind, context)


def render_named(name: str, context: Mapping[str, Any]) -> Rendered:
    """Render a template triple by name: an email kind, or an account email ("account/...").

    Emails that differ only in their personal values (emails.personal) are filled in from one
    rendering per shape; the result is the same, byte for byte."""
    from emails.personal import render_personal

    return render_personal(name, context, _render_full)


def _render_full(name: str, context: Mapping[str, Any]) -> Rendered:
    """Render the templates, then inline the CSS: the reference every email must equal."""
    subject, text, html = render_templates(name, context)
    return Rendered(subject=subject, text=text, html=inline_css(html))


def render_web(name: str, context: Mapping[str, Any]) -> Rendered:
    """Render a template triple as a web page (the digest's web version): the same templates
    with `web` set, the styles left in the layout's <style> block, no CSS inliner.

    A browser reads the stylesheet itself, so the inliner's work (and its memory: 1.1 GB for a
    100,000-person digest) buys nothing; the page's CSP must allow the <style> block."""
    subject, text, html = render_templates(name, {**context, "web": True})
    return Rendered(subject=subject, text=text, html=html)


def render_templates(kind: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
    """Render a template triple's subject, text and HTML before any CSS is inlined."""
    subject, text, html = render_raw(kind, context)
    return one_line(subject), finish_text(text), html


def render_raw(kind: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
    """Render a template triple as the templates write it: the subject not yet on one line,
    the text not yet wrapped (render_templates finishes both)."""
    env = environment()
    values = {**OPTIONAL_KEYS, "coalition_name": "COS Cadence", **context}
    values.update(template_values(values["language"]))
    subject = env.get_template(f"{kind}.subject.txt").render(values)
    text = env.get_template(f"{kind}.txt").render(values)
    html = env.get_template(f"{kind}.html").render({**values, "subject": one_line(subject)})
    return subject, text, html


def finish_text(text: str) -> str:
    """Wrap a rendered text part as it goes out: stripped, long lines wrapped, one newline."""
    return wrap_text(text.strip()) + "\n"


TEXT_WIDTH = 78
_BULLET = re.compile(r"(\s*)([-*•] |\d+[.)] )?")


def wrap_text(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap the text part's long lines at `width` columns, for people reading plain text.

    Lines are broken at spaces only, so a URL is never split (a URL longer than the width
    stands on a line of its own); a wrapped list item or indented quote keeps its indent.
    """
    out = []
    for line in text.split("\n"):
        if len(line) <= width or " " not in line.strip():
            out.append(line)
            continue
        out.extend(_wrap_line(line, width))
    return "\n".join(out)


@lru_cache(maxsize=4096)
def _wrap_line(line: str, width: int) -> tuple[str, ...]:
    """Wrap one long line (kept: most lines are the same in every email of a round)."""
    match = _BULLET.match(line)
    assert match is not None
    indent = match.group(1)
    hanging = indent + " " * len(match.group(2) or "")
    return tuple(textwrap.wrap(line.strip(), width=width, initial_indent=indent,
                               subsequent_indent=hanging, break_long_words=False,
                               break_on_hyphens=False) or [""])


def warm() -> int:
    """Render every kind's example once (templates compiled, Premailer's CSS parsed, the
    inliner's shapes for the examples cached); return how many kinds rendered. A forking
    worker calls this before it forks, so every job starts with what it made."""
    from emails.examples import NAMES, render_example, vocabulary  # they import nothing heavy

    done = 0
    for name in NAMES:
        try:
            render_example(name)
            done += 1
        except Exception:  # an example that no longer renders is a test's business, not ours
            logging.getLogger(__name__).debug("could not warm %s", name, exc_info=True)
    for kind, context in vocabulary():  # every element a kind can have, for the inliner
        try:
            render_email(kind, context)
        except Exception:
            logging.getLogger(__name__).debug("could not warm %s", kind, exc_info=True)
    return done
