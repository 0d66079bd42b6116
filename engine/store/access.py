"""Client keys, rate-limit windows and failed key attempts in the SQL store, so that every
process sharing it sees one set of keys and enforces one limit (`engine.access`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.access.failures import FORGET_AFTER_SECS, block_secs
from engine.access.keys import ClientKey
from engine.access.limits import Limit, over, window
from engine.store.database import upsert
from engine.store.tables import AuthFailureRow, ClientKeyRow, RateWindowRow

_KEYS = ClientKeyRow.__table__  # type: ignore[attr-defined]
_WINDOWS = RateWindowRow.__table__  # type: ignore[attr-defined]
_FAILURES = AuthFailureRow.__table__  # type: ignore[attr-defined]
_KEY_COLUMNS = ("name", "key_id", "salt", "digest", "rpm", "tpm", "created_at", "revoked_at")


class SqlKeyStore:
    """The `KeyStore` on a SQL database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, key: ClientKey) -> None:
        async with self._engine.begin() as connection:
            old = (
                await connection.execute(select(_KEYS.c.revoked_at).where(_KEYS.c.name == key.name))
            ).first()
            if old is not None and old[0] is None:
                raise ValueError(f"a key called {key.name!r} exists; revoke it first")
            row = {column: getattr(key, column) for column in _KEY_COLUMNS}
            await connection.execute(upsert(self._engine, _KEYS, [row], ["name"]))

    async def find(self, key_id: str) -> ClientKey | None:
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(*(_KEYS.c[c] for c in _KEY_COLUMNS)).where(_KEYS.c.key_id == key_id)
                )
            ).first()
        return None if row is None else ClientKey(*row)

    async def all(self) -> list[ClientKey]:
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(*(_KEYS.c[c] for c in _KEY_COLUMNS)).order_by(_KEYS.c.name)
            )
            return [ClientKey(*row) for row in rows]

    async def revoke(self, name: str) -> bool:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(_KEYS)
                .where(_KEYS.c.name == name, _KEYS.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
            return bool(result.rowcount)


class SqlLimitStore:
    """The `LimitStore` on a SQL database: each count one atomic upsert per scope."""

    def __init__(self, engine: AsyncEngine, *, prune_every: int = 1000) -> None:
        self._engine = engine
        self._takes = 0
        self.prune_every = prune_every

    async def take(self, limits: Sequence[Limit], now: float) -> Limit | None:
        current, hit = window(now), None
        async with self._engine.begin() as connection:
            for limit in limits:
                row = {"scope": limit.scope, "window": current, "requests": 1, "tokens": 0}
                statement = upsert(
                    self._engine,
                    _WINDOWS,
                    [row],
                    ["scope", "window"],
                    {"requests": _WINDOWS.c.requests + 1},
                ).returning(_WINDOWS.c.requests, _WINDOWS.c.tokens)
                requests, tokens = (await connection.execute(statement)).one()
                if hit is None and over(limit, requests, tokens):
                    hit = limit
            self._takes += 1
            if self._takes % self.prune_every == 1:
                await connection.execute(delete(_WINDOWS).where(_WINDOWS.c.window < current - 1))
        return hit

    async def spend(self, scopes: Sequence[str], tokens: int, now: float) -> None:
        if not scopes or tokens <= 0:
            return
        rows = [
            {"scope": s, "window": window(now), "requests": 0, "tokens": tokens} for s in scopes
        ]
        async with self._engine.begin() as connection:
            for row in rows:  # one statement per row: each adds to what is there
                await connection.execute(
                    upsert(
                        self._engine,
                        _WINDOWS,
                        [row],
                        ["scope", "window"],
                        {"tokens": _WINDOWS.c.tokens + tokens},
                    )
                )


class SqlFailureStore:
    """The `FailureStore` on a SQL database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def blocked(self, address: str, now: float) -> float:
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(_FAILURES.c.blocked_until).where(_FAILURES.c.address == address)
                )
            ).first()
        return max(0.0, row[0] - now) if row else 0.0

    async def failed(self, address: str, now: float) -> float:
        async with self._engine.begin() as connection:
            row = (
                await connection.execute(
                    select(_FAILURES.c.failures, _FAILURES.c.last_failure).where(
                        _FAILURES.c.address == address
                    )
                )
            ).first()
            failures = 1 if row is None or now - row[1] > FORGET_AFTER_SECS else row[0] + 1
            block = block_secs(failures)
            values = {
                "address": address,
                "failures": failures,
                "blocked_until": now + block,
                "last_failure": now,
            }
            await connection.execute(upsert(self._engine, _FAILURES, [values], ["address"]))
        return block

    async def succeeded(self, address: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(delete(_FAILURES).where(_FAILURES.c.address == address))


__all__ = ["SqlFailureStore", "SqlKeyStore", "SqlLimitStore"]
