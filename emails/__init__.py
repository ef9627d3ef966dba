"""Email templates, rendering with inlined CSS, and delivery backends."""

from emails.message import build_message
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

__all__ = [
    "Backend",
    "DeliveryError",
    "FileOutbox",
    "Rendered",
    "SMTPBackend",
    "SMTPConnection",
    "backend_from_url",
    "build_message",
    "render_email",
    "reused_connection",
]
