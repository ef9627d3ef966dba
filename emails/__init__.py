"""Email templates, rendering with inlined CSS, and delivery backends."""

from emails.delivery import Backend, DeliveryError, FileOutbox, SMTPBackend, backend_from_url
from emails.message import build_message
from emails.render import Rendered, render_email

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
