"""Real SMTP servers on loopback (aiosmtpd) that record what they receive.

``smtp_server``: a plain server, one per test session, emptied before each test.
``smtp_tls_servers``: {"starttls": ..., "tls": ...}, TLS with the self-signed
``tls_certificate`` (trust it with SSL_CERT_FILE), accepting only the login
SMTP_USER / SMTP_PASSWORD (the STARTTLS one requires a login).
Recipients whose address contains "reject" are refused with 550, "defer" with 451.
"""

from __future__ import annotations

import email.policy
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "cos@example.org"
SMTP_PASSWORD = "p@ss:word"


@dataclass(frozen=True)
class Received:
    """One message as the server got it: envelope and parsed content."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    login: str | None = None


@dataclass
class RecordingHandler:
    """An aiosmtpd handler that keeps every message and refuses some recipients."""

    messages: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    # Offer PIPELINING (RFC 2920) as most servers do: aiosmtpd reads pipelined commands in
    # order, but does not say so by itself. Off, the senders take smtplib's one-by-one path.
    pipelining: bool = True

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        """Say PIPELINING among the extensions, when the handler offers it."""
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        if self.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        """Refuse "reject" addresses for good and "defer" ones for now; accept the rest."""
        if "reject" in address:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if "defer" in address:
            return f"451 4.3.0 <{address}>: try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Parse and keep the message, then wake anyone waiting for it."""
        raw = envelope.original_content or envelope.content
        login = getattr(session.auth_data, "login", None)
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            message=BytesParser(policy=email.policy.default).parsebytes(raw),
            raw=raw,
            login=login.decode() if isinstance(login, bytes) else None,
        )
        with self.arrived:
            self.messages.append(received)
            self.arrived.notify_all()
        return "250 2.0.0 Message accepted for delivery"


@dataclass
class SMTPSink:
    """A running SMTP server on 127.0.0.1 and what it has received."""

    controller: Controller
    handler: RecordingHandler
    host: str
    port: int

    @property
    def url(self) -> str:
        """Return the plain smtp:// URL of this server."""
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[Received]:
        """Return the messages received so far, oldest first."""
        return self.handler.messages

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until at least count messages arrived and return them all."""
        deadline = time.monotonic() + timeout
        with self.handler.arrived:
            while len(self.handler.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} message(s) within {timeout} s, "
                        f"got {len(self.handler.messages)}"
                    )
                self.handler.arrived.wait(left)
            return list(self.handler.messages)

    def clear(self) -> None:
        """Forget every message received so far."""
        with self.handler.arrived:
            self.handler.messages.clear()

    def stop(self) -> None:
        """Stop the server and free its port."""
        self.controller.stop()


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def start_sink(**controller_options: Any) -> SMTPSink:
    """Start a recording SMTP server on a free loopback port (Controller options pass through)."""
    host = "127.0.0.1"
    handler = RecordingHandler()
    # Controller(port=0) fails its readiness check, so pick a port; retry if someone takes it.
    for attempt in range(3):
        port = free_port(host)
        controller = Controller(handler, hostname=host, port=port, **controller_options)
        try:
            controller.start()
        except OSError:
            if attempt == 2:
                raise
            continue
        return SMTPSink(controller=controller, handler=handler, host=host, port=port)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def smtp_server_session() -> Iterator[SMTPSink]:
    """Run one recording SMTP server for the whole test session."""
    sink = start_sink()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_server(smtp_server_session: SMTPSink) -> Iterator[SMTPSink]:
    """Give a test the session's SMTP server with no messages in it."""
    smtp_server_session.clear()
    yield smtp_server_session
    smtp_server_session.clear()


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Make a self-signed certificate for 127.0.0.1; its key lies beside it as key.pem."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert


def check_login(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    """Accept only SMTP_USER with SMTP_PASSWORD."""
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    if ok:
        return AuthResult(success=True, auth_data=auth_data)
    return AuthResult(success=False, handled=False)  # aiosmtpd then answers 535


@pytest.fixture(scope="session")
def smtp_tls_servers_session(tls_certificate: Path) -> Iterator[dict[str, SMTPSink]]:
    """Run a STARTTLS server and an implicit-TLS server that check logins."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_certificate, tls_certificate.with_name("key.pem"))
    login = {"authenticator": check_login, "auth_required": True}
    servers = {
        "starttls": start_sink(tls_context=context, require_starttls=True, **login),
        # aiosmtpd counts only STARTTLS as TLS and warns when it must require AUTH without
        # it; here the whole connection is encrypted, so offer AUTH without requiring it.
        "tls": start_sink(ssl_context=context, auth_require_tls=False, authenticator=check_login),
    }
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def smtp_tls_servers(
    smtp_tls_servers_session: dict[str, SMTPSink],
) -> Iterator[dict[str, SMTPSink]]:
    """Give a test the session's TLS servers with no messages in them."""
    for server in smtp_tls_servers_session.values():
        server.clear()
    yield smtp_tls_servers_session
    for server in smtp_tls_servers_session.values():
        server.clear()
