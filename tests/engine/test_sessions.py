"""Session keys and the in-memory session store."""

from __future__ import annotations

import pytest

from engine.sessions import SESSION_HEADER, SessionStore, session_key


@pytest.mark.parametrize(
    ("headers", "client_key"),
    [
        ({SESSION_HEADER: "chat-42"}, None),
        ({SESSION_HEADER: "chat-42", "user-agent": "x"}, "k"),
        ({"x-claude-code-session-id": "chat-42", "user-agent": "claude-cli/2"}, "k"),
        ({SESSION_HEADER: "chat-42", "x-claude-code-session-id": "other"}, "k"),
    ],
)
def test_header_wins(headers: dict[str, str], client_key: str | None) -> None:
    assert session_key(headers, client_key) == "chat-42"


def test_fingerprint_is_stable() -> None:
    first = session_key({"user-agent": "claude-cli/1.0"}, "sk-a")
    assert first == session_key({"user-agent": "claude-cli/1.0"}, "sk-a")
    assert first.startswith("client-")
    assert len(first) == len("client-") + 16


@pytest.mark.parametrize(
    ("headers", "client_key"),
    [
        ({"user-agent": "claude-cli/1.0"}, "sk-b"),
        ({"user-agent": "codex/0.1"}, "sk-a"),
        ({}, "sk-a"),
        ({"user-agent": "claude-cli/1.0"}, None),
        ({SESSION_HEADER: "", "user-agent": "claude-cli/1.0"}, "sk-b"),
    ],
)
def test_fingerprint_is_distinct_per_key_and_user_agent(
    headers: dict[str, str], client_key: str | None
) -> None:
    base = session_key({"user-agent": "claude-cli/1.0"}, "sk-a")
    other = session_key(headers, client_key)
    assert other.startswith("client-")
    assert other != base


def test_key_and_agent_do_not_run_together() -> None:
    assert session_key({"user-agent": "b"}, "a") != session_key({"user-agent": ""}, "ab")


def test_store_returns_the_same_session() -> None:
    store = SessionStore()
    session = store.get("s1")
    session.state["model"] = "mock:m"
    assert store.get("s1") is session
    assert store.get("s1").state == {"model": "mock:m"}
    assert store.get("s2") is not session


def test_store_drops_the_least_recently_used() -> None:
    store = SessionStore(max_sessions=2)
    a, b = store.get("a"), store.get("b")
    assert store.get("a") is a  # a is now the most recently used
    store.get("c")
    assert store.get("a") is a
    assert store.get("b") is not b  # b was dropped, so this is a fresh session
    assert store.get("b").state == {}
