"""Backend strategies: how a route's targets answer a request.

A strategy kind is a class decorated with ``@strategy("name")``: a docstring, a ``Config``
(a :class:`StrategyConfig`, so it says `strategy` and `targets`, plus its own keys) and

``async def run(self, ctx, targets, send) -> AsyncIterator[Event]``
    Returns the events the client gets: usually one :class:`Attempt`'s ``events()``, or an
    async generator of the strategy's own that combines several. ``send(target)`` is the
    executor's call to one target: it returns an Attempt once the target's first event
    arrived, or raises ProxyError when the target failed before any output. Which target
    served and what its request left out are noted there, once (the place for per-call
    timing, capture and circuit state), so a strategy only decides whom to ask and whose
    events to pass on. An attempt it does not pass on, it closes (``await
    attempt.aclose()``).

Third-party strategies register through the ``engine.strategies`` entry-point group.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from pydantic import Field

from engine.config import StrictModel
from engine.errors import ProxyError
from engine.model import (
    Bundle,
    ErrorEvent,
    Event,
    Finish,
    KeepAlive,
    OpaqueBlock,
    ReasoningDelta,
    Relayed,
    TextDelta,
    ToolCallStart,
    carried,
)
from engine.registry import Registry, RegistryError
from engine.response import Prefetched, aclose, aiter_events, with_first
from engine.stage import Exchange, Target

ENTRY_POINT_GROUP = "engine.strategies"
# What another target may answer where this one failed: timeouts, conflicts, limits, 5xx.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def is_retryable(error: ProxyError) -> bool:
    """Whether another target may succeed where this one failed."""
    return error.status in RETRYABLE_STATUSES


class StrategyConfig(StrictModel):
    """A route's `backend:` step: the strategy and its targets (a strategy's own `Config`
    adds its keys)."""

    strategy: str = Field(default="single", description="how the targets answer")
    targets: list[str] = Field(
        min_length=1, description="`BACKEND` (the client's model) or `BACKEND:MODEL`"
    )


@dataclass(slots=True)
class Attempt:
    """A target's response that has started: its first event, and the rest."""

    target: Target
    first: Event
    rest: AsyncIterator[Event]

    def events(self) -> Prefetched:
        """Every event, the first included; closing it ends the call to the target."""
        return with_first(self.first, self.rest, self.aclose)

    async def aclose(self) -> None:
        """End the call to the target now (a strategy that drops this attempt calls it)."""
        await aclose(self.rest)

    async def output(self) -> AsyncIterator[Event]:
        """Every event, once the target produced output (text, reasoning, a tool call):
        what it sent before is read ahead. When it errs, or ends, before any output, the
        call is closed and ProxyError raised: the target failed before answering."""
        read = [self.first]
        while not _outputs(read[-1]):
            failure = _failure(read[-1], self.target)
            if failure is None:
                try:
                    read.append(await anext(self.rest))
                    continue
                except StopAsyncIteration:
                    failure = _empty(self.target)
            await self.aclose()
            raise failure
        return self.events() if len(read) == 1 else _chained(read, self)


def _outputs(event: Event) -> bool:
    """Whether `event` is (or carries) output the client would see as an answer."""
    if isinstance(event, TextDelta):
        return bool(event.text)
    if isinstance(event, ReasoningDelta | ToolCallStart | OpaqueBlock):
        return True
    if isinstance(event, Relayed) and event.text:
        return True
    return isinstance(event, Relayed | Bundle) and any(map(_outputs, carried(event)))


def _failure(event: Event, target: Target) -> ProxyError | None:
    """The failure `event` means before any output (None: read on)."""
    if isinstance(event, ErrorEvent):
        return ProxyError(event.status, event.message, code=event.code)
    return _empty(target) if any(isinstance(e, Finish) for e in carried(event)) else None


def _empty(target: Target) -> ProxyError:
    return ProxyError(502, f"backend {target} sent an empty answer", code="upstream_empty")


async def _chained(read: list[Event], attempt: Attempt) -> AsyncIterator[Event]:
    try:
        for event in read:
            yield event
        async for event in attempt.rest:
            yield event
    finally:
        await attempt.aclose()


Send = Callable[[Target], Awaitable[Attempt]]


