"""Premailer once per email shape, replayed for every recipient, byte for byte the same.

Premailer's work (parse the CSS, match every selector, merge the styles, serialise) depends on
the document's elements, classes and other attributes, never on the words between the tags or
on the links. So each document is parsed, its text and link slots are cut out, and what is
left (the shape) is the cache key. The first document of a shape goes through Premailer twice:
once as it is, and once with a numbered marker in every slot. When the marker version, with
each marker replaced by its slot's serialised value, equals the real output, the marker
version is kept and later documents of that shape are built from it by substitution; when it
does not (a shape this trick cannot handle), the shape is remembered as one that always goes
through Premailer. Either way the result is what render-then-Premailer gives.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from lxml import etree

# Attributes whose values are per recipient and that no CSS selector of ours reads.
SLOT_ATTRIBUTES = frozenset({"href", "src", "alt", "title"})
# Elements whose text the HTML serialiser writes raw: their content is part of the shape.
RAW_TEXT = frozenset({"style", "script"})
# Enough shapes for every kind with every length of list a coalition has; beyond this the
# cache starts again (it never grows without bound in a long-running worker).
MAX_SHAPES = 512

_MARKER = "cosslot{}q"
# A marker in an attribute comes out in quotes, which the value's own quoting replaces.
_MARKER_RE = re.compile(r'"?cosslot(\d+)q"?')
_SAFE_TEXT = re.compile(r"[^&<>\x80-\U0010ffff]*")
_lock = threading.Lock()
# shape -> marker output, or None for a shape that always goes through Premailer
_shapes: dict[Any, str | None] = {}
_stats = {"hits": 0, "misses": 0, "unreplayable": 0}


def _parse(html: str) -> tuple[Any, Any, bool]:
    """Parse the way Premailer does; return the tree, its root and whether the doctype counts."""
    stripped = html.strip()
    tree = etree.fromstring(stripped, etree.HTMLParser()).getroottree()
    return tree, tree.getroot(), stripped.startswith(tree.docinfo.doctype)


def _serialise(tree: Any, root: Any, with_doctype: bool) -> str:
    """Serialise as Premailer's transform() does."""
    node = tree if with_doctype else root
    return str(etree.tostring(node, method="html", pretty_print=True,
                              encoding="utf-8").decode("utf-8"))


@lru_cache(maxsize=4096)
def _text_out(container: str, text: str) -> str:
    """Return how lxml writes this text inside this element."""
    if container not in RAW_TEXT and _SAFE_TEXT.fullmatch(text):
        return text
    element = etree.Element(container)
    element.text = text
    out = etree.tostring(element, method="html", encoding="utf-8").decode("utf-8")
    start, end = out.index(">") + 1, out.rindex("</")
    return out[start:end]


@lru_cache(maxsize=4096)
def _attribute_out(tag: str, name: str, value: str) -> str:
    """Return how lxml writes this attribute value (quotes included) on this element."""
    element = etree.Element(tag)
    element.set(name, value)
    out = etree.tostring(element, method="html", encoding="utf-8").decode("utf-8")
    prefix = f"<{tag} {name}="
    if not out.startswith(prefix) or out[len(prefix)] not in "\"'":
        raise ValueError(f"cannot replay attribute {name} on {tag}")
    quote = out[len(prefix)]
    close = out.index(quote, len(prefix) + 1)
    return out[len(prefix):close + 1]


def _cut(root: Any) -> tuple[tuple[Any, ...], list[tuple[Any, str, str]]]:
    """Walk the tree; return its shape and the slots (element, where, tag-or-attr) in order.

    `where` is "text", "tail" or "attr"; the shape keeps everything but the slots' values.
    """
    shape: list[Any] = []
    slots: list[tuple[Any, str, str]] = []
    for element in root.iter():
        tag = element.tag
        if not isinstance(tag, str):  # a comment or processing instruction: part of the shape
            shape.append(("#", str(tag), element.text, _tail_kind(element, slots)))
            continue
        attributes = []
        for name, value in element.attrib.items():
            if name in SLOT_ATTRIBUTES:
                slots.append((element, "attr", name))
                attributes.append((name, None))
            else:
                attributes.append((name, value))
        text = element.text
        if text is None or tag in RAW_TEXT or not text.strip():
            text_kind: Any = text
        else:
            slots.append((element, "text", tag))
            text_kind = 1
        shape.append((tag, tuple(attributes), text_kind, _tail_kind(element, slots)))
    return tuple(shape), slots


def _tail_kind(element: Any, slots: list[tuple[Any, str, str]]) -> Any:
    tail = element.tail
    if tail is None or not tail.strip():
        return tail
    slots.append((element, "tail", ""))
    return 1


def _slot_values(slots: list[tuple[Any, str, str]]) -> list[str]:
    """Return each slot's value as the serialiser writes it."""
    out = []
    for element, where, name in slots:
        if where == "attr":
            out.append(_attribute_out(element.tag, name, element.get(name)))
        elif where == "text":
            out.append(_text_out(element.tag, element.text))
        else:
            parent = element.getparent()
            out.append(_text_out(parent.tag if parent is not None else "div", element.tail))
    return out


def _mark(slots: list[tuple[Any, str, str]]) -> None:
    """Put a numbered marker in every slot (in place)."""
    for number, (element, where, name) in enumerate(slots):
        marker = _MARKER.format(number)
        if where == "attr":
            element.set(name, marker)
        elif where == "text":
            element.text = marker
        else:
            element.tail = marker


def _fill(marked: str, values: list[str]) -> str:
    """Replace the markers of a marked output with the slots' values, in one pass."""
    return _MARKER_RE.sub(lambda m: values[int(m.group(1))], marked)


def replay_inline(html: str, premailer: Callable[[str], str]) -> str:
    """Return premailer(html), computed once per shape and replayed for the rest."""
    if "cosslot" in html:  # a value that looks like a marker: no replay for it
        return premailer(html)
    tree, root, with_doctype = _parse(html)
    shape, slots = _cut(root)
    key = (with_doctype, tree.docinfo.doctype, shape)
    with _lock:
        known = key in _shapes
        marked = _shapes.get(key)
    if known:
        if marked is None:
            return premailer(html)
        _stats["hits"] += 1
        return _fill(marked, _slot_values(slots))
    _stats["misses"] += 1
    real = premailer(html)
    marked = None
    try:
        values = _slot_values(slots)
        _mark(slots)
        candidate = premailer(_serialise(tree, root, with_doctype))
        if (len(_MARKER_RE.findall(candidate)) == len(slots)
                and _fill(candidate, values) == real):
            marked = candidate
    except (ValueError, etree.LxmlError):
        marked = None
    if marked is None:
        _stats["unreplayable"] += 1
    with _lock:
        if len(_shapes) >= MAX_SHAPES:
            _shapes.clear()
        _shapes[key] = marked
    return real


def stats() -> dict[str, int]:
    """Return the cache's counts (hits, misses, unreplayable shapes), for tests and benches."""
    return dict(_stats, shapes=len(_shapes))


def clear() -> None:
    """Forget every shape (tests)."""
    with _lock:
        _shapes.clear()
        for name in _stats:
            _stats[name] = 0
