"""Settings read from COS_* environment variables (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from emails import SMTPBackend, backend_from_url, dkim
from pipeline.errors import FixableError


class ConfigError(FixableError):
    """A setting is missing or malformed; the message says which and how to fix it."""


ENVIRONMENTS = ("production", "development")


def environment() -> str:
    """Return COS_ENV: production (the default) or development."""
    value = os.environ.get("COS_ENV", "").strip().lower() or "production"
    if value not in ENVIRONMENTS:
        raise ConfigError(f"COS_ENV={value!r} is not one of {', '.join(ENVIRONMENTS)}")
    return value


def _whole_number(name: str) -> int:
    """Read a whole-number setting (0 when unset), or say what is wrong with it."""
    text = os.environ.get(name, "").strip() or "0"
    if not text.isdigit():
        raise ConfigError(f"{name}={text!r} should be a whole number, like 120 (0 for no limit)")
    return int(text)


MAX_MAIL_CONNECTIONS = 16


def _connections(name: str) -> int:
    """Read the number of SMTP connections a send job opens (2 when unset)."""
    text = os.environ.get(name, "").strip() or "2"
    if not text.isdigit() or not 1 <= int(text) <= MAX_MAIL_CONNECTIONS:
        raise ConfigError(f"{name}={text!r} should be a whole number from 1 to "
                          f"{MAX_MAIL_CONNECTIONS}: the SMTP connections one send job opens "
                          "at once (1 if your mail server allows only one)")
    return int(text)


def hide_password(url: str) -> str:
    """Show a database or Redis URL with its password masked, for logs and start-up lines."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        parts = urlsplit(url)
        if parts.password:
            return url.replace(f":{parts.password}@", ":***@", 1)
        return url


def instance_dir() -> Path:
    """Return the folder for local state (SQLite file, outbox, private Redis); not created here.

    Whatever writes there creates it, so a start that fails on a bad setting leaves nothing.
    """
    return Path(os.environ.get("COS_INSTANCE_DIR", Path.cwd() / "instance")).resolve()


@dataclass(frozen=True)
class Settings:
    """Everything the app, the worker and the CLI need to know about their surroundings."""

    database_url: str
    redis_url: str | None
    mail_url: str
    mail_from: str
    base_url: str
    secret_key: str
    instance: Path
    # True when COS_MAIL_URL was not given and mail goes to the development outbox.
    mail_is_default: bool = False
    environment: str = "production"
    # Who hears when a round pauses itself (COS_ADMIN_EMAILS, comma-separated); the
    # coalition's leads when empty.
    admin_emails: tuple[str, ...] = ()
    # Messages per minute all senders together may hand to the mail server (COS_MAIL_RATE,
    # counted in Redis); 0 for no limit.
    mail_rate: int = 0
    # SMTP connections one send job uses at once (COS_MAIL_CONNECTIONS): each waits for the
    # server's reply to its message while the others' messages keep the server busy.
    mail_connections: int = 2

    @classmethod
    def from_env(cls, *, require_secret: bool = True, require_mail: bool = False,
                 development: bool = False) -> Settings:
        """Read the settings from the environment, with development defaults under instance/.

        With require_mail, a missing COS_MAIL_URL is an error unless this is development
        (COS_ENV=development, or a development command such as `cos serve`): the file outbox
        must never be where a production worker quietly sends the partners' mail.
        """
        inst = instance_dir()
        env = "development" if development and "COS_ENV" not in os.environ else environment()
        secret = os.environ.get("COS_SECRET_KEY", "")
        if require_secret and len(secret) < 16:
            raise ConfigError(
                "COS_SECRET_KEY is not set (or shorter than 16 characters). It signs the "
                "partners' links and forms: set it to a long random value, e.g. "
                "export COS_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
            )
        base_url = os.environ.get("COS_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
        if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
            raise ConfigError(
                f"COS_BASE_URL={base_url!r} is not an http(s) address like https://cos.example.org"
            )
        settings = cls(
            database_url=os.environ.get("COS_DATABASE_URL") or f"sqlite:///{inst / 'cos.db'}",
            redis_url=os.environ.get("COS_REDIS_URL") or None,
            mail_url=os.environ.get("COS_MAIL_URL") or (inst / "outbox").as_uri(),
            mail_is_default=not os.environ.get("COS_MAIL_URL"),
            environment=env,
            mail_from=os.environ.get("COS_MAIL_FROM", "COS Cadence <cos@localhost>"),
            base_url=base_url,
            secret_key=secret,
            instance=inst,
            admin_emails=tuple(a.strip() for a in os.environ.get("COS_ADMIN_EMAILS", "")
                               .split(",") if a.strip()),
            mail_rate=_whole_number("COS_MAIL_RATE"),
            mail_connections=_connections("COS_MAIL_CONNECTIONS"),
        )
        settings.check_urls()
        try:
            dkim.signer_from_env()
        except dkim.DkimConfigError as exc:
            raise ConfigError(str(exc)) from None
        if require_mail and settings.mail_is_default and env != "development":
            raise ConfigError(
                "COS_MAIL_URL is not set, so every email would only be written to the file "
                f"outbox {inst / 'outbox'} and nobody would receive it. Set it to your SMTP "
                "server, e.g. COS_MAIL_URL=smtp+starttls://user:password@smtp.example.org:587 "
                "(see the README), or on a development machine set COS_ENV=development to use "
                "the outbox on purpose")
        return settings

    def describe(self) -> str:
        """Say which database, Redis, mail transport and instance folder these settings use."""
        redis = hide_password(self.redis_url) if self.redis_url else "not set"
        backend = backend_from_url(self.mail_url)
        mail = backend.describe()
        if isinstance(backend, SMTPBackend):
            mail += f" ({self.mail_connections} connections per send job)"
        if self.mail_is_default:
            mail += " (COS_MAIL_URL not set: nothing leaves this machine)"
        mail += f", {dkim.describe()}"
        return (f"database {hide_password(self.database_url)}; Redis {redis}; mail {mail}; "
                f"instance {self.instance}; {self.environment}")

    def check_urls(self) -> None:
        """Refuse malformed database, Redis and mail URLs now, not halfway through a job."""
        try:
            make_url(self.database_url)
        except ArgumentError:
            raise ConfigError(
                f"COS_DATABASE_URL={self.database_url!r} is not a database URL like "
                "sqlite:///path/cos.db or postgresql://user:pass@host/db") from None
        if self.redis_url and urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"COS_REDIS_URL={self.redis_url!r} is not a Redis URL like "
                              "redis://127.0.0.1:6379/0")
        try:
            backend_from_url(self.mail_url)
        except ValueError as exc:
            raise ConfigError(f"COS_MAIL_URL: {exc}") from None
        if "@" not in parseaddr(self.mail_from)[1]:
            raise ConfigError(f"COS_MAIL_FROM={self.mail_from!r} is not an address like "
                              "'Riverside Coalition <cos@example.org>'")

    def with_(self, **changes: object) -> Settings:
        """Return a copy with some settings replaced."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def mail_domain(self) -> str:
        """Return the domain on the right of Message-IDs: the sender's, else the app's host."""
        return _mail_domain(self.mail_from, self.base_url)


@lru_cache(maxsize=16)
def _mail_domain(mail_from: str, base_url: str) -> str:
    """Settings.mail_domain, worked out once per sender (every email of a batch asks)."""
    sender = parseaddr(mail_from)[1]
    if "@" in sender:
        return sender.rsplit("@", 1)[1].lower()
    return urlsplit(base_url).hostname or "localhost"
