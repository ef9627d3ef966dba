"""Email templates, rendering with inlined CSS, and delivery backends."""

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
