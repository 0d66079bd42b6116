"""Session keys and the in-memory session store."""

from __future__ import annotations

import pytest

from engine.sessions import SESSION_HEADER, MemorySessionStore, Session, session_key


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


async def test_a_saved_session_is_loaded_again_as_a_copy() -> None:
    store = MemorySessionStore()
    session = await store.load("s1")
    session.set("commands", {"model": "mock:m"})
    assert session.changed
    await store.save(session)
    loaded = await store.load("s1")
    assert loaded is not session and loaded.get("commands") == {"model": "mock:m"}
    loaded.set("commands", {"model": "mock:other"})  # not saved: the store keeps what it had
    assert (await store.load("s1")).get("commands") == {"model": "mock:m"}
    assert (await store.load("s2")).data == {}


def test_a_namespace_is_read_only_and_set_whole() -> None:
    session = Session("s")
    assert session.get("commands") == {} and not session.changed
    session.set("commands", {"model": "a:b"})
    with pytest.raises(TypeError):
        session.get("commands")["model"] = "c:d"  # type: ignore[index]
    session.set("loop_detection", {"enabled": False})
    assert session.data == {"commands": {"model": "a:b"}, "loop_detection": {"enabled": False}}
    session.set("commands", {})
    assert session.data == {"loop_detection": {"enabled": False}}


async def test_saving_an_empty_session_forgets_it() -> None:
    store = MemorySessionStore()
    session = await store.load("s")
    session.set("commands", {"model": "a:b"})
    await store.save(session)
    session.set("commands", {})
    await store.save(session)
    assert len(store) == 0 and not await store.delete("s")


async def test_store_drops_the_least_recently_used() -> None:
    store = MemorySessionStore(max_sessions=2)
    for name in "abc":
        session = await store.load(name)
        session.set("commands", {"model": name})
        await store.save(session)
        if name == "b":
            await store.load("a")  # a is now the most recently used
    assert (await store.load("a")).get("commands") == {"model": "a"}
    assert (await store.load("b")).data == {}  # b was dropped, so this is a fresh session
    assert await store.delete("c") and not await store.delete("c")


async def test_two_requests_of_one_session_keep_both_their_changes() -> None:
    store = MemorySessionStore()
    stream, command = await store.load("s"), await store.load("s")  # both in flight
    command.set("commands", {"model": "mock:m"})
    await store.save(command)
    stream.set("loop_detection", {"seen": 3})  # saved when the stream ends, later
    await store.save(stream)
    assert (await store.load("s")).data == {
        "commands": {"model": "mock:m"},
        "loop_detection": {"seen": 3},
    }
    late = await store.load("s")
    late.set("commands", {})  # the keys it had are removed
    await store.save(late)
    assert (await store.load("s")).data == {"loop_detection": {"seen": 3}}


async def test_two_requests_changing_keys_of_one_namespace_keep_both() -> None:
    store = MemorySessionStore()
    first, second = await store.load("s"), await store.load("s")
    first.set("commands", {"model": "mock:m"})
    second.set("commands", {"temperature": 0.3})
    await store.save(first)
    await store.save(second)
    assert (await store.load("s")).get("commands") == {"model": "mock:m", "temperature": 0.3}
    third, fourth = await store.load("s"), await store.load("s")
    third.set("commands", {"model": "mock:x", "temperature": 0.3})
    fourth.set("commands", {"model": "mock:y", "temperature": 0.3})
    await store.save(third)
    await store.save(fourth)  # one key changed by both: the last save wins
    assert (await store.load("s")).get("commands") == {"model": "mock:y", "temperature": 0.3}


async def test_a_session_saved_twice_writes_only_what_changed_since() -> None:
    store = MemorySessionStore()
    session = await store.load("s")
    session.set("commands", {"model": "mock:m"})
    await store.save(session)
    assert session.changes() == ({}, set()) and not session.changed
    other = await store.load("s")
    other.set("commands", {"model": "mock:m", "temperature": 0.3})
    await store.save(other)
    session.set("commands", {"model": "mock:n"})
    assert session.changes() == ({("commands", "model"): "mock:n"}, set())
    await store.save(session)
    assert (await store.load("s")).get("commands") == {"model": "mock:n", "temperature": 0.3}


async def test_nested_values_are_copied_in_and_out() -> None:
    store = MemorySessionStore()
    session = await store.load("s")
    routes = {"fast": ["a:m", "b:m"]}
    session.set("commands", {"routes": routes})
    await store.save(session)
    routes["fast"].append("c:m")
    loaded = await store.load("s")
    loaded.get("commands")["routes"]["fast"].append("d:m")
    assert (await store.load("s")).get("commands") == {"routes": {"fast": ["a:m", "b:m"]}}
