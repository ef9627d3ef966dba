"""Sentences the COS model shows people, kept translatable without gettext in the core.

A rule writes ``words(N_("Phone %(names)s; don't email."), names=...)``: the English text is
the msgid with its values filled in (``str(w)``), and ``as_data()`` keeps msgid and values apart
in the stored snapshot, so the presentation edge (``emails.model_words``) can write the same
sentence in the reader's language with numbers in the reader's locale. ``N_`` only marks a
msgid for ``pybabel extract``; the core imports nothing of Babel.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any


def N_(message: str) -> str:  # noqa: N802 (gettext's conventional name)
    """Mark a msgid for the catalog; it is translated where it is shown."""
    return message



@dataclass(frozen=True)
class Words:
    """An English sentence (its msgid) and the values that fill it."""

    msgid: str
    values: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        if not self.values:
            return self.msgid
        return self.msgid % {k: _english(v) for k, v in self.values}

    def as_data(self) -> dict[str, Any]:
        """Plain JSON-ready data: {"msgid": ..., "values": {name: value or nested words}}."""
        return {"msgid": self.msgid, "values": {k: _data(v) for k, v in self.values}}


def _data(value: Any) -> Any:
    """A value as JSON data: words nested, a Decimal as {"decimal": "2.50"} (its places kept)."""
    if isinstance(value, Words):
        return value.as_data()
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    return value


def _english(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def words(msgid: str, **values: Any) -> Words:
    """Return ``Words`` for a msgid and its values (sorted by name, so snapshots compare)."""
    return Words(msgid, tuple(sorted(values.items())))


def listed(names: list[str] | tuple[str, ...], limit: int = 6) -> str | Words:
    """Names joined by commas, the rest counted: "A, B and 3 more" (a Words when counted)."""
    shown = list(names[:limit])
    more = len(names) - len(shown)
    if more <= 0:
        return ", ".join(shown)
    return words(N_("%(names)s and %(more)s more"), names=", ".join(shown), more=more)
