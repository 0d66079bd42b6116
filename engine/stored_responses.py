"""Completed Responses-API responses, kept so that `previous_response_id` can continue them.

A stored response holds the client-facing `response` object (for `GET /v1/responses/{id}`)
and the whole conversation up to and including its output, as canonical messages. This
store is in memory and bounded; its interface is async so that the SQL store can replace it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from engine.model import Message


@dataclass(frozen=True)
class StoredResponse:
    """One completed response and the conversation that led to it."""

    id: str
    body: dict[str, Any]
    messages: list[Message] = field(default_factory=list)


def _size(stored: StoredResponse) -> int:
    """About how many bytes a stored response holds (its conversation and its body)."""
    return len(json.dumps(stored.body)) + sum(len(m.model_dump_json()) for m in stored.messages)


class ResponseStore:
    """Responses in memory, the least recently used dropped beyond `max_responses` or
    `max_bytes` (each response keeps its whole conversation, images included)."""

    def __init__(self, max_responses: int = 2_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_responses = max_responses
        self.max_bytes = max_bytes
        self._responses: OrderedDict[str, StoredResponse] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._bytes = 0

    async def get(self, response_id: str) -> StoredResponse | None:
        """The stored response with this id, if it is still kept."""
        stored = self._responses.get(response_id)
        if stored is not None:
            self._responses.move_to_end(response_id)
        return stored

    async def put(self, stored: StoredResponse) -> None:
        """Keep `stored`, dropping the least recently used beyond the bounds (the newest
        response is kept even when it alone is over `max_bytes`)."""
        self._forget(stored.id)
        self._responses[stored.id] = stored
        self._sizes[stored.id] = size = _size(stored)
        self._bytes += size
        while len(self._responses) > self.max_responses or (
            self._bytes > self.max_bytes and len(self._responses) > 1
        ):
            self._forget(next(iter(self._responses)))

    async def delete(self, response_id: str) -> bool:
        """Forget a response; whether it was there."""
        return self._forget(response_id)

    def _forget(self, response_id: str) -> bool:
        if self._responses.pop(response_id, None) is None:
            return False
        self._bytes -= self._sizes.pop(response_id)
        return True

    def __len__(self) -> int:
        return len(self._responses)
