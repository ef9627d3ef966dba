"""The registry of email kinds: for each kind, the function that gathers what it says.

A kind is one EmailKind member, one template triple in emails/templates, and one builder here,
registered with @email_kind where its content lives (pipeline.invitations, pipeline.digest).
`pipeline.queues` imports every such module, so a worker knows every kind.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from sqlmodel import Session

from pipeline.config import Settings
from pipeline.core.vocab import EmailKind
from pipeline.models import Coalition, Person, Round

# (session, settings, round, coalition, recipient) -> the template's context
ContextBuilder = Callable[[Session, Settings, Round, Coalition, Person], dict[str, Any]]

B = TypeVar("B", bound=ContextBuilder)

_BUILDERS: dict[EmailKind, ContextBuilder] = {}


def email_kind(kind: EmailKind) -> Callable[[B], B]:
    """Register the function that builds an email kind's context."""

    def register(builder: B) -> B:
        if kind in _BUILDERS and _BUILDERS[kind] is not builder:
            raise ValueError(f"email kind {kind!r} is registered twice")
        _BUILDERS[kind] = builder
        return builder

    return register


# The modules that register a kind: loaded when a builder is first asked for, so whatever
# composes an email knows every kind without importing them all at start-up.
KIND_MODULES = ("pipeline.invitations", "pipeline.reminders", "pipeline.digest")


def load_kinds() -> None:
    """Import every module that registers a kind (once; cheap after the first time)."""
    for module in KIND_MODULES:
        importlib.import_module(module)


def builder_for(kind: str) -> ContextBuilder:
    """Return the context builder of a kind, or say which kinds are known."""
    load_kinds()
    try:
        return _BUILDERS[EmailKind(kind)]
    except (KeyError, ValueError):
        raise LookupError(f"no email kind {kind!r} is registered (known: "
                          f"{', '.join(sorted(_BUILDERS))}); is its module imported by "
                          "pipeline.queues?") from None


def registered() -> frozenset[EmailKind]:
    """Return the kinds that have a builder."""
    return frozenset(_BUILDERS)


# Set on the session a batch of sends composes in: builders may keep what every email of the
# batch shares (an organisation's commitments, say) here instead of asking again.
BATCH_MEMO = "cos.batch_memo"


def batch_memo(session: Session) -> dict[Any, Any] | None:
    """Return the memo of the batch this session composes, or None outside a batch."""
    memo = session.info.get(BATCH_MEMO)
    return memo if isinstance(memo, dict) else None


def memoised(session: Session, key: Any, load: Callable[[], Any]) -> Any:
    """Return load(), kept in the batch's memo under key while a batch composes."""
    memo = batch_memo(session)
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]


M = TypeVar("M")
_MISSING = object()


def batch_get(session: Session, model: type[M], ident: int | None) -> M | None:
    """session.get(model, ident), from the batch's memo while a batch composes: what the
    batch loaded up front (pipeline.sending) is found there without session.get's mapper
    lookups, and a row that is not there is asked for once."""
    memo = batch_memo(session)
    if memo is None or ident is None:
        return session.get(model, ident) if ident is not None else None
    found = memo.get((model, ident), _MISSING)
    if found is _MISSING:
        found = memo[(model, ident)] = session.get(model, ident)
    return found


def keep_in_batch(session: Session, rows: list[Any]) -> None:
    """Put loaded rows into the batch's memo, for batch_get."""
    memo = batch_memo(session)
    if memo is not None:
        for row in rows:
            memo[(type(row), row.id)] = row
