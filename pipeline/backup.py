"""Backups of the SQLite default: online and consistent, with SQLite's own backup API.

A backup runs while the app and workers keep writing: SQLite copies pages under its own locks,
restarting a step when a writer changes a page it already copied. PostgreSQL has pg_dump.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from pipeline.db import normalise_url
from pipeline.errors import FixableError

PAGES_PER_STEP = 256


class BackupError(FixableError):
    """A backup or restore cannot be done; the message says why."""


def sqlite_path(database_url: str) -> Path:
    """Return the file of a SQLite database URL, or say that backups are for SQLite."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        raise BackupError(f"`cos backup` copies a SQLite file; {url.get_backend_name()} has its "
                          "own tools (for PostgreSQL: pg_dump and pg_restore)")
    return Path(url.database or "")


def _copy(source_path: Path, target_path: Path,
          progress: Callable[[int, int], None] | None) -> None:
    """Copy one SQLite file into another with the backup API, page step by page step."""
    def report(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    target_path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    into = sqlite3.connect(target_path)
    try:
        source.backup(into, pages=PAGES_PER_STEP, progress=report)
    finally:
        into.close()
        source.close()


def backup(database_url: str, target: Path,
           progress: Callable[[int, int], None] | None = None) -> Path:
    """Copy the live database into a new file; refuse to overwrite one."""
    source_path = sqlite_path(database_url)
    if not source_path.exists():
        raise BackupError(f"there is no database at {source_path} to back up")
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new file name")
    _copy(source_path, target, progress)
    return target


def restore(backup_file: Path, database_url: str, *, replace: bool = False,
            progress: Callable[[int, int], None] | None = None) -> Path:
    """Copy a backup into the database file (stop the app and workers first)."""
    target_path = sqlite_path(database_url)
    if not backup_file.is_file():
        raise BackupError(f"there is no backup file at {backup_file}")
    check = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
        tables = {r[0] for r in check.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{backup_file} is not a SQLite database ({exc})") from exc
    finally:
        check.close()
    if verdict != "ok" or "coalition" not in tables:
        raise BackupError(f"{backup_file} is not a sound COS Cadence backup ({verdict})")
    if target_path.exists() and target_path.stat().st_size and not replace:
        raise BackupError(f"{target_path} already holds a database; stop the app and workers, "
                          "then restore with --replace to overwrite it")
    _copy(backup_file, target_path, progress)
    return target_path
