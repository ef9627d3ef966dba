"""Creating and upgrading the database schema with the project's Alembic migrations."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from pipeline.db import READ_ONLY, get_engine, normalise_url

if TYPE_CHECKING:  # Alembic is imported where it is used: `is_current`, which every command
    from alembic.config import Config  # asks first, does not need it (a third of a second)

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """Return an Alembic config pointing at this package's migrations and the given database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Bring the schema to the newest revision (creates it on an empty database)."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    # Alembic's INFO lines ("Context impl SQLiteImpl", one per migration) say nothing an
    # admin needs; they show with debug logging.
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


def is_current(database_url: str) -> bool:
    """Say whether the database has the project's tables.

    It only looks, so it takes no write lock: a worker starts while a backup or an import
    holds SQLite's write lock for a moment.
    """
    engine = get_engine(database_url).execution_options(**{READ_ONLY: True})
    with engine.connect() as conn:
        return inspect(conn).has_table("coalition")
