"""Who may use the admin pages: admin accounts with a password, leads by an emailed link.

Passwords are hashed with argon2 (argon2-cffi); links and their tokens are stored only as a
SHA-256 hash. Failed sign-ins are counted per account and per address, and each count shuts
sign-in for a growing while (pipeline.core.throttle).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, col, select

from emails import backend_from_url, build_message
from emails.i18n import choose, gettext_for
from emails.render import render_named
from pipeline.coalitions import EMAIL_RE
from pipeline.config import Settings
from pipeline.core.throttle import counted_failures, lockout, wait_words
from pipeline.core.vocab import Role
from pipeline.db import session_scope
from pipeline.errors import FixableError
from pipeline.models import AdminUser, Coalition, Person, SignInFailures, SignInLink, utcnow
from pipeline.tokens import hash_token

log = logging.getLogger(__name__)

MIN_PASSWORD = 12
LINK_LIFETIME = timedelta(minutes=15)
_hasher = PasswordHasher()
# Verified when the account does not exist, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class AdminError(FixableError):
    """An admin account cannot be created or used as asked; the message says why."""


class SignInRefused(FixableError):
    """Sign-in did not succeed; the message is safe to show (it never says which part was wrong)."""


def normalise_email(email: str) -> str:
    """Return an address as stored: trimmed and lower case."""
    return email.strip().lower()


def create_admin(session: Session, email: str, password: str) -> AdminUser:
    """Create an admin account, or set a new password for an existing one."""
    email = normalise_email(email)
    if not EMAIL_RE.match(email):
        raise AdminError(f"{email!r} is not an email address")
    if len(password) < MIN_PASSWORD:
        raise AdminError(f"the password needs at least {MIN_PASSWORD} characters")
    admin = session.exec(select(AdminUser).where(AdminUser.email == email)).first()
    if admin is None:
        admin = AdminUser(email=email, password_hash="")
    admin.password_hash = _hasher.hash(password)
    session.add(admin)
    session.flush()
    return admin


def _failures(session: Session, key: str) -> SignInFailures:
    row = session.exec(select(SignInFailures).where(SignInFailures.key == key)).first()
    return row or SignInFailures(key=key, failures=0)


def _locked_for(row: SignInFailures, now: datetime) -> timedelta:
    if row.locked_until is None or row.locked_until <= now:
        return timedelta(0)
    return row.locked_until - now


@dataclass(frozen=True)
class SignInOutcome:
    """The admin signed in, or why not (safe to show: it never says which part was wrong)."""

    admin: AdminUser | None
    problem: str = ""


def authenticate(session: Session, email: str, password: str, address: str,
                 now: datetime | None = None) -> SignInOutcome:
    """Check an admin's password; count failures and shut sign-in for a growing while per
    account and per address. The caller commits either way, so failures are kept."""
    now = now or utcnow()
    email = normalise_email(email)
    rows = [_failures(session, f"account:{email}"), _failures(session, f"address:{address}")]
    wait = max(_locked_for(row, now) for row in rows)
    if wait:
        return SignInOutcome(None, f"Too many failed sign-ins. Try again in {wait_words(wait)}.")
    admin = session.exec(select(AdminUser).where(AdminUser.email == email)).first()
    ok: bool
    try:
        ok = _hasher.verify(admin.password_hash if admin else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if admin is not None and ok:
        for row in rows:
            if row.id is not None:
                session.delete(row)
        if _hasher.check_needs_rehash(admin.password_hash):
            admin.password_hash = _hasher.hash(password)
            session.add(admin)
        session.flush()
        return SignInOutcome(admin)
    for row in rows:
        row.failures = counted_failures(row.failures, row.last_failed_at, now) + 1
        row.last_failed_at = now
        shut = lockout(row.failures)
        row.locked_until = now + shut if shut else None
        session.add(row)
    session.flush()
    log.warning("failed admin sign-in (%s failures for this account, %s from this address)",
                rows[0].failures, rows[1].failures)
    shut = max(lockout(row.failures) for row in rows)
    more = f" Sign-in is shut for {wait_words(shut)}." if shut else ""
    return SignInOutcome(None, "That email and password do not match an admin account." + more)


def get_admin(session: Session, admin_id: int) -> AdminUser | None:
    """Return an admin by id (None once the account is gone)."""
    return session.get(AdminUser, admin_id)


def led_coalitions(session: Session, email: str) -> list[Coalition]:
    """Return the coalitions where this address is an active lead."""
    return list(session.exec(
        select(Coalition).join(Person, col(Person.coalition_id) == col(Coalition.id))
        .where(Person.email == normalise_email(email), Person.role == Role.LEAD,
               col(Person.active).is_(True)).order_by(col(Coalition.name))))


def issue_sign_in_link(session: Session, email: str, now: datetime | None = None) -> str | None:
    """Store a single-use sign-in link for an active lead; return its token (None when the
    address leads no coalition: the page says the same either way)."""
    now = now or utcnow()
    email = normalise_email(email)
    if not led_coalitions(session, email):
        return None
    token = secrets.token_urlsafe(32)
    session.add(SignInLink(email=email, token_hash=hash_token(token), created_at=now,
                           expires_at=now + LINK_LIFETIME))
    session.flush()
    return token


@dataclass(frozen=True)
class LinkState:
    """What a sign-in link is good for right now."""

    usable: bool
    why: str = ""


def _link(session: Session, token: str) -> SignInLink | None:
    if not 20 <= len(token) <= 100:
        return None
    return session.exec(select(SignInLink).where(
        SignInLink.token_hash == hash_token(token))).first()


def check_sign_in_link(session: Session, token: str, now: datetime | None = None) -> LinkState:
    """Say whether a link can still sign someone in, without using it (mail scanners GET)."""
    now = now or utcnow()
    link = _link(session, token)
    if link is None:
        return LinkState(False, "This sign-in link is not known. Ask for a new one.")
    if link.used_at is not None:
        return LinkState(False, "This sign-in link was used already. Ask for a new one.")
    if link.expires_at <= now:
        return LinkState(False, "This sign-in link has expired (links last 15 minutes). "
                                "Ask for a new one.")
    return LinkState(True)


def redeem_sign_in_link(session: Session, token: str, now: datetime | None = None) -> str:
    """Use a sign-in link once; return the lead's address, or refuse saying why."""
    now = now or utcnow()
    state = check_sign_in_link(session, token, now)
    link = _link(session, token)
    if not state.usable or link is None:
        raise SignInRefused(state.why)
    link.used_at = now
    session.add(link)
    session.flush()
    if not led_coalitions(session, link.email):
        raise SignInRefused("This address no longer leads a coalition.")
    return link.email


