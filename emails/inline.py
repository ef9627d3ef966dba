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

A new shape need not cost two Premailer runs, nor even one. With a stylesheet of simple
selectors only (a tag, a class, or both, and @media rules Premailer leaves in the head), what
Premailer does to an element (its style, bgcolor, align and valign attributes, and the leftover
rules of a <style>) depends on nothing but that element's tag and attributes. So the first
Premailer run of a stylesheet is also read element by element: each (tag, attributes) seen is
remembered with the attributes Premailer gave it. A later document whose elements are all
known is inlined by setting those attributes on its own tree and serialising it as Premailer
does, with no Premailer run; the marker version of its shape is made the same way. A document
with an element not seen yet goes through Premailer once, which teaches its elements. Each
element table is checked when learned: the document rebuilt from it must equal Premailer's
output byte for byte, or the stylesheet goes back to the two-run way above. A 67 KB digest of a
500-organisation coalition (a new shape every round) then costs a few milliseconds instead of
two Premailer runs (~250 ms) in a freshly forked worker.
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
_stats = {"hits": 0, "misses": 0, "unreplayable": 0, "built": 0, "probes": 0}
# stylesheet -> {(tag, attributes without slots, raw text): (attributes out, raw text out)},
# or None for a stylesheet whose elements cannot be inlined one by one
_elements: dict[Any, dict[Any, Any] | None] = {}
MAX_ELEMENTS = 20_000  # distinct elements remembered per stylesheet before starting again
# A selector Premailer applies the same way wherever the element stands: tag, .class, tag.class.
_SIMPLE_SELECTOR = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9]*)?(?:\.[a-zA-Z_][\w-]*)*$")
_MEDIA = re.compile(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}")
_RULE = re.compile(r"([^{}]+)\{[^{}]*\}")


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


def _stylesheet(root: Any) -> tuple[str, ...]:
    """Return the document's stylesheets (the text of each <style>), the element tables' key."""
    return tuple(e.text or "" for e in root.iter("style"))


@lru_cache(maxsize=64)
def _simple(stylesheet: tuple[str, ...]) -> bool:
    """Say whether every rule Premailer inlines has simple selectors (tag, class, tag.class),
    so that what it does to an element depends on the element alone."""
    for css in stylesheet:
        css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
        rest = _MEDIA.sub("", css)
        if "@" in rest:
            return False
        if _RULE.sub("", rest).strip():
            return False  # something that is not a plain rule
        for selectors in _RULE.findall(rest):
            if not all(_SIMPLE_SELECTOR.match(s.strip()) and s.strip()
                       for s in selectors.split(",")):
                return False
    return True


def _signature(element: Any) -> Any:
    """Return what Premailer's work on an element depends on (slot attributes left out)."""
    return (element.tag,
            tuple((n, v) for n, v in element.attrib.items() if n not in SLOT_ATTRIBUTES),
            element.text if element.tag in RAW_TEXT else None)


def _learn(root: Any, out_root: Any) -> dict[Any, Any] | None:
    """Read Premailer's output element by element against its input; None if the two trees
    do not line up (Premailer added or removed an element)."""
    learned: dict[Any, Any] = {}
    ins, outs = list(root.iter()), list(out_root.iter())
    if len(ins) != len(outs):
        return None
    for before, after in zip(ins, outs, strict=True):
        if before.tag != after.tag:
            return None
        if not isinstance(before.tag, str):
            continue
        out_attributes = tuple((n, None if n in SLOT_ATTRIBUTES else v)
                               for n, v in after.attrib.items())
        learned[_signature(before)] = (out_attributes,
                                       after.text if before.tag in RAW_TEXT else None)
    return learned


def _rebuild(root: Any, table: dict[Any, Any]) -> bool:
    """Give every element the attributes Premailer gives it (in place); False, with the tree
    untouched, when an element is not in the table."""
    plan = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        done = table.get(_signature(element))
        if done is None:
            return False
        plan.append((element, done))
    for element, (attributes, text) in plan:
        slots = {n: element.get(n) for n in SLOT_ATTRIBUTES.intersection(element.attrib)}
        element.attrib.clear()
        for name, value in attributes:
            element.set(name, slots[name] if value is None else value)
        if element.tag in RAW_TEXT:
            element.text = text
    return True