class KeptAlive:
    """The events of a response still being started (`starting`, awaited in a task of
    its own), with a :class:`KeepAlive` every `every` seconds until it has started: a
    streaming client sees bytes while a strategy waits for its targets. A failure after
    a keep-alive is an error event, since the client's response has begun; one before
    is raised, so that the client still gets an HTTP error status. Once started, each
    event is the stream's own step, handed over as is."""

    __slots__ = ("_alive", "_events", "_every", "_pending", "_starting")

    def __init__(self, starting: Awaitable[AsyncIterator[Event]], every: float) -> None:
        self._starting: Awaitable[AsyncIterator[Event]] | None = starting
        self._every = every
        self._pending: asyncio.Future[AsyncIterator[Event]] | None = None
        self._events: AsyncIterator[Event] | None = None
        self._alive = False  # a keep-alive went out: the response has begun

    def __aiter__(self) -> KeptAlive:
        return self

    def __anext__(self) -> Awaitable[Event]:
        return self._events.__anext__() if self._events is not None else self._waiting()

    async def _waiting(self) -> Event:
        if self._pending is None:
            assert self._starting is not None
            self._pending = asyncio.ensure_future(self._starting)
            self._starting = None
        done, _ = await asyncio.wait((self._pending,), timeout=self._every)
        if not done:
            self._alive = True
            return KeepAlive()
        try:
            self._events = self._pending.result()
        except ProxyError as error:
            if not self._alive:
                raise
            self._events = aiter_events(())
            return ErrorEvent(status=error.status, message=error.message, code=error.code)
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stop waiting (what the wait then brings is closed too) or close the stream."""
        pending, self._pending = self._pending, None
        if self._starting is not None:  # never awaited: close the coroutine
            getattr(self._starting, "close", lambda: None)()
            self._starting = None
        if pending is not None and self._events is None:
            pending.cancel()
            await asyncio.wait((pending,))
            if pending.cancelled() or pending.exception() is not None:
                return  # nothing started: nothing to close
            self._events = pending.result()
        if self._events is not None:
            await aclose(self._events)


class Strategy:
    """Base class of strategy kinds. Subclasses set ``Config`` and define ``run``."""

    name: ClassVar[str]
    Config: ClassVar[type[StrategyConfig]] = StrategyConfig
    # Whether `run` looks inside the events (then they come decoded, never relayed).
    reads_events: ClassVar[bool] = False
    # Whether it asks another target when one fails. The circuit breakers serve only
    # those: with no other target to move on to, a cooling-down backend would only turn
    # a failure it might recover from into a certain one.
    moves_on: ClassVar[bool] = True

    def __init__(self, config: StrategyConfig) -> None:
        self.config = config

    async def run(self, ctx: Exchange, targets: list[Target], send: Send) -> AsyncIterator[Event]:
        """The events the client gets, from the `targets` asked through `send`."""
        raise NotImplementedError


def _check_strategy(where: str, cls: type) -> None:
    if not inspect.iscoroutinefunction(vars(cls).get("run")):
        raise RegistryError(f"{where}: run must be an async def")


def _builtins() -> object:
    from engine.strategies import basic

    return basic


STRATEGIES: Registry[type[Strategy]] = Registry(
    "strategy", Strategy, StrategyConfig, ENTRY_POINT_GROUP, _check_strategy, _builtins
)
S = TypeVar("S", bound=type[Strategy])


def strategy(name: str) -> Callable[[S], S]:
    """Register a strategy class under `name`, refusing classes that break the rules."""
    return STRATEGIES.register(name)  # type: ignore[return-value]


def registry() -> dict[str, type[Strategy]]:
    """All registered strategy kinds by name, the built-in and plug-in ones loaded first."""
    return STRATEGIES.all()


def create(name: str, **config: object) -> Strategy:
    """An instance of the registered strategy `name` with `config` (its `targets` at least),
    for graphs built in code rather than read from a routing file."""
    cls = registry()[name]
    return cls(cls.Config.model_validate({"strategy": name, **config}))


__all__ = [
    "Attempt",
    "KeptAlive",
    "Send",
    "Strategy",
    "StrategyConfig",
    "create",
    "is_retryable",
    "registry",
    "strategy",
]
