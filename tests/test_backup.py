"""`cos backup` and `cos restore` for the SQLite default, while the data keeps changing."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import text

from pipeline import db
from pipeline.config import Settings
from pipeline.schema import upgrade
from tests.helpers import cos, load, open_round


def dump(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, for comparing two databases."""
    with db.get_engine(url).connect() as conn:
        names = [r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"))]
        return {n: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{n}"'))))  # noqa: S608
                for n in names}


@pytest.fixture
def sqlite_settings(tmp_path) -> Settings:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    instance = tmp_path / "instance"
    return Settings(database_url=url, redis_url=None, mail_url=(instance / "outbox").as_uri(),
                    mail_from="COS <cos@cadence.test>", base_url="http://127.0.0.1:5000",
                    secret_key=secrets.token_hex(32), instance=instance)


def test_a_backup_restored_into_a_fresh_database_holds_the_same_rows(sqlite_settings, tmp_path):
    load(sqlite_settings)
    open_round(sqlite_settings)
    saved = tmp_path / "backups" / "cos-1.db"
    made = cos(sqlite_settings, "backup", str(saved))
    assert made.exit_code == 0, made.output
    assert f"backed up to {saved}" in made.stdout

    fresh = sqlite_settings.with_(database_url=f"sqlite:///{tmp_path / 'fresh.db'}")
    restored = cos(fresh, "restore", str(saved))
    assert restored.exit_code == 0, restored.output
    assert dump(fresh.database_url) == dump(sqlite_settings.database_url)
    db.dispose_all()


def test_backup_and_restore_refuse_to_overwrite_and_say_how(sqlite_settings, tmp_path):
    load(sqlite_settings)
    saved = tmp_path / "cos.db"
    assert cos(sqlite_settings, "backup", str(saved)).exit_code == 0
    again = cos(sqlite_settings, "backup", str(saved))
    assert again.exit_code == 1 and "already exists; choose a new file name" in again.output
    over = cos(sqlite_settings, "restore", str(saved))
    assert over.exit_code == 1 and "restore with --replace" in over.output
    assert cos(sqlite_settings, "restore", str(saved), "--replace").exit_code == 0
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    bad = cos(sqlite_settings, "restore", str(junk), "--replace")
    assert bad.exit_code == 1 and "is not a SQLite database" in bad.output
    db.dispose_all()


def test_backup_of_postgresql_points_to_its_own_tools(sqlite_settings, tmp_path):
    elsewhere = sqlite_settings.with_(database_url="postgresql://cos@127.0.0.1:5432/cos")
    result = cos(elsewhere, "backup", str(tmp_path / "x.db"))
    assert result.exit_code == 1 and "pg_dump" in result.output
