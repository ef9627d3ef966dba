"""Deliver messages over SMTP or into a file outbox, chosen by a URL."""

from __future__ import annotations

import email.policy
import errno
import os
import re
import smtplib
import socket
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from emails import dkim
from emails.message import header_text, to_bytes

Security = Literal["plain", "starttls", "tls"]

URL_FORMS = (
    "smtp://host[:port] (plain, port 25), "
    "smtp+starttls://user:password@host[:port] (STARTTLS, port 587), "
    "smtps://user:password@host[:port] (implicit TLS, port 465), "
    "file:///absolute/path (write .eml files into that directory)"
)
DEFAULT_PORTS: dict[Security, int] = {"plain": 25, "starttls": 587, "tls": 465}
SCHEMES: dict[str, Security] = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}


class DeliveryError(Exception):
    """A message could not be handed over; temporary ones are worth retrying."""

    def __init__(self, message: str, *, temporary: bool, code: int | None = None,
                 unreachable: bool = False, reply: str = "",
                 recipient_refused: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.code = code
        # The server could not be reached or did not answer: other messages would fare alike.
        self.unreachable = unreachable
        # The server's own answer ("550 5.1.1 mailbox unavailable"), when it gave one.
        self.reply = reply
        # The server refused the recipient's address (at RCPT): for good, that is a bounce.
        self.recipient_refused = recipient_refused


@runtime_checkable
class Backend(Protocol):
    """Something that hands a message on for delivery."""

    def send(self, message: EmailMessage) -> None:
        """Hand the message over or raise DeliveryError."""
        ...

    def describe(self) -> str:
        """Say where messages go, for logs and admin pages (never a password)."""
        ...

    def check(self) -> None:
        """Make sure messages can be handed over now, sending none; raise DeliveryError."""
        ...


def _reply(code: int, reply: bytes | str) -> str:
    """Format an SMTP reply code and text for a person."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {' '.join(text.split())}".strip()


def _envelope_sender(message: EmailMessage) -> str:
    """Return the bare address of the message's sender for MAIL FROM."""
    address = _bare_address(header_text(message, "Sender") or header_text(message, "From"))
    if not address:
        raise DeliveryError("the message has no From address: cannot send it", temporary=False)
    return address


@lru_cache(maxsize=256)
def _bare_address(header: str) -> str:
    """The first address of a header's text ('' when it names none); the same From header
    comes with every message of a batch, so it is parsed once."""
    pairs = getaddresses([header])
    return pairs[0][1] if pairs else ""


def wire_bytes(message: EmailMessage) -> bytes:
    """The bytes handed to the server for this message (CRLF line ends). Every SMTP send goes
    through here, so whatever must change the bytes on their way out (a signature over them)
    belongs here."""
    return to_bytes(message)


# One address as build_message writes a plain one: "Ann O'Brien <ann@example.org>" or a bare
# address, with nothing in it that the RFC 5322 parse would read differently.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9 '-]*<([A-Za-z0-9._+-]+@[A-Za-z0-9.-]+)>|([A-Za-z0-9._+-]+@[A-Za-z0-9.-]+)")


def _plain_recipients(message: EmailMessage, sender: str) -> list[str] | None:
    """The recipients sendmail is given for this message, read from To and Cc as smtplib's
    send_message reads them; None for a message with Bcc or Resent- headers, or a non-ASCII
    address (SMTPUTF8), which goes through send_message itself."""
    names = {name.lower() for name, _ in message._headers}  # type: ignore[attr-defined]
    if names & {"bcc", "resent-bcc", "resent-date"}:
        return None
    raw = [str(value) for name, value in message._headers  # type: ignore[attr-defined]
           if name.lower() in ("to", "cc")]
    plain = [_PLAIN_ADDRESS.fullmatch(value) for value in raw]
    if all(plain):  # "Name <addr>" with a name that needs no quoting: what the parse gives
        recipients = [m.group(1) or m.group(2) for m in plain if m]
    else:
        recipients = [addr for _, addr in getaddresses(raw) if addr]
    if recipients and sender.isascii() and all(a.isascii() for a in recipients):
        return recipients
    return None


def _send(client: smtplib.SMTP, message: EmailMessage, sender: str) -> dict[str, Any]:
    """Send the message over the client; return the refused recipients as smtplib does.

    The message is flattened once (wire_bytes); see _plain_recipients for who gets it."""
    recipients = _plain_recipients(message, sender)
    if recipients is not None:
        return client.sendmail(sender, recipients, wire_bytes(message))
    return client.send_message(message, from_addr=sender)


@dataclass
class _Envelope:
    """A message ready to go: as prepared (signed), its MAIL FROM, its recipients, its bytes."""

    original: EmailMessage
    sender: str
    recipients: list[str]
    raw: bytes


class _Pipelined:
    """What both SMTP clients add to smtplib: the server's answer to the message's data is
    kept ("250 2.0.0 Ok: queued as 4Xy", which smtplib's sendmail reads and drops: the ledger
    records it as proof of acceptance), and, with a server that offers PIPELINING (RFC 2920),
    a message's envelope goes in one write: MAIL FROM, every RCPT TO and DATA, then the
    replies are read in order, then the content. Two waits for the server per message instead
    of three plus one per recipient; each reply is judged as smtplib's sendmail judges it (a
    refused sender, a refused recipient, a refused DATA or content, a 421 closing)."""

    last_reply = ""

    def data(self, msg: Any) -> tuple[int, bytes]:
        code, text = super().data(msg)  # type: ignore[misc]
        self.last_reply = _reply(code, text)
        return code, text

    # Set by sendmail: the envelope of the next message went out behind this one's content.
    announced_next = False

    def sendmail(self, from_addr: str, to_addrs: Any, msg: Any, mail_options: Any = (),
                 rcpt_options: Any = (), *, announced: bool = False,
                 then: _Envelope | None = None) -> dict[str, tuple[int, bytes]]:
        """smtplib's sendmail, pipelined when the server offers it. With `then`, the next
        message's envelope is written right behind this one's content, so the server reads it
        at once (one wait per message, not two); that next message must then be sent with
        `announced` (its envelope is on the wire and only its replies are left to read). No
        message is accepted before its content is: the next one is not, until it is sent."""
        client: Any = self
        self.announced_next = False
        client.ehlo_or_helo_if_needed()
        if (mail_options or rcpt_options or not client.does_esmtp
                or not client.has_extn("pipelining")):
            return super().sendmail(  # type: ignore[misc]
                from_addr, to_addrs, msg, mail_options, rcpt_options)
        if isinstance(msg, str):
            msg = smtplib._fix_eols(msg).encode("ascii")  # type: ignore[attr-defined]
        to_addrs = [to_addrs] if isinstance(to_addrs, str) else list(to_addrs)
        if not announced:
            client.send(self._envelope_commands(from_addr, to_addrs, len(msg)))
        code, resp = client.getreply()
        if code == 421:
            client.close()
            raise smtplib.SMTPSenderRefused(code, resp, from_addr)
        sender = (code, resp)
        refused: dict[str, tuple[int, bytes]] = {}
        for address in to_addrs:
            code, resp = client.getreply()
            if code not in (250, 251):
                refused[address] = (code, resp)
            if code == 421:
                client.close()
                raise smtplib.SMTPRecipientsRefused(refused)
        code, resp = client.getreply()  # to DATA
        if code == 354 and (sender[0] != 250 or len(refused) == len(to_addrs)):
            client.send(b".\r\n")  # DATA went ahead without a transaction: end it empty
            client.getreply()
        if sender[0] != 250:
            client._rset()
            raise smtplib.SMTPSenderRefused(*sender, from_addr)
        if len(refused) == len(to_addrs):
            client._rset()
            raise smtplib.SMTPRecipientsRefused(refused)
        if code == 354:
            # A line that starts with a dot gets another (RFC 5321 4.5.2), as smtplib does.
            body = (b"." if msg.startswith(b".") else b"") + msg.replace(b"\n.", b"\n..")
            if body[-2:] != b"\r\n":
                body += b"\r\n"
            body += b".\r\n"
            if then is not None:
                body += self._envelope_commands(then.sender, then.recipients, len(then.raw))
            client.send(body)
            self.announced_next = then is not None
            code, resp = client.getreply()
            self.last_reply = _reply(code, resp)
        if code != 250:
            if code == 421:
                client.close()
                self.announced_next = False
            elif not self.announced_next:  # a RSET now would cancel the announced message
                client._rset()
            raise smtplib.SMTPDataError(code, resp)
        return refused

    def _envelope_commands(self, from_addr: str, to_addrs: list[str], size: int) -> bytes:
        """MAIL FROM (with SIZE when offered), one RCPT TO per recipient, DATA."""
        client: Any = self
        option = f" size={size}" if client.has_extn("size") else ""
        commands = [f"mail FROM:{smtplib.quoteaddr(from_addr)}{option}",
                    *(f"rcpt TO:{smtplib.quoteaddr(a)}" for a in to_addrs), "data"]
        for command in commands:
            if "\r" in command or "\n" in command:
                raise ValueError(f"command contains a line break: {command!r}")
        return "".join(f"{c}\r\n" for c in commands).encode(client.command_encoding)


class _ReplySMTP(_Pipelined, smtplib.SMTP):
    """smtplib's SMTP client, pipelining when it can, keeping the last reply."""


class _ReplySMTP_SSL(_Pipelined, smtplib.SMTP_SSL):  # noqa: N801 - named as smtplib names it
    """The same for implicit TLS."""


class SMTPBackend:
    """Send each message over its own SMTP connection."""

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        security: Security = "plain",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both a user and a password for SMTP login, or neither")
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.ssl_context = ssl_context

    @property
    def where(self) -> str:
        """Return host:port, with brackets around an IPv6 address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def describe(self) -> str:
        """Say which server and login this backend uses."""
        kind = {"plain": "SMTP", "starttls": "SMTP+STARTTLS", "tls": "SMTPS"}[self.security]
        login = f" as {self.username}" if self.username else ""
        return f"{kind} {self.where}{login}"

    def _context(self) -> ssl.SSLContext:
        """Return the TLS context: the given one, or the system's verifying default."""
        return self.ssl_context or ssl.create_default_context()

    def _open(self) -> tuple[smtplib.SMTP, list[str]]:
        """Connect, start TLS and log in; `stage` (a one-item list) says how far it got."""
        stage = ["connecting"]
        # Connecting in the constructor also tells TLS which host name to verify.
        if self.security == "tls":
            client: smtplib.SMTP = _ReplySMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context()
            )
        else:
            client = _ReplySMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                stage[0] = "starting TLS"
                client.starttls(context=self._context())
            if self.username is not None and self.password is not None:
                stage[0] = "logging in"
                client.login(self.username, self.password)
            else:
                stage[0] = "greeting"
                client.ehlo_or_helo_if_needed()
        except BaseException as exc:
            self._close(client)
            exc.add_note(stage[0])
            raise
        return client, stage

    def _session(self, message: EmailMessage | None) -> None:
        """Open a connection, send the message if one is given, and say QUIT."""
        message = _prepare(message) if message is not None else None
        sender = _envelope_sender(message) if message is not None else ""
        stage = "connecting"
        client: smtplib.SMTP | None = None
        refused: dict[str, tuple[int, bytes]] = {}
        try:
            try:
                client, _ = self._open()
            except (smtplib.SMTPException, OSError) as exc:
                stage = (getattr(exc, "__notes__", None) or ["connecting"])[-1]
                raise
            if message is not None:
                stage = "sending"
                refused = _send(client, message, sender)
            else:
                stage = "checking"
                code, reply = client.noop()
                if code != 250:
                    raise smtplib.SMTPResponseException(code, reply)
        except (smtplib.SMTPException, OSError) as exc:
            raise self._explain(exc, stage) from exc
        finally:
            if client is not None:
                self._close(client)
        if refused:
            raise self._refused(refused)

    def send(self, message: EmailMessage) -> None:
        """Send the message, raising DeliveryError that says what went wrong."""
        self._session(message)

    def check(self) -> None:
        """Connect, greet (and start TLS and log in, when asked) without sending anything."""
        self._session(None)

    @staticmethod
    def _close(client: smtplib.SMTP) -> None:
        """Say QUIT and close; a failure here must not turn a sent message into an error."""
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()

    def _refused(self, refused: dict[str, tuple[int, bytes]]) -> DeliveryError:
        """Explain refused recipients; any 4xx makes the whole error temporary."""
        codes = [code for code, _ in refused.values()]
        temporary = any(400 <= code < 500 for code in codes)
        details = ", ".join(
            f"{addr} ({_reply(code, text)})" for addr, (code, text) in refused.items()
        )
        advice = "it will be tried again later" if temporary else "check the address"
        return DeliveryError(
            f"SMTP server {self.where} refused recipient {details}: {advice}",
            temporary=temporary,
            code=codes[0] if codes else None,
            reply="; ".join(_reply(code, text) for code, text in refused.values()),
            recipient_refused=True,
        )

    def _explain(self, exc: smtplib.SMTPException | OSError, stage: str) -> DeliveryError:
        """Turn an smtplib or socket exception into a DeliveryError for people."""
        where = self.where
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            return self._refused(exc.recipients)
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return DeliveryError(
                f"SMTP server {where} refused the login for user {self.username!r} "
                f"({_reply(exc.smtp_code, exc.smtp_error)}): "
                "check the user and password in COS_MAIL_URL",
                temporary=False,
                code=exc.smtp_code,
            )
        if isinstance(exc, smtplib.SMTPSenderRefused):
            temporary = 400 <= exc.smtp_code < 500
            return DeliveryError(
                f"SMTP server {where} refused the sender {exc.sender} "
                f"({_reply(exc.smtp_code, exc.smtp_error)}): "
                + ("it will be tried again later" if temporary
                   else "check that the server lets this sender address send mail"),
                temporary=temporary,
                code=exc.smtp_code,
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            temporary = 400 <= exc.smtp_code < 500
            return DeliveryError(
                f"SMTP server {where} answered {_reply(exc.smtp_code, exc.smtp_error)} "
                f"while {stage}: "
                + ("it will be tried again later" if temporary
                   else "the server rejected the message; see its answer"),
                temporary=temporary,
                code=exc.smtp_code,
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return DeliveryError(
                f"SMTP server {where} does not support what COS_MAIL_URL asks for while "
                f"{stage} ({exc}): check the scheme in COS_MAIL_URL",
                temporary=False,
            )
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            if isinstance(exc.__context__, TimeoutError):
                # smtplib reports a read timeout as a disconnection.
                return self._explain(exc.__context__, stage)
            return DeliveryError(
                f"SMTP server {where} closed the connection while {stage} ({exc}): "
                "it will be tried again later",
                temporary=True,
            )
        if isinstance(exc, smtplib.SMTPException):
            # Outside a server reply, smtplib raises this for a client/server mismatch,
            # e.g. no AUTH mechanism in common: a setting to fix, not a moment to wait.
            return DeliveryError(
                f"SMTP with {where} failed while {stage} ({exc}): "
                "check the scheme, user and password in COS_MAIL_URL",
                temporary=False,
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return DeliveryError(
                f"the TLS certificate of SMTP server {where} could not be verified "
                f"({exc.verify_message}): check the host name in COS_MAIL_URL "
                "or trust the server's certificate authority (SSL_CERT_FILE)",
                temporary=False,
            )
        if isinstance(exc, ssl.SSLError):
            return DeliveryError(
                f"TLS with SMTP server {where} failed while {stage} ({exc.reason or exc}): "
                "check the scheme and port in COS_MAIL_URL "
                "(smtps:// usually on 465, smtp+starttls:// on 587)",
                temporary=False,
            )
        if isinstance(exc, TimeoutError):
            return DeliveryError(
                f"SMTP server {where} did not answer within {self.timeout:g} s while {stage}: "
                "the server may be down or overloaded; it will be tried again later",
                temporary=True,
            )
        if isinstance(exc, socket.gaierror):
            # EAI_AGAIN is a resolver hiccup; any other failure means the name is wrong.
            temporary = exc.errno == socket.EAI_AGAIN
            return DeliveryError(
                f"could not resolve SMTP host {self.host} ({exc.strerror}): "
                "check the host name in COS_MAIL_URL",
                temporary=temporary,
            )
        if isinstance(exc, OSError) and stage == "connecting":
            return DeliveryError(
                f"could not connect to SMTP server {where} ({exc.strerror or exc}): "
                "check COS_MAIL_URL and that the server is running",
                temporary=True,
            )
        return DeliveryError(
            f"lost the connection to SMTP server {where} while {stage} "
            f"({exc.strerror or exc}): it will be tried again later",
            temporary=True,
        )


class SMTPConnection:
    """One SMTP connection reused for many messages (a batch), opened on the first send.

    A message refused by the server leaves the connection usable (smtplib resets it). A
    connection that drops is opened again for the next message; when a reused one turns out to
    have been closed by the server (idle, or its per-connection limit) before this message was
    handed over, the message is tried once more on a new connection.
    """

    # Many servers refuse more messages than this on one connection; start a new one before.
    MAX_MESSAGES = 100

    def __init__(self, backend: SMTPBackend) -> None:
        self.backend = backend
        self._client: smtplib.SMTP | None = None
        self._sent = 0
        # The next message, when its envelope went out behind the last one's content.
        self._announced: _Envelope | None = None
        # The server's answer to the last message sent.
        self.last_reply = ""

    def describe(self) -> str:
        """Say where messages go (the backend's description)."""
        return self.backend.describe()

    def send(self, message: EmailMessage, then: EmailMessage | None = None) -> None:
        """Send the message over the open connection, raising DeliveryError as the backend does.

        With `then` (the message the caller sends next, for certain), a server that offers
        PIPELINING is given that message's envelope behind this one's content: the next send
        then waits for the server once instead of twice. Nothing about the next message is
        accepted before its own content goes out, so the duplicate window stays one email."""
        announced, self._announced = self._announced, None
        if announced is not None and announced.original is message:
            envelope: _Envelope | None = announced
            message, sender = message, announced.sender
        else:
            if announced is not None:  # an announced message was not sent after all
                self._abandon()
            envelope = message.__dict__.get(_READY)
            if envelope is not None:
                sender = envelope.sender
            else:
                message = _prepare(message)
                sender = _envelope_sender(message)
                recipients = _plain_recipients(message, sender)
                envelope = (_Envelope(message, sender, recipients, wire_bytes(message))
                            if recipients is not None else None)
            announced = None
        following = self._envelope_of(then) if envelope is not None else None
        while True:
            reused = self._client is not None
            stage = "connecting"
            client: Any = None
            try:
                if self._client is None:
                    try:
                        self._client, _ = self.backend._open()
                    except (smtplib.SMTPException, OSError) as exc:
                        stage = (getattr(exc, "__notes__", None) or ["connecting"])[-1]
                        raise
                    self._sent = 0
                    announced = None  # a new connection: nothing is on the wire yet
                client = self._client
                stage = "sending"
                if envelope is None:
                    refused = client.send_message(message, from_addr=sender)
                else:
                    last = self._sent + 1 >= self.MAX_MESSAGES
                    refused = client.sendmail(
                        envelope.sender, envelope.recipients, envelope.raw,
                        announced=announced is not None, then=None if last else following)
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                    smtplib.SMTPDataError) as exc:
                self._keep_announced(client, following)
                if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421:
                    self.close()  # 421: the server is closing the connection
                    if reused:
                        continue
                raise self.backend._explain(exc, stage) from exc
            except (smtplib.SMTPException, OSError) as exc:
                self.close()
                if reused and _closed_before_sending(exc):
                    continue
                error = self.backend._explain(exc, stage)
                error.unreachable = error.temporary and (
                    stage != "sending" or isinstance(exc, TimeoutError)
                    or isinstance(exc.__context__, TimeoutError))
                raise error from exc
            break
        self._keep_announced(client, following)
        self._sent += 1
        self.last_reply = getattr(self._client, "last_reply", "")
        if self._sent >= self.MAX_MESSAGES:
            self.close()
        if refused:
            raise self.backend._refused(refused)

    def _envelope_of(self, message: EmailMessage | None) -> _Envelope | None:
        """The next message, prepared for announcing; None when it cannot be announced (none,
        no PIPELINING, a message send_message must take, or one that cannot be prepared)."""
        client: Any = self._client
        if message is None or client is None or not client.has_extn("pipelining"):
            return None
        try:
            return message.__dict__.get(_READY) or _envelope(message)
        except DeliveryError:
            return None  # its own send will say why

    def _keep_announced(self, client: Any, following: _Envelope | None) -> None:
        """Remember the next message's envelope when it went out behind this message."""
        if client is not None and getattr(client, "announced_next", False) \
                and client is self._client:
            self._announced = following

    def _abandon(self) -> None:
        """Drop the connection without a word: the server waits for an announced message's
        content, and anything sent now would be taken as that content. Closing the socket
        ends the transaction with nothing delivered."""
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        if self._announced is not None:
            self._announced = None
            self._abandon()
        if self._client is not None:
            client, self._client = self._client, None
            SMTPBackend._close(client)


# Where make_ready keeps a message's envelope, in the message object (as build_message keeps
# its boundary).
_READY = "_cos_ready"


def make_ready(message: EmailMessage) -> None:
    """Prepare a finished message for an SMTPConnection now: its DKIM signature, envelope and
    bytes. A batch builds the next messages in one thread while another talks to the server;
    what is done here is then off the path between the server's reply and the next message.
    The message must not change afterwards. One that cannot be prepared is left as it is, and
    its send says why."""
    try:
        envelope = _envelope(message)
    except DeliveryError:
        return
    if envelope is not None:
        message.__dict__[_READY] = envelope


def _envelope(message: EmailMessage) -> _Envelope | None:
    """The message prepared, with its MAIL FROM, recipients and bytes; None for a message
    smtplib's send_message must take (see _plain_recipients)."""
    prepared = _prepare(message)
    sender = _envelope_sender(prepared)
    recipients = _plain_recipients(prepared, sender)
    if recipients is None:
        return None
    return _Envelope(message, sender, recipients, wire_bytes(prepared))


def _prepare(message: EmailMessage) -> EmailMessage:
    """The one place a message is changed before it leaves: DKIM signing, when configured."""
    try:
        return dkim.prepare(message)
    except dkim.DkimConfigError as exc:
        raise DeliveryError(f"not sent: {exc}", temporary=True) from exc


def _closed_before_sending(exc: BaseException) -> bool:
    """Say whether a reused connection had been closed by the server (worth one more try)."""
    return isinstance(exc, smtplib.SMTPServerDisconnected) or (
        isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421)


class _Sender(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def describe(self) -> str: ...


@contextmanager
def reused_connection(backend: Backend) -> Iterator[_Sender]:
    """Yield something to send many messages with: one SMTP connection reused (SMTP), or the
    backend itself (a file outbox has no connection); the connection is closed at the end."""
    if not isinstance(backend, SMTPBackend):
        yield backend
        return
    connection = SMTPConnection(backend)
    try:
        yield connection
    finally:
        connection.close()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.eml")


def _file_stem(message: EmailMessage) -> str:
    """Return a file-name-safe form of the message's Message-ID."""
    message_id = str(message.get("Message-ID") or "").strip().strip("<>")
    stem = _UNSAFE.sub("_", message_id).strip("._-")[:120]
    return stem or "no-message-id"


class FileOutbox:
    """Write each message as one .eml file into a directory, for development."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def describe(self) -> str:
        """Say which directory messages go to."""
        return f"file outbox {self.path}"

    def check(self) -> None:
        """Make sure the outbox directory exists and can be written to."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.path):
                pass
        except OSError as exc:
            raise DeliveryError(
                f"cannot write to the file outbox {self.path} ({exc.strerror or exc}): "
                "check that the directory in COS_MAIL_URL is writable",
                temporary=False,
            ) from exc

    def send(self, message: EmailMessage) -> None:
        """Write the message atomically, so a reader never sees half a file."""
        message = _prepare(message)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        target = self.path / f"{stamp}-{_file_stem(message)}.eml"
        data = wire_bytes(message)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.path, prefix=".", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, target)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise DeliveryError(
                f"could not write to the file outbox {self.path} ({exc.strerror or exc}): "
                "check that the directory in COS_MAIL_URL is writable",
                temporary=exc.errno == errno.ENOSPC,  # a full disk can be freed; the rest is setup
            ) from exc

    def list(self) -> list[Path]:
        """Return the outbox's message files, newest last."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if _SAFE_NAME.fullmatch(p.name))

    def find(self, name: str) -> Path | None:
        """Return the message file with this name, or None; never a path outside the outbox."""
        if not _SAFE_NAME.fullmatch(name):
            return None
        path = self.path / name
        return path if path.is_file() else None

    @staticmethod
    def read_message(path: str | os.PathLike[str]) -> EmailMessage:
        """Parse a message file back into an EmailMessage."""
        with open(path, "rb") as handle:
            return BytesParser(policy=email.policy.default).parse(handle)


def _smtp_backend(url: str, security: Security, timeout: float) -> SMTPBackend:
    """Make an SMTP backend from a parsed smtp:, smtp+starttls: or smtps: URL."""
    parts = urlsplit(url)
    shown = _redact(url)
    if not parts.hostname:
        raise ValueError(f"mail URL {shown} has no host: expected one of {URL_FORMS}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"mail URL {shown} has a path or query it does not use: {URL_FORMS}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"mail URL {shown} has a bad port: expected a number 1-65535") from None
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if security == "plain" and username is not None:
        raise ValueError(
            f"mail URL {shown} sends a password without TLS: "
            "use smtp+starttls:// or smtps:// to log in"
        )
    if (username is None) != (password is None) or username == "":
        raise ValueError(f"mail URL {shown} needs both a user and a password, or neither")
    return SMTPBackend(
        parts.hostname,
        port,
        security=security,
        username=username,
        password=password,
        timeout=timeout,
    )


def _redact(url: str) -> str:
    """Hide the password in a URL so it can go in an error message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unreadable URL)"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{parts.username}:***@{netloc}").geturl()


def backend_from_url(url: str, *, timeout: float = 10.0) -> Backend:
    """Choose a delivery backend from a mail URL such as smtp://127.0.0.1:25."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    try:
        urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"mail URL {_redact(url)} cannot be read ({exc}): {URL_FORMS}") from None
    if scheme in SCHEMES:
        return _smtp_backend(url, SCHEMES[scheme], timeout)
    if scheme == "file":
        parts = urlsplit(url)
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ValueError(
                f"mail URL {url} must name an absolute directory, like file:///var/cos/outbox"
            )
        return FileOutbox(path)
    raise ValueError(f"mail URL {_redact(url)} is not supported: expected one of {URL_FORMS}")
