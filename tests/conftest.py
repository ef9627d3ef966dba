"""Shared fixtures: a real Redis, a real SMTP server, SQLite and (when given) PostgreSQL."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlmodel import Session

from cos.local_redis import free_port, private_redis
from pipeline import db, queues
from pipeline.config import Settings
from pipeline.queues import ping
from pipeline.schema import upgrade

pytest_plugins = ["tests.conftest_smtp"]

DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("COS_TEST_DATABASE_URL", "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the chaos suite (tests/chaos, marked `chaos`) out of a run that does not ask for
    it by a -m expression or by its path: `bin/test` runs it as a step of its own."""
    if config.getoption("markexpr") or any("chaos" in arg for arg in config.args):
        return
    chaos = [item for item in items if item.get_closest_marker("chaos")]
    if chaos:
        config.hook.pytest_deselected(items=chaos)
        items[:] = [item for item in items if not item.get_closest_marker("chaos")]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The Redis at COS_TEST_REDIS_URL (its database is flushed), else a private redis-server."""
    given = os.environ.get("COS_TEST_REDIS_URL")
    if given:
        if not ping(given):
            pytest.exit(f"COS_TEST_REDIS_URL={given} does not answer", returncode=2)
        yield given
        return
    with private_redis() as url:
        yield url


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the test Redis, emptied before and after each test."""
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A private schema in the PostgreSQL database at COS_TEST_DATABASE_URL, dropped at the end."""
    if not PG_URL:
        pytest.skip("COS_TEST_DATABASE_URL is not set")
    schema = f"cos_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(db.normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    upgrade(url)
    try:
        yield url
    finally:
        db.dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _truncate_all(url: str) -> None:
    from sqlmodel import SQLModel

    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with db.get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"] if PG_URL else ["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database: a SQLite file, and PostgreSQL when a URL is given."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cos.db'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("pg_schema_url")
        _truncate_all(url)
    yield url
    db.dispose_all()


@pytest.fixture
def db_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings with a database and nothing else: no Redis, mail to a file outbox."""
    instance = tmp_path / "instance"
    return Settings(
        database_url=database_url, redis_url=None, mail_url=(instance / "outbox").as_uri(),
        mail_from="COS Cadence <cos@cadence.test>",
        base_url=f"http://127.0.0.1:{free_port()}", secret_key=secrets.token_hex(32),
        instance=instance,
    )


@pytest.fixture
def settings(db_settings: Settings, redis_url: str, redis_conn: redis.Redis,
             smtp_server) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    """Settings wired to every real service: the database, Redis and an SMTP server."""
    db_settings.instance.mkdir(parents=True, exist_ok=True)
    with queues.configured(db_settings.with_(redis_url=redis_url,
                                             mail_url=smtp_server.url)) as s:
        yield s


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    """A session on the test database, for looking at what the code under test stored."""
    engine = db.get_engine(database_url).execution_options(**{db.READ_ONLY: True})
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    """The web app on the test settings."""
    from forms import create_app

    return create_app(settings)


@dataclass
class LiveServer:
    """The web app served over real HTTP on the port of settings.base_url."""

    url: str


@pytest.fixture
def live_server(app, settings: Settings) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """Serve the app on 127.0.0.1 for the length of a test."""
    from urllib.parse import urlsplit

    from cos.processes import web_server

    port = urlsplit(settings.base_url).port or 80
    with web_server(app, "127.0.0.1", port):
        yield LiveServer(settings.base_url)