def sign_in_context(link: str, minutes: int, coalition_name: str | None,
                    language: str) -> dict[str, Any]:
    """The sign-in email's context for one reader's language."""
    _ = gettext_for(language)
    return {"language": language, "link": link, "minutes": minutes,
            "coalition_name": coalition_name or "COS Cadence",
            "led_coalition": coalition_name,
            "footer_reason": _("someone asked to sign in to COS Cadence with this address")}


def sign_in_message(settings: Settings, email: str, token: str) -> EmailMessage:
    """Build the email that carries a lead's sign-in link (text and HTML), in the lead's
    language (else their coalition's), naming the coalition they lead."""
    with session_scope(settings.database_url, read_only=True) as session:
        led = led_coalitions(session, email)
        lead = session.exec(select(Person).where(
            Person.email == normalise_email(email), Person.role == Role.LEAD,
            col(Person.active).is_(True)).order_by(col(Person.id))).first()
        language = choose(lead.language if lead else None, led[0].language if led else None)
        coalition_name = led[0].name if len(led) == 1 else None
    rendered = render_named("account/sign_in_link", sign_in_context(
        f"{settings.base_url}/admin/sign-in/link/{token}",
        int(LINK_LIFETIME.total_seconds() // 60), coalition_name, language))
    return build_message(rendered, sender=settings.mail_from, to_name="", to_addr=email,
                         message_id=f"<cos.sign-in.{secrets.token_hex(8)}@{settings.mail_domain}>",
                         headers={"Auto-Submitted": "auto-generated"})


def send_message(settings: Settings, message: EmailMessage) -> None:
    """Send one message now through the configured transport (sign-in links, test sends)."""
    backend_from_url(settings.mail_url).send(message)
