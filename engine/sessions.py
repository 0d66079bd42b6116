"""Per-session state (in-chat command settings such as a model override) and its stores.

A session is named by the client's ``x-session-id`` header, or by the session id a client
such as Claude Code sends of its own accord (``x-claude-code-session-id``). Without either,
the key is derived from the client: a hash of its API key and User-Agent, so one agent on
one key keeps its settings across requests.

Each stage keeps its part of a session in a namespace of its own (its registered name),
as JSON values. The executor loads a session from a :class:`SessionStore` before the
stages run and saves it when one of them changed it. A save writes only the keys that
changed since the load (`Session.changes`), so two requests of one session that change
different things (a stream's stage, and a `!/model` sent meanwhile, maybe through another
process) both keep their change; of two changes to one key, the last save wins. Stores
hand out copies: what a stage does to a session it has not saved is nobody else's
business. This module has the memory store; `engine.store` has the SQL one.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import orjson

SESSION_HEADER = "x-session-id"
# Session ids clients send of their own accord, used when `x-session-id` is absent.
CLIENT_SESSION_HEADERS = ("x-claude-code-session-id",)

_EMPTY: Mapping[str, Any] = MappingProxyType({})
Keys = set[tuple[str, str]]  # (namespace, key) pairs


@dataclass(slots=True)
class Session:
    """One client session's state: a namespace of JSON-able values per stage."""

    id: str
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)  # the namespaces `set` replaced
    loaded: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)  # as loaded

    def get(self, namespace: str) -> Mapping[str, Any]:
        """The values kept under `namespace` (read-only: change them with `set`)."""
        found = self.data.get(namespace)
        return _EMPTY if found is None else MappingProxyType(found)

    def set(self, namespace: str, values: Mapping[str, Any]) -> None:
        """Replace what `namespace` keeps (nothing, when `values` is empty)."""
        if values:
            self.data[namespace] = dict(values)
        else:
            self.data.pop(namespace, None)
        self.changed.add(namespace)

    def changes(self) -> tuple[dict[tuple[str, str], Any], Keys]:
        """What `set` changed since the load, key by key: the values to write, by
        (namespace, key), and the keys to remove."""
        written: dict[tuple[str, str], Any] = {}
        removed: Keys = set()
        for namespace in self.changed:
            now = self.data.get(namespace, {})
            before = self.loaded.get(namespace, _EMPTY)
            for key, value in now.items():
                if key not in before or before[key] != value:
                    written[namespace, key] = value
            removed.update((namespace, key) for key in before if key not in now)
        return written, removed

    def saved(self) -> None:
        """Note that the store has what `set` changed: later changes count from here."""
        loaded = dict(self.loaded)
        for namespace in self.changed:
            if namespace in self.data:
                loaded[namespace] = _copy(self.data[namespace])
            else:
                loaded.pop(namespace, None)
        self.loaded = loaded
        self.changed.clear()


# On/off switches a session sets for the stages that read them (`!/set(loop-detection=off)`),
# kept in a namespace of their own.
SWITCHES = "switches"
SWITCH_NAMES = ("loop-detection", "redaction", "tool-safety")


def switch(session: Session, name: str) -> bool | None:
    """Whether the session switched `name` (one of SWITCH_NAMES) on or off; None when it
    left it as the route configures it."""
    value = session.get(SWITCHES).get(name)
    return value if isinstance(value, bool) else None


def session_key(headers: Mapping[str, str], client_key: str | None) -> str:
    """The session id for a request: the explicit header, else a stable client fingerprint."""
    for name in (SESSION_HEADER, *CLIENT_SESSION_HEADERS):
        explicit = headers.get(name)
        if explicit:
            return explicit
    fingerprint = f"{client_key or ''}\n{headers.get('user-agent', '')}"
    return "client-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:16]


class SessionStore(Protocol):
    """Where sessions live between requests."""

    async def load(self, session_id: str) -> Session:
        """The session with this id (an empty one when it is new), as a copy."""
        ...

    async def save(self, session: Session) -> None:
        """Keep what `session` changed (`session.changes`), and say so (`session.saved`);
        the store's other keys stay as they are, and a session left with no state is
        forgotten."""
        ...

    async def delete(self, session_id: str) -> bool:
        """Forget a session; whether it was there."""
        ...


def _copy(data: Any) -> Any:
    """A deep copy of JSON values (and a check that they are JSON, as a SQL store needs)."""
    return orjson.loads(orjson.dumps(data))


def handed_out(session_id: str, data: dict[str, dict[str, Any]]) -> Session:
    """A session as a store hands it out: a copy of `data`, and another of what it was."""
    if not data:  # most sessions: nothing kept, nothing to copy
        return Session(session_id)
    return Session(session_id, _copy(data), loaded=_copy(data))


class MemorySessionStore:
    """Sessions in this process's memory, the least recently used dropped beyond
    `max_sessions`; values are copied in and out."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()

    async def load(self, session_id: str) -> Session:
        """The session with this id (an empty one when it is new), as a copy."""
        data = self._sessions.get(session_id)
        if data is None:
            return Session(session_id)
        self._sessions.move_to_end(session_id)
        return handed_out(session_id, data)

    async def save(self, session: Session) -> None:
        """Keep what `session` changed (`session.changes`); the store's other keys stay as
        they are, and a session left with no state is forgotten."""
        written, removed = session.changes()
        session.saved()
        if not written and not removed:
            return
        kept = self._sessions.get(session.id, {})
        for (namespace, key), value in written.items():
            kept.setdefault(namespace, {})[key] = _copy(value)
        for namespace, key in removed:
            values = kept.get(namespace, {})
            values.pop(key, None)
            if not values:
                kept.pop(namespace, None)
        if not kept:
            self._sessions.pop(session.id, None)
            return
        self._sessions[session.id] = kept
        self._sessions.move_to_end(session.id)
        if len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)

    async def delete(self, session_id: str) -> bool:
        """Forget a session; whether it was there."""
        return self._sessions.pop(session_id, None) is not None

    def __len__(self) -> int:
        return len(self._sessions)
