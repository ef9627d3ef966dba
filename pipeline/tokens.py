"""Personal links: 256-bit tokens, stored only as a hash, re-derivable only with the secret key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_salt() -> str:
    """Return a fresh random salt for one invitation."""
    return secrets.token_hex(32)


def derive_token(secret_key: str, salt: str) -> str:
    """Return the invitation's token: HMAC-SHA256 of its random salt under the secret key.

    The database holds the salt and the token's hash, never the token: someone with a copy of
    the database and without COS_SECRET_KEY cannot build a working link, while the send job can
    rebuild the link for a retry without the token ever sitting in Redis or SQL.
    """
    mac = hmac.new(secret_key.encode(), b"cos-invitation:" + salt.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of a token, as stored in the database."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    """Say whether a string has a token's shape, before any database lookup."""
    return bool(TOKEN_RE.match(token))


def checkin_link(base_url: str, secret_key: str, salt: str) -> str:
    """Return a person's personal check-in link for an invitation's salt, built on COS_BASE_URL."""
    return f"{base_url}/c/{derive_token(secret_key, salt)}"


def optout_token(secret_key: str, person_id: int) -> str:
    """Return a person's opt-out token: their id and an HMAC of it, so it cannot be guessed.

    It never expires: an unsubscribe link in an old email must still work (RFC 8058)."""
    mac = hmac.new(secret_key.encode(), f"cos-optout:{person_id}".encode(), hashlib.sha256)
    return f"{person_id}-{base64.urlsafe_b64encode(mac.digest()[:18]).decode()}"


def person_of_optout_token(secret_key: str, token: str) -> int | None:
    """Return the person an opt-out token names, or None when it is not one of ours."""
    head, _, _ = token.partition("-")
    if not head.isdigit() or len(head) > 12:
        return None
    return int(head) if hmac.compare_digest(optout_token(secret_key, int(head)), token) else None
