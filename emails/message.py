"""Build a MIME message from a rendered email."""

from __future__ import annotations

import email.policy
import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage

from emails.render import Rendered, one_line

# Headers build_message sets itself; extra headers may not replace them.
OWN_HEADERS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


def _no_line_breaks(name: str, value: str) -> str:
    """Return the value, refusing it if it holds a CR or LF (header injection)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} must not contain line breaks: {value!r}")
    return value


def _address(name: str, addr: str, *, header: str) -> Address:
    """Make an address whose display name cannot break out of its header."""
    _no_line_breaks(header, addr)
    addr = addr.strip()
    if "@" not in addr:
        raise ValueError(f"{header} address {addr!r} is not an email address")
    return Address(display_name=one_line(name), addr_spec=addr)


def _sender(sender: str) -> Address:
    """Parse a sender like "Coalition <cos@example.org>" into an address."""
    _no_line_breaks("From", sender)
    name, addr = email.utils.parseaddr(sender)
    return _address(name, addr or sender, header="From")


def _message_id(message_id: str) -> str:
    """Return the Message-ID in angle brackets."""
    value = _no_line_breaks("Message-ID", message_id).strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    return value


def build_message(
    rendered: Rendered,
    *,
    sender: str,
    to_name: str,
    to_addr: str,
    message_id: str,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """Build a multipart/alternative message: the text part first, then the HTML."""
    message = EmailMessage(policy=email.policy.default)
    message["From"] = _sender(sender)
    message["To"] = _address(to_name, to_addr, header="To")
    message["Subject"] = one_line(rendered.subject)
    message["Date"] = email.utils.format_datetime(datetime.now(UTC))
    message["Message-ID"] = _message_id(message_id)
    for name, value in (headers or {}).items():
        if not name.isascii() or not name.isprintable() or ":" in name or " " in name:
            raise ValueError(f"{name!r} is not a valid header name")
        if name.lower() in OWN_HEADERS:
            raise ValueError(f"header {name} is set by build_message and cannot be overridden")
        message[name] = _no_line_breaks(name, value)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