def _probe(root: Any, with_doctype: bool, stylesheet: tuple[str, ...], table: dict[Any, Any],
           premailer: Callable[[str], str]) -> bool:
    """Teach the table the document's elements it does not know from a small document: the
    document cut down to those elements, their ancestors and the stylesheets (so each stands
    where it stood). Return whether the table learned something (and was checked against
    Premailer's output for the probe)."""
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    unknown = [e for e in elements if _signature(e) not in table]
    if not unknown:
        return False
    keep: set[Any] = set()
    for element in unknown + list(root.iter("style")):
        while element is not None and element not in keep:
            keep.add(element)
            element = element.getparent()
    probe = etree.fromstring(etree.tostring(root))  # a copy, walked alongside the original
    for original, copied in zip(list(root.iter()), list(probe.iter()), strict=True):
        if original not in keep and copied.getparent() is not None:
            copied.getparent().remove(copied)
    document = etree.tostring(probe.getroottree() if with_doctype else probe, method="html",
                              encoding="unicode", doctype=root.getroottree().docinfo.doctype
                              if with_doctype else None)
    _stats["probes"] += 1
    out = premailer(document)
    probe_tree, probe_root, probe_doctype = _parse(document)
    learned = _learn(probe_root, _parse(out)[1])
    with _lock:
        if learned is None or any(table.get(k, v) != v for k, v in learned.items()):
            _elements[stylesheet] = None
            return False
        merged = {**table, **learned}
    if not _rebuild(probe_root, merged) or _serialise(probe_tree, probe_root,
                                                     probe_doctype) != out:
        with _lock:
            _elements[stylesheet] = None
        return False
    with _lock:
        _elements[stylesheet] = merged if len(merged) <= MAX_ELEMENTS else learned
    return True


def _built(tree: Any, root: Any, with_doctype: bool, slots: list[tuple[Any, str, str]],
           table: dict[Any, Any]) -> tuple[str, str | None] | None:
    """Inline from the element table: return the output and its shape's marker version (None
    when the markers do not replay), or None when an element is not in the table."""
    if not _rebuild(root, table):
        return None
    out = _serialise(tree, root, with_doctype)
    values = _slot_values(slots)
    _mark(slots)
    marked: str | None = _serialise(tree, root, with_doctype)
    if not (len(_MARKER_RE.findall(marked or "")) == len(slots)
            and _fill(marked or "", values) == out):
        marked = None
    return out, marked


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
    stylesheet = _stylesheet(root)
    with _lock:
        table = _elements.get(stylesheet, {}) if _simple(stylesheet) else None
    try:
        if table and _probe(root, with_doctype, stylesheet, table, premailer):
            with _lock:
                table = _elements.get(stylesheet)
        built = _built(tree, root, with_doctype, slots, table) if table else None
    except (ValueError, etree.LxmlError):
        built = None
    if built is not None:
        _stats["built"] += 1
        real, marked = built
        _remember(key, marked)
        return real
    _stats["misses"] += 1
    real = premailer(html)
    marked = None
    if table is not None:
        marked = _learn_from(html, real, stylesheet, table)
        if marked is not None:
            _remember(key, marked)
            return real
    try:
        tree, root, with_doctype = _parse(html)  # _learn_from may have changed the first one
        shape, slots = _cut(root)
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
    _remember(key, marked)
    return real


def _remember(key: Any, marked: str | None) -> None:
    with _lock:
        if len(_shapes) >= MAX_SHAPES:
            _shapes.clear()
        _shapes[key] = marked


def _learn_from(html: str, real: str, stylesheet: tuple[str, ...],
                table: dict[Any, Any]) -> str | None:
    """Learn the document's elements from Premailer's output and check the table rebuilds
    that output exactly; return the shape's marker version, or None (and the stylesheet is
    no longer inlined element by element) when it does not."""
    try:
        tree, root, with_doctype = _parse(html)
        _, out_root, _ = _parse(real)
        learned = _learn(root, out_root)
        if learned is None:
            raise ValueError("Premailer added or removed an element")
        conflicting = any(table.get(k, v) != v for k, v in learned.items())
        merged = {**table, **learned}
        _, slots = _cut(root)
        built = None if conflicting else _built(tree, root, with_doctype, slots, merged)
    except (ValueError, etree.LxmlError):
        built = None
    with _lock:
        if built is None or built[0] != real:
            _elements[stylesheet] = None
            return None
        _elements[stylesheet] = merged if len(merged) <= MAX_ELEMENTS else learned or {}
    return built[1]


def stats() -> dict[str, int]:
    """Return the cache's counts, for tests and benches: hits (a known shape replayed),
    misses (Premailer ran), built (a new shape inlined from known elements, no Premailer),
    unreplayable (shapes that always go through Premailer) and shapes."""
    return dict(_stats, shapes=len(_shapes))


def clear() -> None:
    """Forget every shape (tests)."""
    with _lock:
        _shapes.clear()
        _elements.clear()
        for name in _stats:
            _stats[name] = 0
