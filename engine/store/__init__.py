"""The SQL store: sessions, stored responses, client keys and limits in one database that
several processes share (SQLite by default, PostgreSQL for several machines). See
`engine.store.database` for URLs and migrations, `engine.store.sessions` for how sessions
are cached and merged, `engine.store.access` for keys and limits."""

from __future__ import annotations

from sqlalchemy.engine import URL

from engine.access import Access
from engine.store.access import SqlFailureStore, SqlKeyStore, SqlLimitStore
from engine.store.database import connect, shown, upgrade
from engine.store.responses import SqlResponseStore
from engine.store.sessions import SqlSessionStore


class SqlStore:
    """The stores on the database at `url`: `open` migrates it and starts watching for
    other processes' changes; `aclose` stops and closes the connections."""

    def __init__(self, url: URL, *, poll_interval: float = 0.5) -> None:
        self.url = url
        self.engine = connect(url)
        self.sessions = SqlSessionStore(self.engine, poll_interval=poll_interval)
        self.responses = SqlResponseStore(self.engine)
        self.access = Access(
            SqlKeyStore(self.engine), SqlLimitStore(self.engine), SqlFailureStore(self.engine)
        )

    async def open(self) -> tuple[str | None, str | None]:
        """Bring the schema up to date and start the session cache's watch; the schema's
        versions before and after."""
        versions = await upgrade(self.engine)
        await self.sessions.start()
        return versions

    async def ping(self) -> None:
        """Ask the database a trivial question (raises when it cannot answer)."""
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")

    async def aclose(self) -> None:
        """Stop watching and close every connection."""
        await self.sessions.aclose()
        await self.engine.dispose()

    def __str__(self) -> str:
        return shown(self.url)
