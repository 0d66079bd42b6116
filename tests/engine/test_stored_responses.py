"""The in-memory store of completed Responses-API responses."""

from __future__ import annotations

import tracemalloc

from engine.model import Message, TextPart
from engine.stored_responses import MemoryResponseStore, StoredResponse


def stored(response_id: str) -> StoredResponse:
    return StoredResponse(
        id=response_id,
        body={"id": response_id},
        messages=[Message(role="user", content=[TextPart(text=response_id)])],
    )


async def test_put_then_get() -> None:
    store = MemoryResponseStore()
    await store.put(stored("resp_a"))

    found = await store.get("resp_a")

    assert found is not None and found.messages[0].text() == "resp_a"
    assert await store.get("resp_b") is None


async def test_least_recently_used_is_dropped_beyond_the_bound() -> None:
    store = MemoryResponseStore(max_responses=2)
    await store.put(stored("resp_1"))
    await store.put(stored("resp_2"))
    await store.get("resp_1")  # now the most recently used

    await store.put(stored("resp_3"))

    assert len(store) == 2
    assert await store.get("resp_2") is None
    assert await store.get("resp_1") is not None and await store.get("resp_3") is not None


async def test_delete() -> None:
    store = MemoryResponseStore()
    await store.put(stored("resp_a"))

    assert await store.delete("resp_a") is True
    assert await store.delete("resp_a") is False
    assert await store.get("resp_a") is None


def big(response_id: str, chars: int) -> StoredResponse:
    text = "x" * chars
    return StoredResponse(
        id=response_id,
        body={"id": response_id},
        messages=[Message(role="user", content=[TextPart(text=text)])],
    )


async def test_least_recently_used_is_dropped_beyond_the_byte_bound() -> None:
    store = MemoryResponseStore(max_bytes=25_000)
    for name in ("resp_1", "resp_2", "resp_3"):
        await store.put(big(name, 10_000))

    assert len(store) == 2
    assert await store.get("resp_1") is None
    assert await store.get("resp_3") is not None


async def test_the_newest_response_is_kept_even_over_the_byte_bound() -> None:
    store = MemoryResponseStore(max_bytes=1_000)
    await store.put(big("resp_small", 10))
    await store.put(big("resp_huge", 10_000))

    assert len(store) == 1
    assert await store.get("resp_huge") is not None


async def test_replacing_or_deleting_gives_the_bytes_back() -> None:
    store = MemoryResponseStore(max_bytes=25_000)
    await store.put(big("resp_1", 10_000))
    await store.put(big("resp_1", 10_000))  # the same id again: counted once
    await store.put(big("resp_2", 10_000))
    assert len(store) == 2
    assert await store.delete("resp_1") is True
    await store.put(big("resp_3", 10_000))
    assert len(store) == 2


async def test_the_byte_bound_counts_what_the_store_really_holds() -> None:
    # A conversation of many small parts: as live objects it would take far more than
    # its JSON, so the store keeps the JSON and counts that.
    store = MemoryResponseStore(max_bytes=10_000_000)
    messages = [Message(role="user", content=[TextPart(text=f"turn {i}")]) for i in range(2_000)]
    await store.put(StoredResponse(id="resp_many", body={"id": "resp_many"}, messages=messages))

    found = await store.get("resp_many")

    assert found is not None and found.messages == messages
    one = store.bytes
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await store.put(StoredResponse(id="resp_copy", body={"id": "resp_many"}, messages=messages))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert store.bytes == 2 * one
    assert held < 1.5 * one  # what it holds is about what it counts
