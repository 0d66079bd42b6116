"""Sessions in the SQL store, shared by every process on it, cached in each.

A session is rows of ``session_values``, one per (namespace, key), and a row of
``session_revisions`` whose number changes with every save. A save writes only the keys
that changed (`Session.changes`), in one transaction: two processes changing different
keys of one session both keep their change, and of two changes to one key the last
committed wins.

Each process keeps the sessions it served in a cache, so that a request whose session
has not changed does not wait on the database. A task reads the revisions of the
sessions changed lately, every `poll_interval` seconds, and drops the copies that are
stale: a change made through another process is seen within about that time. A save
drops this process's copy at once, so its next load reads what every process wrote.

While the database cannot be read, requests go on: with the cached copy, or with no
session state, a warning logged; the polls then catch up on what they missed. A save
that fails raises (the change asked for was not kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Any

import orjson
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.sessions import Session, handed_out
from engine.store.database import upsert
from engine.store.tables import SessionRevision, SessionValue

log = logging.getLogger(__name__)

_Data = dict[str, dict[str, Any]]
# How far back each poll looks, beyond the last one: a save committed this long after it
# took its time (or on a machine whose clock is this far behind) is still seen.
_OVERLAP = 30.0
_VALUES = SessionValue.__table__  # type: ignore[attr-defined]
_REVISIONS = SessionRevision.__table__  # type: ignore[attr-defined]


class SqlSessionStore:
    """The `SessionStore` on a SQL database; `start` begins watching for other processes'
    changes, `aclose` stops."""

    def __init__(
        self, engine: AsyncEngine, *, poll_interval: float = 0.5, max_cached: int = 10_000
    ) -> None:
        self._engine = engine
        self.poll_interval = poll_interval
        self.max_cached = max_cached
        self._cache: OrderedDict[str, tuple[int, _Data]] = OrderedDict()  # id → revision, data
        self._drops = 0  # copies dropped so far: a load that saw some go does not cache
        self._since = 0.0  # where the next poll starts reading
        self._poller: asyncio.Task[None] | None = None
        self.reads = 0  # loads that waited on the database

    async def start(self) -> None:
        """Watch the revisions of sessions other processes change."""
        self._since = time.time() - _OVERLAP
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll_forever())

    async def aclose(self) -> None:
        """Stop watching."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def load(self, session_id: str) -> Session:
        """The session with this id (an empty one when it is new), as a copy."""
        cached = self._cache.get(session_id)
        if cached is not None and self._poller is not None:
            self._cache.move_to_end(session_id)
            return handed_out(session_id, cached[1])
        drops = self._drops
        try:
            revision, data = await self._read(session_id)
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "session %s: the store cannot be read (%s): no session state", session_id, exc
            )
            return Session(session_id)
        if self._poller is not None and drops == self._drops:
            self._keep(session_id, revision, data)
        return handed_out(session_id, data)

    async def save(self, session: Session) -> None:
        """Keep what `session` changed (`session.changes`); the other keys stay as they
        are, and a session left with no state is forgotten."""
        written, removed = session.changes()
        if not written and not removed:
            session.saved()
            return
        async with self._engine.begin() as connection:
            if written:
                rows = [
                    {"session_id": session.id, "namespace": n, "key": k, "value": _json(v)}
                    for (n, k), v in written.items()
                ]
                await connection.execute(
                    upsert(self._engine, _VALUES, rows, ["session_id", "namespace", "key"])
                )
            if removed:
                keys = [and_(_VALUES.c.namespace == n, _VALUES.c.key == k) for n, k in removed]
                await connection.execute(
                    delete(_VALUES).where(_VALUES.c.session_id == session.id, or_(*keys))
                )
            await self._revise(connection, session.id)
        session.saved()
        self._drop(session.id)

    async def delete(self, session_id: str) -> bool:
        """Forget a session; whether it had any state."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(_VALUES).where(_VALUES.c.session_id == session_id)
            )
            await self._revise(connection, session_id)
        self._drop(session_id)
        return bool(result.rowcount)

    async def _read(self, session_id: str) -> tuple[int, _Data]:
        self.reads += 1
        async with self._engine.connect() as connection:
            # The revision first: a save committed between the two reads leaves a newer
            # revision to see, and the copy is dropped at the next poll.
            revision = await connection.scalar(
                select(_REVISIONS.c.revision).where(_REVISIONS.c.session_id == session_id)
            )
            rows = await connection.execute(
                select(_VALUES.c.namespace, _VALUES.c.key, _VALUES.c.value).where(
                    _VALUES.c.session_id == session_id
                )
            )
            data: _Data = {}
            for namespace, key, value in rows:
                data.setdefault(namespace, {})[key] = orjson.loads(value)
        return revision or 0, data

    async def _revise(self, connection: AsyncConnection, session_id: str) -> None:
        """Give the session a new revision number (a fresh one, when its row is new)."""
        now = time.time()
        row = {"session_id": session_id, "revision": time.time_ns(), "changed_at": now}
        revised = {"revision": _REVISIONS.c.revision + 1, "changed_at": now}
        await connection.execute(upsert(self._engine, _REVISIONS, [row], ["session_id"], revised))

    def _keep(self, session_id: str, revision: int, data: _Data) -> None:
        self._cache[session_id] = (revision, data)
        self._cache.move_to_end(session_id)
        if len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)

    def _drop(self, session_id: str) -> None:
        self._drops += 1
        self._cache.pop(session_id, None)

    async def poll(self) -> None:
        """Drop the cached sessions that changed since they were read."""
        started = time.time()
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(_REVISIONS.c.session_id, _REVISIONS.c.revision).where(
                    _REVISIONS.c.changed_at >= self._since
                )
            )
            for session_id, revision in rows:
                cached = self._cache.get(session_id)
                if cached is not None and cached[0] != revision:
                    self._drop(session_id)
        self._since = started - _OVERLAP

    async def _poll_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.poll()
            except (SQLAlchemyError, OSError) as exc:  # the next poll reads from the same time
                if not failing:
                    log.warning("the session store cannot be read (%s): sessions as cached", exc)
                failing = True
            else:
                if failing:
                    log.info("the session store can be read again")
                failing = False


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
