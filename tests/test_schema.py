"""The migrations: an old database upgrades without losing rows, and head matches the models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

import pipeline.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from pipeline import db
from pipeline.schema import alembic_config, upgrade
from tests.conftest import PG_URL


@pytest.fixture(params=["sqlite", "postgresql"] if PG_URL else ["sqlite"])
def bare_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        db.dispose_all()
        return
    schema = f"cos_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(db.normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        db.dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_a_database_made_by_the_first_release_upgrades_with_its_rounds_kept(bare_database_url):
    command.upgrade(alembic_config(bare_database_url), "0001")
    with db.get_engine(bare_database_url).begin() as conn:
        conn.execute(text(
            "INSERT INTO coalition (id, slug, name, win, timezone, stage, created_at)"
            " VALUES (1, 'clean-air', 'Clean Air', 'Cleaner air', 'UTC', 'launch',"
            " '2026-11-01 09:00:00')"))
        conn.execute(text(
            "INSERT INTO campaign (id, coalition_id, number, opened_at, closes_at)"
            " VALUES (7, 1, 3, '2026-11-02 09:00:00', '2026-11-05 17:00:00')"))
    db.dispose_all()

    upgrade(bare_database_url)

    with db.get_engine(bare_database_url).connect() as conn:
        kept = conn.execute(text('SELECT id, coalition_id, number FROM "round"')).all()
    assert [tuple(row) for row in kept] == [(7, 1, 3)]


# SQLite's reflection cannot read an index on an expression, so the comparison skips it there
# (saying so); the test below checks it directly.
@pytest.mark.filterwarnings("ignore:.*expression-based index ix_organisation_coalition_lower_name")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_the_newest_migration_builds_exactly_the_schema_the_models_describe(bare_database_url):
    upgrade(bare_database_url)
    with db.get_engine(bare_database_url).connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert differences == []


def test_the_migrations_index_organisations_by_their_lowercased_name(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    upgrade(url)
    with db.get_engine(url).connect() as conn:
        made = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = "
                                 "'ix_organisation_coalition_lower_name'")).scalar_one()
    db.dispose_all()
    assert "coalition_id, lower(name)" in made
