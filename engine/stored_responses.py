"""Completed Responses-API responses, kept so that `previous_response_id` can continue them.

A stored response holds the client-facing `response` object (for `GET /v1/responses/{id}`)
and the whole conversation up to and including its output, as canonical messages. This
store is in memory and bounded; its interface is async so that the SQL store can replace it.
"""

from __future__ import annotations

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


class ResponseStore:
    """Responses in memory, the least recently used dropped beyond `max_responses`."""

    def __init__(self, max_responses: int = 2_000) -> None:
        self.max_responses = max_responses
        self._responses: OrderedDict[str, StoredResponse] = OrderedDict()

    async def get(self, response_id: str) -> StoredResponse | None:
        """The stored response with this id, if it is still kept."""
        stored = self._responses.get(response_id)
        if stored is not None:
            self._responses.move_to_end(response_id)
        return stored

    async def put(self, stored: StoredResponse) -> None:
        """Keep `stored`, dropping the least recently used beyond the bound."""
        self._responses[stored.id] = stored
        self._responses.move_to_end(stored.id)
        while len(self._responses) > self.max_responses:
            self._responses.popitem(last=False)

    async def delete(self, response_id: str) -> bool:
        """Forget a response; whether it was there."""
        return self._responses.pop(response_id, None) is not None

    def __len__(self) -> int:
        return len(self._responses)
