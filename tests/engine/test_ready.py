"""`batches`: what is ready goes out together, cut where the next item must wait; closing
or cancelling it reaches the iterator where it waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from engine.ready import batches


async def bursts(*sizes: int, gate: asyncio.Event | None = None) -> AsyncIterator[int]:
    """Items in bursts of `sizes`, each burst after a wait on the loop (or on `gate`)."""
    n = 0
    for size in sizes:
        if gate is None:
            await asyncio.sleep(0)
        else:
            await gate.wait()
            gate.clear()
        for _ in range(size):
            n += 1
            yield n


async def test_what_is_ready_goes_out_together() -> None:
    got = [batch async for batch in batches(bursts(3, 1, 2))]
    assert got == [[1, 2, 3], [4], [5, 6]]


async def test_items_that_never_wait_are_one_batch() -> None:
    async def ready() -> AsyncIterator[int]:
        for n in range(5):
            yield n

    assert [batch async for batch in batches(ready())] == [[0, 1, 2, 3, 4]]


async def test_a_batch_goes_out_before_the_wait_for_the_next() -> None:
    gate = asyncio.Event()
    gate.set()
    reader = batches(bursts(2, 2, gate=gate))
    assert await anext(reader) == [1, 2]  # the source now waits on the gate
    gate.set()
    assert await anext(reader) == [3, 4]


async def test_a_failure_comes_after_what_was_ready_before_it() -> None:
    async def failing() -> AsyncIterator[int]:
        await asyncio.sleep(0)
        yield 1
        yield 2
        raise ValueError("broken")

    reader = batches(failing())
    assert await anext(reader) == [1, 2]
    with pytest.raises(ValueError, match="broken"):
        await anext(reader)


async def test_closing_runs_the_source_cleanup_where_it_waits() -> None:
    gate = asyncio.Event()
    cleaned: list[str] = []

    async def source() -> AsyncIterator[int]:
        try:
            yield 1
            await gate.wait()  # never set: the reader closes while the source waits here
            yield 2
        finally:
            await asyncio.sleep(0)  # a cleanup that awaits, as closing a response does
            cleaned.append("closed")

    items = source()
    reader = batches(items)
    assert await anext(reader) == [1]
    await reader.aclose()
    assert cleaned == ["closed"]
    await items.aclose()  # closed already: not "already running"
    assert items.ag_frame is None


async def test_cancelling_reaches_the_source_where_it_waits() -> None:
    gate, waiting = asyncio.Event(), asyncio.Event()
    seen: list[str] = []

    async def source() -> AsyncIterator[int]:
        try:
            waiting.set()
            await gate.wait()
            yield 1
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def consume() -> list[list[int]]:
        return [batch async for batch in batches(source())]

    task = asyncio.create_task(consume())
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]
