"""Stored Responses-API responses in the SQL store, so that any process can continue a
conversation (`previous_response_id`) another one answered. Responses older than
`max_age` are deleted now and then, as OpenAI keeps them for 30 days."""

from __future__ import annotations

import time

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.store.database import upsert
from engine.store.tables import StoredResponseRow
from engine.stored_responses import StoredResponse, deserialize, serialize

_RESPONSES = StoredResponseRow.__table__  # type: ignore[attr-defined]
THIRTY_DAYS = 30 * 24 * 3600.0


class SqlResponseStore:
    """The `ResponseStore` on a SQL database."""

    def __init__(
        self, engine: AsyncEngine, *, max_age: float = THIRTY_DAYS, prune_every: int = 500
    ) -> None:
        self._engine = engine
        self.max_age = max_age
        self.prune_every = prune_every
        self._puts = 0

    async def get(self, response_id: str) -> StoredResponse | None:
        """The stored response with this id, if it is still kept."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(
                        _RESPONSES.c.body, _RESPONSES.c.messages, _RESPONSES.c.continuation
                    ).where(_RESPONSES.c.id == response_id)
                )
            ).first()
        return None if row is None else deserialize(response_id, tuple(row))

    async def put(self, stored: StoredResponse) -> None:
        """Keep `stored` (replacing one with its id)."""
        body, messages, continuation = serialize(stored)
        row = {
            "id": stored.id,
            "body": body,
            "messages": messages,
            "continuation": continuation,
            "created_at": time.time(),
        }
        async with self._engine.begin() as connection:
            await connection.execute(upsert(self._engine, _RESPONSES, [row], ["id"]))
            self._puts += 1
            if self._puts % self.prune_every == 1:
                cutoff = time.time() - self.max_age
                await connection.execute(delete(_RESPONSES).where(_RESPONSES.c.created_at < cutoff))

    async def delete(self, response_id: str) -> bool:
        """Forget a response; whether it was there."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(_RESPONSES).where(_RESPONSES.c.id == response_id)
            )
        return bool(result.rowcount)
