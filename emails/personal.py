"""One rendering per shape of email, with each recipient's personal values filled in.

In a round's fan-out the emails of one organisation differ only in a few values: the person's
name and their personal links. Rendering the templates and inlining the CSS for each of them
repeats the same work, so the first email of a shape (its kind and every value but the
personal ones) is rendered once with a marker in place of each personal value, and the others
are made from that rendering by putting each value where its marker stands, written as the
HTML serialiser writes it there (text is escaped as lxml escapes text; an attribute holding a
marker is written whole, as lxml writes that attribute on that element).

A shape's rendering is used only after it was checked: filled with awkward sample values, it
must equal the full render-then-inline of the same context, byte for byte, or the shape is
remembered as one that always takes the full path. A personal value that is not a plain
printable string takes the full path too. `tests/test_inlining.py` holds both paths to
render-then-Premailer.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from emails.inline import RAW_TEXT, _attribute_out, _text_out

# The context keys whose values differ from one recipient to the next (and that the templates
# only print, never test or filter).
PERSONAL_KEYS = ("person_name", "link", "unsubscribe_link", "not_this_week_link")
_MARKER = "cospersonal{}z"
_MARKER_RE = re.compile(r"cospersonal(\d+)z")
# Values a shape is checked with before it is used: quotes, markup, entities, non-ASCII.
_SAMPLES = (
    ("Zoë O'Brien & <Co> \"Ltd\"", "https://cos.example.org/x/a?b=1&c=\"d\" é#f'<g>"),
    ("A", "mailto:x@example.org"),
)
MAX_SHAPES = 512

_lock = threading.Lock()
_plans: dict[Any, _Plan | None] = {}
# What a plan that passed its check looked like around its markers (see _signature): a new
# shape of the same kind whose markers stand exactly so is filled in as that one was, so it
# needs no check of its own (a round has a shape per organisation: the check would triple
# each one's cost).
_checked: set[Any] = set()
_stats = {"hits": 0, "misses": 0, "unusable": 0, "full": 0, "checked": 0}


@dataclass(frozen=True)
class _Attribute:
    """An attribute holding markers: written whole, as lxml writes it on its element."""

    tag: str
    name: str
    template: str  # the attribute's value with the markers in it

    def fill(self, values: list[str]) -> str:
        value = _MARKER_RE.sub(lambda m: values[int(m.group(1))], self.template)
        return f" {self.name}={_attribute_out(self.tag, self.name, value)}"


@dataclass(frozen=True)
class _Text:
    """A marker in text: the value escaped as lxml escapes text."""

    index: int

    def fill(self, values: list[str]) -> str:
        return _text_out("p", values[self.index])


@dataclass(frozen=True)
class _Plan:
    subject: str  # as the template writes it, markers in it
    text: str
    html: tuple[str | _Attribute | _Text, ...]

    def fill(self, values: list[str]) -> tuple[str, str, str]:
        """Return the raw subject, raw text and the finished HTML for these values."""

        def put(template: str) -> str:
            return _MARKER_RE.sub(lambda m: values[int(m.group(1))], template)

        html = "".join(piece if isinstance(piece, str) else piece.fill(values)
                       for piece in self.html)
        return put(self.subject), put(self.text), html


def _plain(value: Any) -> bool:
    """Say whether a personal value can be filled in: a printable str, no marker in it."""
    return type(value) is str and value.isprintable() and "cospersonal" not in value


def render_personal(name: str, context: Mapping[str, Any],
                    full: Callable[[str, Mapping[str, Any]], Any]) -> Any:
    """Return full(name, context), made from the shape's checked rendering when there is one.

    `full` renders and inlines (emails.render._render_full); it returns a Rendered."""
    from emails.render import Rendered, finish_text, one_line

    keys = tuple(k for k in PERSONAL_KEYS if context.get(k) is not None)
    if not keys or not all(_plain(context[k]) for k in keys):
        _stats["full"] += 1
        return full(name, context)
    rest = {k: v for k, v in context.items() if k not in keys}
    try:
        shape = (name, keys, json.dumps(rest, sort_keys=True, default=repr))
    except (TypeError, ValueError):  # keys that are not text: no shape to name
        _stats["full"] += 1
        return full(name, context)
    with _lock:
        known = shape in _plans
        plan = _plans.get(shape)
    if not known:
        _stats["misses"] += 1
        plan = _make_plan(name, rest, keys, full)
        with _lock:
            if len(_plans) >= MAX_SHAPES:
                _plans.clear()
            _plans[shape] = plan
    if plan is None:
        _stats["full"] += 1
        return full(name, context)
    _stats["hits"] += known
    subject, text, html = plan.fill([context[k] for k in keys])
    return Rendered(subject=one_line(subject), text=finish_text(text), html=html)


def _make_plan(name: str, rest: dict[str, Any], keys: tuple[str, ...],
               full: Callable[[str, Mapping[str, Any]], Any]) -> _Plan | None:
    """Render the shape once with markers; return its plan, or None when it does not check."""
    from emails.render import finish_text, inline_css, one_line, render_raw

    markers = {k: _MARKER.format(i) for i, k in enumerate(keys)}
    try:
        subject, text, html = render_raw(name, {**rest, **markers})
        plan = _Plan(subject, text, _cut(inline_css(html)))
    except (ValueError, etree.LxmlError):
        _stats["unusable"] += 1
        return None
    signature = _signature(name, keys, plan)
    with _lock:
        if signature in _checked:
            return plan
    _stats["checked"] += 1
    for sample in _SAMPLES:
        values = [sample[0] if k == "person_name" else sample[1] for k in keys]
        try:
            expected = full(name, {**rest, **dict(zip(keys, values, strict=True))})
            raw_subject, raw_text, got_html = plan.fill(values)
        except (ValueError, etree.LxmlError):
            got_html = None
        if got_html is None or (one_line(raw_subject), finish_text(raw_text), got_html) != (
                expected.subject, expected.text, expected.html):
            _stats["unusable"] += 1
            return None
    with _lock:
        if len(_checked) >= MAX_SHAPES:
            _checked.clear()
        _checked.add(signature)
    return plan


def _signature(name: str, keys: tuple[str, ...], plan: _Plan) -> Any:
    """What decides whether filling a plan in equals the full render: the kind, its personal
    keys, each marker's place in the HTML (the attribute it is written in, or text, with the
    40 characters before it) and how many markers the subject and text hold (a filter on a
    personal value there would change that). What differs between two organisations' shapes
    elsewhere (their names, commitments) is rendered by the full path in both."""
    places, before = [], ""
    for piece in plan.html:
        if isinstance(piece, str):
            before = piece
        else:
            places.append((before[-40:], piece))
    return (name, keys, tuple(places), len(_MARKER_RE.findall(plan.subject)),
            len(_MARKER_RE.findall(plan.text)))


def _cut(html: str) -> tuple[str | _Attribute | _Text, ...]:
    """Cut the inlined HTML at its markers: literal pieces, attributes and text values."""
    root = etree.fromstring(html.strip(), etree.HTMLParser())
    attributes: list[_Attribute] = []
    for element in root.iter():
        if not isinstance(element.tag, str):  # a comment: a marker there is not handled
            if "cospersonal" in (element.text or ""):
                raise ValueError("a personal value in a comment")
            continue
        if element.tag in RAW_TEXT and "cospersonal" in (element.text or ""):
            raise ValueError(f"a personal value in <{element.tag}>")
        for attr, value in element.attrib.items():
            if "cospersonal" in value:
                attributes.append(_Attribute(element.tag, attr, value))
    pieces: list[str | _Attribute | _Text] = []
    position = 0

    def texts(until: int) -> None:
        chunk = html[position:until]
        start = 0
        for match in _MARKER_RE.finditer(chunk):
            pieces.append(chunk[start:match.start()])
            pieces.append(_Text(int(match.group(1))))
            start = match.end()
        pieces.append(chunk[start:])

    for attribute in attributes:
        written = attribute.fill([_MARKER.format(i) for i in range(len(PERSONAL_KEYS))])
        found = html.find(written, position)
        if found < 0:
            raise ValueError(f"attribute {attribute.name} not found as written")
        texts(found)
        pieces.append(attribute)
        position = found + len(written)
    texts(len(html))
    return tuple(p for p in pieces if p != "")


def stats() -> dict[str, int]:
    """Return the counts (hits, misses, unusable shapes, full renders, shapes checked against
    the full render), for tests and benches."""
    return dict(_stats, shapes=len(_plans))


def clear() -> None:
    """Forget every shape (tests)."""
    with _lock:
        _plans.clear()
        _checked.clear()
        for name in _stats:
            _stats[name] = 0
