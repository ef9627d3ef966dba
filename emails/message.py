"""Build a MIME message from a rendered email."""

from __future__ import annotations

import email.policy
import email.utils
import re
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
    return _address(name or DEFAULT_DISPLAY_NAME, addr or sender, header="From")


_LIST_LABEL = re.compile(r"[^a-z0-9-]+")
DEFAULT_DISPLAY_NAME = "COS Cadence"


def list_id(name: str, slug: str, domain: str) -> str:
    """Return a coalition's List-Id (RFC 2919), e.g. "Harbour Clean Air <harbour-air.lists.x.org>".

    Filters and one-click unsubscribe in Gmail and Yahoo group a sender's mail by it, so each
    coalition gets its own.
    """
    label = _LIST_LABEL.sub("-", slug.lower()).strip("-")[:63].strip("-") or "coalition"
    host = ".".join(part for part in (_LIST_LABEL.sub("-", piece).strip("-")
                                      for piece in domain.lower().split(".")) if part)
    phrase = one_line(re.sub(r'["\\<>]', "", name))
    value = f"<{label}.lists.{host or 'localhost'}>"
    if not phrase:
        return value
    plain = re.fullmatch(r"[A-Za-z0-9 !#$%&'*+/=?^_`{|}~-]+", phrase)
    return f"{phrase} {value}" if plain else f'"{phrase}" {value}'


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
    if "Auto-Submitted" not in message:
        # RFC 3834: no out-of-office reply or auto-forward loop for anything we send.
        message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
