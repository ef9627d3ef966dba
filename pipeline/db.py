"""Database engines and sessions, for SQLite (development) and PostgreSQL (production)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel, create_engine

_engines: dict[tuple[str, bool], Engine] = {}
READ_ONLY = "cos_read_only"


def normalise_url(url: str) -> str:
    """Make PostgreSQL URLs name the psycopg 3 driver explicitly."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _make_engine(url: str, *, pooled: bool) -> Engine:
    url = normalise_url(url)
    kwargs: dict[str, Any] = {}
    if not pooled:
        # Forked RQ work horses must not share their parent's pooled connections.
        kwargs["poolclass"] = NullPool
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 5, "check_same_thread": False}
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control from pysqlite so every transaction can start IMMEDIATE:
            # a deferred transaction that reads then writes can fail at once under a second writer.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the lock up front. Read-only sessions run each statement on its own
            # (like READ COMMITTED on PostgreSQL), so they never hold a lock or a stale snapshot.
            if not conn.get_execution_options().get(READ_ONLY, False):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs["pool_pre_ping"] = True
    return create_engine(url, **kwargs)


def get_engine(url: str, *, pooled: bool = True) -> Engine:
    """Return the process's engine for this URL, creating it on first use."""
    key = (url, pooled)
    if key not in _engines:
        _engines[key] = _make_engine(url, pooled=pooled)
    return _engines[key]


def _forget_pools_in_child() -> None:
    """In a forked child (an RQ work horse), drop the pooled connections inherited from the
    parent without closing them: they are the parent's, and two processes must never share a
    database connection. The child opens its own when it needs one."""
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_pools_in_child)


def dispose_all() -> None:
    """Close every engine's connections (tests, and processes that are about to exit)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextmanager
def session_scope(url: str, *, pooled: bool = True, read_only: bool = False) -> Iterator[Session]:
    """Open a session that commits on success and rolls back on error.

    On SQLite a writing session starts with BEGIN IMMEDIATE (one writer at a time, waiting up
    to the busy timeout); pass read_only=True for sessions that only look.
    """
    engine = get_engine(url, pooled=pooled)
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def insert_rows(session: Session, model: type[SQLModel], rows: Iterable[dict[str, Any]], *,
                chunk: int = 2000) -> int:
    """Insert many rows of a table in a few statements; return how many.

    No model object is built per row (SQLModel's constructor costs about as much as the
    insert), so a fan-out or import of 100,000 rows neither waits for nor holds 100,000 objects.
    A field a row leaves out takes the model's default, computed once for the call (a
    created_at is the same moment for all of them); the primary key is left to the database.
    """
    from pydantic_core import PydanticUndefined
    from sqlalchemy import insert

    defaults: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name == "id":
            continue
        if info.default_factory is not None:
            defaults[name] = info.default_factory()  # type: ignore[call-arg]
        elif info.default is not PydanticUndefined:
            defaults[name] = info.default
    session.flush()
    done = 0
    rows = iter(rows)
    while batch := [{**defaults, **row} for row in islice(rows, chunk)]:
        session.execute(insert(model), batch)
        done += len(batch)
    return done
