"""Alembic environment: runs against the URL that pipeline.schema passes in."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import pipeline.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from pipeline.db import get_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = get_engine(url, pooled=False)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite",
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
