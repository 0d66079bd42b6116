"""The SQL store on a SQLite file and on a real PostgreSQL: what two processes sharing it
see, what survives a restart, and when a request waits on the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlmodel import SQLModel

from engine.model import Message, TextPart
from engine.store import SqlStore
from engine.store.database import head, store_url, upgrade, version
from engine.stored_responses import StoredResponse

OpenStore = Callable[..., Awaitable[SqlStore]]


@pytest.fixture
async def open_store(database: str) -> AsyncIterator[OpenStore]:
    """`await open_store()`: one more process's store on the test's database, opened."""
    async with AsyncExitStack() as stack:

        async def start(*, watch: bool = True) -> SqlStore:
            store = SqlStore(store_url(database))
            stack.push_async_callback(store.aclose)
            if watch:
                await store.open()
            else:
                await upgrade(store.engine)
            return store

        yield start


async def test_a_session_is_kept_key_by_key(open_store: OpenStore) -> None:
    store: SqlStore = await open_store()
    session = await store.sessions.load("s")
    assert session.data == {}
    session.set("commands", {"model": "mock:a", "temperature": 0.2})
    await store.sessions.save(session)
    again = await store.sessions.load("s")
    assert again.data == {"commands": {"model": "mock:a", "temperature": 0.2}}
    again.set("commands", {"model": "mock:a"})  # temperature unset
    await store.sessions.save(again)
    assert (await store.sessions.load("s")).data == {"commands": {"model": "mock:a"}}
    assert (await store.sessions.load("other")).data == {}
    assert await store.sessions.delete("s")
    assert not await store.sessions.delete("s")
    assert (await store.sessions.load("s")).data == {}


async def test_two_processes_changing_one_session_both_keep_their_change(
    open_store: OpenStore,
) -> None:
    one: SqlStore = await open_store()
    two: SqlStore = await open_store()
    first, second = await one.sessions.load("s"), await two.sessions.load("s")
    first.set("commands", {"model": "mock:a"})
    second.set("commands", {"temperature": 0.5})
    second.set("loop_detection", {"enabled": False})
    await asyncio.gather(one.sessions.save(first), two.sessions.save(second))
    await one.sessions.poll()
    expected = {
        "commands": {"model": "mock:a", "temperature": 0.5},
        "loop_detection": {"enabled": False},
    }
    assert (await one.sessions.load("s")).data == expected
    assert (await two.sessions.load("s")).data == expected


async def test_concurrent_saves_of_different_keys_lose_none(
    open_store: OpenStore,
) -> None:
    stores = [await open_store(), await open_store()]
    sessions = [await stores[i % 2].sessions.load("busy") for i in range(20)]
    for number, session in enumerate(sessions):
        session.set("commands", {f"key{number}": number})
    await asyncio.gather(*(stores[i % 2].sessions.save(s) for i, s in enumerate(sessions)))
    fresh: SqlStore = await open_store()
    kept = (await fresh.sessions.load("busy")).data["commands"]
    assert kept == {f"key{number}": number for number in range(20)}


async def test_an_unchanged_session_is_served_without_the_database(
    open_store: OpenStore,
) -> None:
    one: SqlStore = await open_store()
    two: SqlStore = await open_store()
    session = await one.sessions.load("s")
    session.set("commands", {"model": "mock:a"})
    await one.sessions.save(session)
    await two.sessions.load("s")
    reads = two.sessions.reads
    for _ in range(5):
        assert (await two.sessions.load("s")).data == {"commands": {"model": "mock:a"}}
    assert two.sessions.reads == reads  # from the cache
    await two.sessions.poll()
    assert two.sessions.reads == reads  # nothing changed: the copy stays

    changed = await one.sessions.load("s")
    changed.set("commands", {"model": "mock:b"})
    await one.sessions.save(changed)
    await two.sessions.poll()  # what the watch does every half second
    assert (await two.sessions.load("s")).data == {"commands": {"model": "mock:b"}}
    assert two.sessions.reads == reads + 1


async def test_a_new_session_is_cached_too_and_dropped_when_another_process_makes_it(
    open_store: OpenStore,
) -> None:
    one: SqlStore = await open_store()
    two: SqlStore = await open_store()
    assert (await two.sessions.load("new")).data == {}
    made = await one.sessions.load("new")
    made.set("commands", {"model": "mock:a"})
    await one.sessions.save(made)
    await two.sessions.poll()
    assert (await two.sessions.load("new")).data == {"commands": {"model": "mock:a"}}


async def test_sessions_and_responses_survive_a_restart(
    open_store: OpenStore,
) -> None:
    store: SqlStore = await open_store()
    session = await store.sessions.load("s")
    session.set("commands", {"model": "mock:a"})
    await store.sessions.save(session)
    conversation = [Message(role="user", content=[TextPart(text="hi")])]
    body = {"id": "resp_1", "object": "response", "output": []}
    await store.responses.put(StoredResponse("resp_1", body, conversation))
    await store.aclose()

    restarted: SqlStore = await open_store()
    assert (await restarted.sessions.load("s")).data == {"commands": {"model": "mock:a"}}
    stored = await restarted.responses.get("resp_1")
    assert stored is not None and stored.body == body and stored.messages == conversation
    assert await restarted.responses.delete("resp_1")
    assert await restarted.responses.get("resp_1") is None
    assert not await restarted.responses.delete("resp_1")


async def test_a_response_is_replaced_by_one_with_its_id(
    open_store: OpenStore,
) -> None:
    one: SqlStore = await open_store()
    two: SqlStore = await open_store()
    await one.responses.put(StoredResponse("r", {"v": 1}, [], continuation="up_1"))
    await two.responses.put(StoredResponse("r", {"v": 2}, []))
    stored = await one.responses.get("r")
    assert stored is not None and (stored.body, stored.continuation) == ({"v": 2}, None)


async def test_migrations_are_idempotent_and_make_the_tables_the_code_has(
    open_store: OpenStore,
) -> None:
    store: SqlStore = await open_store(watch=False)
    await upgrade(store.engine)  # again: nothing to do
    assert await version(store.engine) == head()

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection)
        return [d for d in compare_metadata(context, SQLModel.metadata) if d[0] != "remove_table"]

    async with store.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_processes_starting_together_migrate_once(database: str) -> None:
    stores = [SqlStore(store_url(database)) for _ in range(3)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        assert [await version(store.engine) for store in stores] == [head()] * 3
    finally:
        for store in stores:
            await store.aclose()


async def test_while_the_database_is_away_requests_go_on_without_session_state(
    caplog: pytest.LogCaptureFixture, refused_url: str
) -> None:
    port = refused_url.rsplit(":", 1)[1].split("/")[0]
    store = SqlStore(store_url(f"postgresql://nobody@127.0.0.1:{port}/none"))
    try:
        with caplog.at_level(logging.WARNING, "engine.store.sessions"):
            session = await store.sessions.load("s")
        assert session.data == {}
        assert "the store cannot be read" in caplog.text
    finally:
        await store.aclose()
