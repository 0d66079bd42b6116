"""Completed Responses-API responses, kept so that `previous_response_id` can continue them.

A stored response holds the client-facing `response` object (for `GET /v1/responses/{id}`)
and the whole conversation up to and including its output, as canonical messages.
:class:`ResponseStore` is the interface; :class:`MemoryResponseStore` keeps responses in
memory, bounded, each serialized, so that its byte bound is what it really holds (live
Python objects take some 35 times the memory of their JSON) and every `get` is a copy of
its own, which no stage editing a request can change for the next one.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from pydantic import TypeAdapter

from engine.model import Message


@dataclass(frozen=True)
class StoredResponse:
    """One completed response and the conversation that led to it."""

    id: str
    body: dict[str, Any]
    messages: list[Message] = field(default_factory=list)
    # The provider-held response the conversation continues, when it began from one the
    # proxy does not hold (`ChatRequest.continuation`).
    continuation: str | None = None


_MESSAGES = TypeAdapter(list[Message])


_Serialized = tuple[bytes, bytes, str | None]


def serialize(stored: StoredResponse) -> _Serialized:
    """The response as its body's JSON, its conversation's JSON and its continuation."""
    messages = _MESSAGES.dump_json(stored.messages, exclude_none=True)
    return orjson.dumps(stored.body), messages, stored.continuation


def deserialize(response_id: str, data: _Serialized) -> StoredResponse:
    """The response `serialize` made `data` of."""
    body, messages, continuation = data
    return StoredResponse(
        id=response_id,
        body=orjson.loads(body),
        messages=_MESSAGES.validate_json(messages),
        continuation=continuation,
    )


class ResponseStore(Protocol):
    """Where stored responses live."""

    async def get(self, response_id: str) -> StoredResponse | None:
        """The stored response with this id, if it is still kept, as a copy."""
        ...

    async def put(self, stored: StoredResponse) -> None:
        """Keep `stored` (replacing one with its id)."""
        ...

    async def delete(self, response_id: str) -> bool:
        """Forget a response; whether it was there."""
        ...


class MemoryResponseStore:
    """Responses in memory, the least recently used dropped beyond `max_responses` or
    `max_bytes` (each response keeps its whole conversation, images included)."""

    def __init__(self, max_responses: int = 2_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_responses = max_responses
        self.max_bytes = max_bytes
        self._responses: OrderedDict[str, _Serialized] = OrderedDict()
        self._bytes = 0

    async def get(self, response_id: str) -> StoredResponse | None:
        """The stored response with this id, if it is still kept."""
        data = self._responses.get(response_id)
        if data is None:
            return None
        self._responses.move_to_end(response_id)
        return deserialize(response_id, data)

    async def put(self, stored: StoredResponse) -> None:
        """Keep `stored`, dropping the least recently used beyond the bounds (the newest
        response is kept even when it alone is over `max_bytes`)."""
        self._forget(stored.id)
        data = self._responses[stored.id] = serialize(stored)
        self._bytes += len(data[0]) + len(data[1])
        while len(self._responses) > self.max_responses or (
            self._bytes > self.max_bytes and len(self._responses) > 1
        ):
            self._forget(next(iter(self._responses)))

    async def delete(self, response_id: str) -> bool:
        """Forget a response; whether it was there."""
        return self._forget(response_id)

    @property
    def bytes(self) -> int:
        """What the kept responses take, in bytes."""
        return self._bytes

    def _forget(self, response_id: str) -> bool:
        data = self._responses.pop(response_id, None)
        if data is None:
            return False
        self._bytes -= len(data[0]) + len(data[1])
        return True

    def __len__(self) -> int:
        return len(self._responses)
