"""Settings read from COS_* environment variables (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from emails import backend_from_url


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and how to fix it."""


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

    @classmethod
    def from_env(cls, *, require_secret: bool = True) -> Settings:
        """Read the settings from the environment, with development defaults under instance/."""
        inst = instance_dir()
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
            mail_from=os.environ.get("COS_MAIL_FROM", "COS Cadence <cos@localhost>"),
            base_url=base_url,
            secret_key=secret,
            instance=inst,
        )
        settings.check_urls()
        return settings

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
        sender = parseaddr(self.mail_from)[1]
        if "@" in sender:
            return sender.rsplit("@", 1)[1].lower()
        return urlsplit(self.base_url).hostname or "localhost"
