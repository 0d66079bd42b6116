"""Reading an async iterator in batches of what is ready now.

A stream's events come in bursts: one read from the upstream carries several, and every
stage and codec between it and the client passes them on without waiting. Written one by
one, each costs a trip through the server's send path and a socket write; `batches` hands
them over together, cut exactly where the next item would have to wait for I/O. It tells
by starting the iterator's next step itself: a step that finishes at once gave an item
that was ready; one that suspends on a future is handed to the event loop as is (the
running task awaits that same future, so cancellation, timeouts and `current_task` behave
as if the step had been awaited directly).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class _Resumed(Awaitable[T]):
    """Awaiting the rest of a step that has already run up to its first suspension."""

    __slots__ = ("_step", "_suspended_on")

    def __init__(self, step: Any, suspended_on: Any) -> None:
        self._step = step
        self._suspended_on = suspended_on

    def __await__(self) -> Generator[Any, Any, T]:
        step, waiting = self._step, self._suspended_on
        while True:
            try:
                sent = yield waiting
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:  # cancellation and the like go into the step
                try:
                    waiting = step.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting = step.send(sent)
                except StopIteration as done:
                    return done.value


async def _abandon(items: AsyncIterator[Any], step: Any) -> None:
    """End `items` from inside `step`, where it waits: as if the task had been cancelled
    there, its cleanup runs (and may await) now. (Closing the step object alone would
    leave `items` marked as running, its own `aclose` refused; a GeneratorExit thrown in
    would close each iterator it waits on in the same broken way.)"""
    try:
        try:
            waiting = step.throw(asyncio.CancelledError())
        except StopIteration:  # it took the cancellation and gave an item: close it
            pass
        else:
            await _Resumed[Any](step, waiting)
    except (asyncio.CancelledError, StopAsyncIteration):
        return
    close = getattr(items, "aclose", None)
    if close is not None:
        await close()


async def batches(items: AsyncIterator[T]) -> AsyncGenerator[list[T], None]:
    """`items` in lists: each holds what was ready without waiting, and a list goes out
    as soon as the next item would have to wait (never empty). Closing this closes `items`
    where it waits, if it does."""
    batch: list[T] = []
    while True:
        step = items.__anext__().__await__()  # a generator, whatever the awaitable is
        try:
            suspended_on = step.send(None)
        except StopIteration as done:  # ready now
            batch.append(done.value)
            continue
        except StopAsyncIteration:
            break
        except BaseException:
            if batch:  # what came before a failure still goes out, the failure after it
                yield batch
            raise
        if batch:
            try:
                yield batch
            except BaseException:
                await _abandon(items, step)
                raise
            batch = []
        try:
            batch.append(await _Resumed[T](step, suspended_on))
        except StopAsyncIteration:
            return
    if batch:
        yield batch
