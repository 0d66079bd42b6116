"""A one-shot flag shared between a test and the event loop of a server thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading

DEFAULT_TIMEOUT_SECS = 10.0


class Signal:
    """Set once from any thread; waited on from plain threads or from any event loop."""

    def __init__(self, name: str = "signal") -> None:
        self.name = name
        self._flag = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def set(self) -> None:
        """Set the flag and wake every waiter, whatever its thread or loop."""
        with self._lock:
            self._flag.set()
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            # A closed loop has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._flag.is_set()

    def wait(self, timeout: float = DEFAULT_TIMEOUT_SECS) -> None:
        """Block this thread until the flag is set; AssertionError after `timeout` seconds."""
        assert self._flag.wait(timeout), f"{self.name} was not set within {timeout}s"

    async def wait_async(self, timeout: float = DEFAULT_TIMEOUT_SECS) -> None:
        """Wait in the running loop until the flag is set; AssertionError after `timeout`."""
        event = asyncio.Event()
        with self._lock:
            if self._flag.is_set():
                return
            self._waiters.append((asyncio.get_running_loop(), event))
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.name} was not set within {timeout}s") from None
        finally:
            with self._lock:
                self._waiters = [(lp, ev) for lp, ev in self._waiters if ev is not event]
