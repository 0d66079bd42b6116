"""The SQL database behind the stores: where it is, how to connect, its schema's version.

A store is named by a URL (``--store`` / ``ENGINE_STORE``): ``sqlite:///engine.db`` (the
default, a file in the working directory), ``postgresql://user:pass@host/db`` for several
processes or machines, or a bare file path for SQLite. The async drivers (aiosqlite,
asyncpg) are filled in. SQLite runs in WAL mode with a busy timeout, so that several
processes on one machine can share one file.

The schema is Alembic's (``migrations/``): :func:`upgrade` brings a database to the newest
version, holding a lock (PostgreSQL's advisory lock, a lock file beside a SQLite file)
while it does, so that processes starting together migrate once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_STORE = "sqlite:///engine.db"
STORE_ENV = "ENGINE_STORE"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_ALIASES = {"postgres": "postgresql"}
_LOCK_ID = 0x656E67696E65  # "engine": the advisory lock the migrations hold


class StoreURLError(ValueError):
    """A store URL that names no database the engine can use."""


def store_url(text: str) -> URL:
    """The SQLAlchemy URL, with its async driver, for a store URL or a SQLite file path."""
    if "://" not in text:
        text = "sqlite:///" + text
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise StoreURLError(f"not a store URL: {text!r}") from exc
    backend = _ALIASES.get(url.get_backend_name(), url.get_backend_name())
    if backend not in _DRIVERS:
        raise StoreURLError(
            f"store {url.render_as_string(hide_password=True)!r}: "
            "the store is SQLite (sqlite:///FILE) or PostgreSQL (postgresql://…)"
        )
    url = url.set(drivername=_DRIVERS[backend])
    if backend == "postgresql" and "sslmode" in url.query:  # libpq's spelling; asyncpg's is ssl
        query = dict(url.query)
        query["ssl"] = query.pop("sslmode")
        url = url.set(query=query)
    return url


def shown(url: URL) -> str:
    """The URL as logs may show it: no password."""
    return url.render_as_string(hide_password=True)


def connect(url: URL) -> AsyncEngine:
    """An async engine for `url`; SQLite tuned for several processes on one file."""
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _tune_sqlite)
    return engine


def upsert(
    engine: AsyncEngine,
    table: Table,
    rows: list[dict[str, Any]],
    keys: list[str],
    update: dict[str, Any] | None = None,
) -> Any:
    """INSERT `rows` into `table`; where one has the `keys` of a row already there, UPDATE
    that row's other columns (or set `update`) instead."""
    insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(rows)
    if update is None:
        update = {name: statement.excluded[name] for name in rows[0] if name not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=update)


def _tune_sqlite(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # a writer waits for another, not fails
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint, as WAL allows
    cursor.close()


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade_on(connection: Connection) -> None:
    from alembic import command

    command.upgrade(_alembic_config(connection), "head")


def _version_on(connection: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def head() -> str | None:
    """The newest schema version the migrations know."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


async def version(engine: AsyncEngine) -> str | None:
    """The schema version of the database (None before the first migration)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_version_on)


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """Apply the migrations the database lacks, one process at a time (a SQLite file is
    first opened under the lock too, since its first opening switches it to WAL); the
    schema's versions before and after."""
    async with _migration_lock(engine):
        async with engine.connect() as connection:
            before = await connection.run_sync(_version_on)
        if before != head():
            async with engine.begin() as connection:
                await connection.run_sync(_upgrade_on)
        async with engine.connect() as connection:
            return before, await connection.run_sync(_version_on)


@contextlib.asynccontextmanager
async def _migration_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    url = engine.url
    if url.get_backend_name() == "postgresql":
        async with engine.connect() as connection:
            await connection.exec_driver_sql(f"SELECT pg_advisory_lock({_LOCK_ID})")
            try:
                yield
            finally:
                await connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK_ID})")
        return
    if not url.database or url.database == ":memory:":
        yield
        return
    fd = os.open(url.database + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and with it the lock
