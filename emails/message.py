"""Build a MIME message from a rendered email."""

from __future__ import annotations

import binascii
import email.policy
import email.utils
import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from emails.format import one_line

if TYPE_CHECKING:  # rendering (Jinja, the CSS inliner) is not needed to build or send
    from emails.render import Rendered

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


class _StoredAsWritten(EmailPolicy):
    """The default policy, except that a short ASCII header value is stored as the text it is
    rather than parsed into a header object on the way in (the stdlib parses every header it
    is given: some 17 parses a message, the largest cost of a fan-out). Reading a header back
    still gives a parsed header object, parsed then; folding a stored text that fits on a line
    writes it as it is. Anything else (non-ASCII, long, a header object) goes the default way.
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if (isinstance(value, str) and value.isascii() and "\r" not in value and "\n" not in value
                and (len(name) + 2 + len(value) <= (self.max_line_length or 78)
                     or name.lower() not in _ADDRESS_HEADERS)):
            # A long one is parsed when it is folded (to_bytes), once instead of twice; an
            # address header of any length is parsed now, so a bad address fails here.
            return name, value
        if isinstance(value, str) and name.lower() not in _ADDRESS_HEADERS:
            # Parsed once per batch: a round's subject (non-ASCII: a cut name ends in "…")
            # is the same in every email, and a parsed header is never changed in place.
            key = (name, value)
            parsed = _PARSED.get(key)
            if parsed is None:
                if len(_PARSED) >= 256:
                    _PARSED.clear()
                parsed = _PARSED[key] = super().header_store_parse(name, value)
            return parsed
        return super().header_store_parse(name, value)

    def header_max_count(self, name: str) -> int | None:
        # The stdlib makes a header class to answer this, every time a header is set.
        key = name.lower()
        if key not in _MAX_COUNT:
            _MAX_COUNT[key] = super().header_max_count(name)
        return _MAX_COUNT[key]


_MAX_COUNT: dict[str, int | None] = {}
_PARSED: dict[tuple[str, str], tuple[str, Any]] = {}


_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "sender", "reply-to", "resent-from",
                               "resent-to", "resent-cc", "resent-bcc", "resent-sender"})
POLICY = _StoredAsWritten()
_SMTP = email.policy.SMTP


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


_ADDRESS_CACHE: dict[tuple[str, str, str], Address | str] = {}


_PLAIN_NAME = re.compile(r"[A-Za-z0-9 .'-]*")
_PLAIN_ADDR = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def _address_header(name: str, addr: str, *, header: str) -> Address | str:
    """The header value for an address: its text, quoted as RFC 5322 wants, when it is plain
    ASCII (stored as written), else an Address (encoded by the header registry). The address
    is checked the same way in both cases; a name of letters and spaces and a dot-atom
    address, which that check always passes, skip the parse."""
    if _PLAIN_NAME.fullmatch(name) and _PLAIN_ADDR.fullmatch(addr) and name == one_line(name):
        return email.utils.formataddr((name, addr))
    address = _address(name, addr, header=header)
    if address.display_name.isascii() and address.addr_spec.isascii():
        return email.utils.formataddr((address.display_name, address.addr_spec))
    return address


def _sender(sender: str) -> Address:
    """Parse a sender like "Coalition <cos@example.org>" into an address."""
    _no_line_breaks("From", sender)
    name, addr = email.utils.parseaddr(sender)
    return _address(name or DEFAULT_DISPLAY_NAME, addr or sender, header="From")


_LIST_LABEL = re.compile(r"[^a-z0-9-]+")
DEFAULT_DISPLAY_NAME = "COS Cadence"


@lru_cache(maxsize=256)
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
    message = EmailMessage(policy=POLICY)
    key = ("From", sender, "")
    if (from_ := _ADDRESS_CACHE.get(key)) is None:  # the same for every message of a batch
        parsed = _sender(sender)
        from_ = _ADDRESS_CACHE[key] = _address_header(parsed.display_name, parsed.addr_spec,
                                                      header="From")
        if len(_ADDRESS_CACHE) > 64:
            _ADDRESS_CACHE.clear()
    message["From"] = from_
    message["To"] = _address_header(to_name, to_addr, header="To")
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
    _set_alternatives(message, rendered.text, rendered.html)
    return message


def _encode_body(body: str) -> tuple[str, str]:
    """Return the Content-Transfer-Encoding and the encoded body (LF line ends): 7bit when the
    body is ASCII in short lines, else quoted-printable (binascii's, in C)."""
    lines = body.splitlines()
    text = "\n".join(lines) + "\n"
    if text.isascii() and max(map(len, lines), default=0) <= 78:
        return "7bit", text
    # Quoted-printable encodes each line on its own (a hard line break ends every soft-broken
    # line), so a line is encoded once and kept: most lines are the same in every email of a
    # round, only those with the person's name or links differ.
    encoded = "".join([_qp_line(line) for line in lines])
    return "quoted-printable", encoded


_QP_LINES: dict[str, str] = {}


def _qp_line(line: str) -> str:
    """One line and its line break, quoted-printable (binascii's, in C)."""
    encoded = _QP_LINES.get(line)
    if encoded is None:
        encoded = binascii.b2a_qp((line + "\n").encode("utf-8"), istext=True).decode("ascii")
        if not encoded.endswith("\n"):
            encoded += "\n"
        if len(_QP_LINES) >= 8192:
            _QP_LINES.clear()
        _QP_LINES[line] = encoded
    return encoded


def _set_alternatives(message: EmailMessage, text: str, html: str) -> None:
    """Make the message multipart/alternative with a UTF-8 text part, then the HTML part,
    as set_content and add_alternative would, without their per-header parsing."""
    parts: list[Any] = []
    bodies = []
    for body, subtype in ((text, "plain"), (html, "html")):
        cte, encoded = _encode_body(body)
        part = EmailMessage(policy=POLICY)
        part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
        part["Content-Transfer-Encoding"] = cte
        part.set_payload(encoded)
        parts.append(part)
        bodies.append(encoded)
    # A boundary need only be absent from the bodies, not unguessable: the stdlib's generator
    # uses the random module too (os.urandom is a system call per message).
    boundary = f"==cos_{random.getrandbits(64):016x}=="
    while any(boundary in body for body in bodies):  # quoted-printable never holds "=="
        boundary = f"==cos_{random.getrandbits(64):016x}=="
    message["MIME-Version"] = "1.0"
    message["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    message.set_payload(parts)
    message.__dict__["_cos_boundary"] = boundary


def _raw(message: EmailMessage, name: str) -> list[Any]:
    return [value for key, value in message._headers if key.lower() == name]  # type: ignore[attr-defined]


def header_text(message: EmailMessage, name: str) -> str:
    """The header's value as text, without parsing it when it was stored as written (reading
    message[name] parses it every time); "" when the message has no such header."""
    key = name.lower()
    for header, value in message._headers:  # type: ignore[attr-defined]
        if header.lower() == key:
            return value if isinstance(value, str) else str(value)
    return ""


def to_bytes(message: EmailMessage) -> bytes:
    """The message as SMTP carries it (CRLF line ends, headers folded by email.policy.SMTP).

    A message as build_message made it (headers may have been added since) is written
    directly: its headers one by one, its two parts, already encoded. Any other message (or one
    whose content was replaced) goes through the stdlib's generator.
    """
    boundary = message.__dict__.get("_cos_boundary")
    parts = message._payload  # type: ignore[attr-defined]
    if (boundary is None or not isinstance(parts, list)
            or _raw(message, "content-type")
            != [f'multipart/alternative; boundary="{boundary}"']
            or not all(isinstance(p._payload, str) and p._payload.isascii() for p in parts)):
        return message.as_bytes(policy=_SMTP)
    out = [_fold(name, value) for name, value in message._headers]  # type: ignore[attr-defined]
    out.append(b"\r\n")
    delimiter = b"--" + boundary.encode("ascii")
    for part in parts:
        out.append(delimiter + b"\r\n")
        out += [_fold(name, value) for name, value in part._headers]
        out.append(b"\r\n")
        out.append(part._payload.replace("\n", "\r\n").encode("ascii"))
        out.append(b"\r\n")
    out.append(delimiter + b"--\r\n")
    return b"".join(out)


_FOLDED: dict[tuple[Any, ...], bytes] = {}


def _fold(name: str, value: Any) -> bytes:
    """One header as SMTP carries it (email.policy.SMTP's folding); the headers every email of
    a batch shares (From, Subject, List-Id, the parts' Content-Type) are folded once."""
    key = (name, value) if type(value) is str else (name, type(value), value)
    folded = _FOLDED.get(key)
    if folded is None:
        if name.lower() in _URI_HEADERS and type(value) is str and _PRINTABLE.fullmatch(value):
            folded = _fold_at_spaces(name, value)
        else:
            folded = _SMTP.fold_binary(name, value)
        if len(_FOLDED) >= 1024:
            _FOLDED.clear()
        _FOLDED[key] = folded
    return folded


# Headers whose words are URIs or ids in angle brackets (RFC 2369, RFC 2919), which readers
# take as written: email.policy.SMTP would write a word too long for a line as RFC 2047
# encoded words, and a mail provider would find no unsubscribe URI in them.
_URI_HEADERS = frozenset({"list-unsubscribe", "list-id", "list-help", "list-post",
                          "list-subscribe", "list-owner", "list-archive", "archived-at"})
_PRINTABLE = re.compile(r"[!-~]+( [!-~]+)*")


def _fold_at_spaces(name: str, value: str) -> bytes:
    """Fold a header only between its words, each whole on a line however long (up to the
    998 octets RFC 5322 allows), as email.policy.SMTP folds words that fit."""
    limit = _SMTP.max_line_length or 78
    lines, line = [], f"{name}:"
    for word in value.split(" "):
        if len(line) + 1 + len(word) > limit and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    if any(len(each) > 998 for each in lines):
        raise ValueError(f"header {name} has a word longer than a line may be: {value[:80]}...")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
