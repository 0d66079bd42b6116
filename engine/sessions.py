"""Per-session state: in-chat command settings such as a model override.

A session is named by the client's ``x-session-id`` header, or by the session id a client
such as Claude Code sends of its own accord (``x-claude-code-session-id``). Without either,
the key is derived from the client: a hash of its API key and User-Agent, so one agent on
one key keeps its settings across requests. This store is in memory; the SQL store
replaces it later.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SESSION_HEADER = "x-session-id"
# Session ids clients send of their own accord, used when `x-session-id` is absent.
CLIENT_SESSION_HEADERS = ("x-claude-code-session-id",)


@dataclass
class Session:
    """One client session's state."""

    id: str
    state: dict[str, Any] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)


def session_key(headers: Mapping[str, str], client_key: str | None) -> str:
    """The session id for a request: the explicit header, else a stable client fingerprint."""
    for name in (SESSION_HEADER, *CLIENT_SESSION_HEADERS):
        explicit = headers.get(name)
        if explicit:
            return explicit
    fingerprint = f"{client_key or ''}\n{headers.get('user-agent', '')}"
    return "client-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:16]


class SessionStore:
    """Sessions in memory, the least recently used dropped beyond `max_sessions`."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def get(self, session_id: str) -> Session:
        """The session with this id, created when new."""
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = Session(session_id)
            if len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(session_id)
        session.last_used = time.monotonic()
        return session
