"""Optional DKIM signing of every outgoing message, in one place: just before it is handed over.

Configured from the environment, like the mail URL:

- COS_DKIM_SELECTOR: the selector, e.g. "cos2026" (the key is published at
  cos2026._domainkey.DOMAIN); without it nothing is signed.
- COS_DKIM_KEY_FILE: path to the PEM private key (RSA or Ed25519).
- COS_DKIM_DOMAIN: the signing domain (d=); by default the domain of COS_MAIL_FROM.

The signature covers the headers receivers and RFC 8058 care about (From, To, Subject, Date,
Message-ID, the List-* headers among them) with relaxed/relaxed canonicalisation, so a relay
that refolds a header does not break it.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import os
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import dkim

# Signed when present. RFC 8058 requires List-Unsubscribe and List-Unsubscribe-Post to be
# covered for one-click unsubscribe to be honoured.
SIGNED_HEADERS = (
    "From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Id", "List-Unsubscribe",
    "List-Unsubscribe-Post", "Auto-Submitted", "MIME-Version", "Content-Type",
)


class DkimConfigError(ValueError):
    """The DKIM settings cannot be used (missing or unreadable key, no domain)."""


@dataclass(frozen=True)
class DkimSigner:
    """A selector, domain and private key that sign messages."""

    selector: str
    domain: str
    key: bytes

    def describe(self) -> str:
        """Say how messages are signed, for the start-up line and `cos mail test`."""
        return f"DKIM on (d={self.domain}, s={self.selector})"

    def sign(self, message: EmailMessage) -> EmailMessage:
        """Return the message with a DKIM-Signature header first; the original is untouched."""
        data = message.as_bytes(policy=email.policy.SMTP)
        present = [name.encode() for name in SIGNED_HEADERS if name in message]
        try:
            signature = dkim.sign(data, self.selector.encode(), self.domain.encode(), self.key,
                                  canonicalize=(b"relaxed", b"relaxed"),
                                  include_headers=present)
        except dkim.DKIMException as exc:
            raise DkimConfigError(f"DKIM signing failed: {exc}") from exc
        # Parsed back, the signature header keeps its folding byte for byte when sent.
        signed = email.message_from_bytes(signature + data, policy=email.policy.default)
        assert isinstance(signed, EmailMessage)
        return signed


def _domain_of(sender: str) -> str:
    return email.utils.parseaddr(sender)[1].rpartition("@")[2].strip().lower()


def load_signer(selector: str, key_file: str, domain: str) -> DkimSigner:
    """Read and check the key; raise DkimConfigError with what to fix."""
    path = Path(key_file).expanduser()
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise DkimConfigError(
            f"COS_DKIM_KEY_FILE={key_file} cannot be read ({exc.strerror or exc}): set it to "
            "the PEM file of the DKIM private key") from exc
    if not domain or "." not in domain:
        raise DkimConfigError(
            f"DKIM needs a signing domain: {domain!r} is not one; set COS_DKIM_DOMAIN or an "
            "address with a domain in COS_MAIL_FROM")
    signer = DkimSigner(selector=selector, domain=domain, key=key)
    probe = EmailMessage()
    probe["From"] = f"probe@{domain}"
    probe["Subject"] = "probe"
    probe.set_content("probe\n")
    try:
        signer.sign(probe)
    except (DkimConfigError, ValueError, TypeError) as exc:
        raise DkimConfigError(
            f"COS_DKIM_KEY_FILE={key_file} is not a usable PEM private key (RSA or Ed25519): "
            f"{exc}") from None
    return signer


_cache: dict[tuple[str, str, str, float], DkimSigner] = {}


def signer_from_env(environ: Mapping[str, str] | None = None) -> DkimSigner | None:
    """Return the configured signer, or None when COS_DKIM_SELECTOR is not set."""
    env = os.environ if environ is None else environ
    selector = env.get("COS_DKIM_SELECTOR", "").strip()
    key_file = env.get("COS_DKIM_KEY_FILE", "").strip()
    if not selector and not key_file:
        return None
    if not selector or not key_file:
        raise DkimConfigError(
            "DKIM needs both COS_DKIM_SELECTOR and COS_DKIM_KEY_FILE (one is set, the other "
            "is not); set both, or neither to send unsigned")
    domain = (env.get("COS_DKIM_DOMAIN", "").strip().lower()
              or _domain_of(env.get("COS_MAIL_FROM", "")))
    try:
        mtime = Path(key_file).expanduser().stat().st_mtime
    except OSError:
        mtime = -1.0
    key = (selector, key_file, domain, mtime)
    if key not in _cache:
        signer = load_signer(selector, key_file, domain)
        _cache.clear()
        _cache[key] = signer
    return _cache[key]


def describe() -> str:
    """Say whether DKIM is on, or why it cannot be."""
    try:
        signer = signer_from_env()
    except DkimConfigError as exc:
        return f"DKIM misconfigured: {exc}"
    return signer.describe() if signer else "DKIM off (COS_DKIM_SELECTOR not set)"


def prepare(message: EmailMessage) -> EmailMessage:
    """The hook every backend calls just before the bytes leave: sign when configured."""
    signer = signer_from_env()
    return signer.sign(message) if signer else message
