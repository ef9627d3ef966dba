"""Email templates, rendering with inlined CSS, and delivery backends.

The names below load their module on first use, so a command that only sends or checks the
mail settings does not load the templates and the CSS inliner (a fifth of a second)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emails import dkim
    from emails.message import build_message, list_id
    from emails.render import Rendered, render_email
    from emails.transport import (
        Backend,
        DeliveryError,
        FileOutbox,
        SMTPBackend,
        SMTPConnection,
        backend_from_url,
        reused_connection,
    )

_HOME = {
    "dkim": "emails.dkim",
    "build_message": "emails.message",
    "list_id": "emails.message",
    "Rendered": "emails.render",
    "render_email": "emails.render",
    "Backend": "emails.transport",
    "DeliveryError": "emails.transport",
    "FileOutbox": "emails.transport",
    "SMTPBackend": "emails.transport",
    "SMTPConnection": "emails.transport",
    "backend_from_url": "emails.transport",
    "reused_connection": "emails.transport",
}

__all__ = [
    "Backend",
    "DeliveryError",
    "FileOutbox",
    "Rendered",
    "SMTPBackend",
    "SMTPConnection",
    "backend_from_url",
    "build_message",
    "dkim",
    "list_id",
    "render_email",
    "reused_connection",
]


def __getattr__(name: str) -> Any:
    """Import the module a name lives in when the name is first asked for."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'emails' has no attribute {name!r}")
    module = importlib.import_module(home)
    value = module if name == "dkim" else getattr(module, name)
    globals()[name] = value
    return value
