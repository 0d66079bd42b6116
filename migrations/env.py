"""Alembic's environment for the engine's store.

`engine db upgrade` and `engine serve` run the migrations on a connection they hand over
(``config.attributes["connection"]``). The `alembic` command works too, given the URL:
``alembic -c migrations/alembic.ini -x store=sqlite:///engine.db upgrade head``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import engine.store.tables  # noqa: F401  (the tables, into SQLModel's metadata)
from engine.store.database import DEFAULT_STORE, connect, store_url

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_own_connection() -> None:
    url = store_url(context.get_x_argument(as_dictionary=True).get("store", DEFAULT_STORE))
    engine = connect(url)
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the store's migrations run against a database, not offline")
given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_on_own_connection())
