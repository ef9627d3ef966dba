"""Email templates, rendering with inlined CSS, and delivery backends."""

from emails.message import build_message
from emails.render import Rendered, render_email
from emails.transport import Backend, DeliveryError, FileOutbox, SMTPBackend, backend_from_url

__all__ = [
    "Backend",
    "DeliveryError",
    "FileOutbox",
    "Rendered",
    "SMTPBackend",
    "backend_from_url",
    "build_message",
    "render_email",
]
