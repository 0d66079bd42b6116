"""What every fake provider shares: a script of replies, a record of requests, a server.

A test queues replies with `script(...)`, one per upstream request, in order; with nothing
queued the fake answers with its `default_reply()`. Requests are recorded for assertions.
Replies that hang (they have a `release()` method) are all released when the fake stops.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import deque
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from quart import Quart

from tests.support.servers import ServerThread

ReplyT = TypeVar("ReplyT")
RecordedT = TypeVar("RecordedT")
R = TypeVar("R")


class ScriptedFake(ABC, Generic[ReplyT, RecordedT]):
    """A fake provider's state and its Quart app; a context manager that serves it."""

    name = "fake"

    def __init__(self) -> None:
        # What the fake's model-list endpoint reports, in its protocol's shape.
        self.listed_models: list[str] = ["model-a", "model-b"]
        self.requests: list[RecordedT] = []
        self._script: deque[ReplyT] = deque()
        self._served: list[ReplyT] = []
        self._lock = threading.Lock()
        self.app = self._build_app()
        self.server = ServerThread(self.app, name=self.name)

    @abstractmethod
    def _build_app(self) -> Quart:
        """The fake's endpoints; they answer with `self._next(recorded)`."""

    @abstractmethod
    def default_reply(self) -> ReplyT:
        """What the fake answers when nothing is scripted."""

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, the root the provider's SDK would take as its base URL."""
        return self.server.base_url

    def script(self, reply: R, *more: ReplyT) -> R:
        """Queue replies for the next requests, in order; returns the first."""
        with self._lock:
            self._script.extend((reply, *more))  # type: ignore[arg-type]
        return reply

    def reset(self) -> None:
        """Forget replies still queued (what a failed test may leave behind)."""
        with self._lock:
            self._script.clear()

    @property
    def last(self) -> RecordedT:
        """The most recent request."""
        with self._lock:
            assert self.requests, f"{self.name} received no request"
            return self.requests[-1]

    def release_all(self) -> None:
        """Release every hanging reply, served or still queued."""
        with self._lock:
            replies: list[Any] = [*self._served, *self._script]
        for reply in replies:
            release = getattr(reply, "release", None)
            if release is not None:
                release()

    def _next(self, recorded: RecordedT) -> ReplyT:
        """Record a request and take the reply for it."""
        with self._lock:
            self.requests.append(recorded)
            reply = self._script.popleft() if self._script else self.default_reply()
            self._served.append(reply)
            return reply

    def __enter__(self) -> Self:
        self.server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release_all()
        self.server.stop()
