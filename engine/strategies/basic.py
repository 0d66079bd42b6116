"""The built-in strategies: `single`, `failover`, `weighted`, `race` and `hybrid`."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import aclosing
from typing import Self

from pydantic import Field, model_validator

from engine.errors import ProxyError
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    TextPart,
    ToolCallStart,
)
from engine.parameters import split_selector
from engine.stage import Exchange, Target
from engine.strategies import (
    Attempt,
    KeptAlive,
    Send,
    Strategy,
    StrategyConfig,
    is_retryable,
    strategy,
)

log = logging.getLogger("engine.executor")


@strategy("single")
class Single(Strategy):
    """The first target answers; its failure is the client's error."""

    class Config(StrategyConfig):
        """`single`: the first target."""

    moves_on = False

    async def run(self, ctx: Exchange, targets: list[Target], send: Send) -> AsyncIterator[Event]:
        return (await send(targets[0])).events()


class WaitingConfig(StrategyConfig):
    """The keys of a strategy whose targets may take a while to start answering."""

    keep_alive: float = Field(
        default=5.0,
        ge=0,
        description="seconds between keep-alives (SSE comments) that a streaming client gets "
        "while no target has answered yet; 0: none. After one, a failure is reported in the "
        "stream rather than as an HTTP status",
    )


async def started(
    ctx: Exchange, config: WaitingConfig, starting: Coroutine[object, object, AsyncIterator[Event]]
) -> AsyncIterator[Event]:
    """The events `starting` gives: kept alive while it waits when the client streams."""
    if ctx.request.stream and config.keep_alive:
        return KeptAlive(starting, config.keep_alive)
    return await starting


class InTurnConfig(WaitingConfig):
    """The keys of a strategy that asks its targets one after the other."""

    max_attempts: int | None = Field(
        default=None, ge=1, description="calls in all, a retry included (default: one per target)"
    )
    deadline: float = Field(
        default=300.0, gt=0, description="seconds after which no further target is asked"
    )
    max_retry_after: float = Field(
        default=5.0,
        ge=0,
        description="a target that says to retry within this many seconds (429, 503 with "
        "Retry-After) is waited for and asked once more",
    )


async def in_turn(
    ctx: Exchange, targets: list[Target], send: Send, config: InTurnConfig
) -> AsyncIterator[Event]:
    """Ask `targets` in order until one produces output: the next after one that failed
    before answering (connection error, timeout, 408/409/429/5xx, an error event or an
    empty answer); a client error (4xx) is the answer. When every one failed, the error
    says what each answered."""
    budget = config.max_attempts or len(targets) + 1
    ends = time.monotonic() + config.deadline
    failures: list[tuple[Target, ProxyError]] = []
    waited = False
    queue = list(targets)
    while queue and budget > 0:
        target = queue.pop(0)
        budget -= 1
        try:
            attempt: Attempt = await send(target)
            return await attempt.output()
        except ProxyError as exc:
            if not is_retryable(exc):
                raise
            failures.append((target, exc))
            delay = _retry_after(exc)
            short = delay is not None and delay <= config.max_retry_after
            if not waited and short and delay is not None and time.monotonic() + delay < ends:
                waited = True
                log.info("route %s: %s asks to retry in %.1f s", ctx.route, target, delay)
                await asyncio.sleep(delay)
                queue.insert(0, target)
                continue
            if queue and time.monotonic() >= ends:
                log.warning("route %s: the deadline passed; not asking %s", ctx.route, queue)
                break
            if queue and budget > 0:
                log.warning("route %s: %s failed (%s); trying %s", ctx.route, target, exc, queue[0])
    raise every_target_failed(failures)


def _retry_after(error: ProxyError) -> float | None:
    """The seconds an upstream asked to wait before retrying, if it said."""
    headers = error.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:  # an HTTP date: not a short wait
        return None
    return None


def every_target_failed(failures: list[tuple[Target, ProxyError]]) -> ProxyError:
    """The error for a request every target failed: the only one's as it was, else the
    last one's status with what each answered."""
    if len(failures) == 1:
        return failures[0][1]
    said = "; ".join(f"{target}: {error.status} {error.message}" for target, error in failures)
    last = failures[-1][1]
    error = type(last).__new__(type(last))  # its kind, status, code and headers
    error.__dict__.update(last.__dict__, headers=dict(last.headers))
    error.message = f"every target failed: {said}"
    error.args = (error.message,)
    return error


@strategy("failover")
class Failover(Strategy):
    """The targets in order: the next when one fails before answering (a connection
    error, a timeout, 408/409/429/5xx, an error event or an empty answer); once one has
    answered, its response is the client's. A short Retry-After is waited for once."""

    class Config(InTurnConfig):
        """`failover`: the next target when one fails before answering."""

    config: Config

    async def run(self, ctx: Exchange, targets: list[Target], send: Send) -> AsyncIterator[Event]:
        return await started(ctx, self.config, in_turn(ctx, targets, send, self.config))


@strategy("weighted")
class Weighted(Strategy):
    """A target drawn at random by weight; when it fails before answering, another is
    drawn from the rest (as `failover` does, in the drawn order)."""

    class Config(InTurnConfig):
        """`weighted`: `weights`, one per target."""

        weights: list[float] = Field(
            min_length=1,
            description="one per target: [3, 1] sends three requests in four to the first",
        )

        @model_validator(mode="after")
        def _one_weight_per_target(self) -> Self:
            if len(self.weights) != len(self.targets):
                raise ValueError(
                    f"weights has {len(self.weights)} entries for {len(self.targets)} targets"
                )
            if any(weight <= 0 for weight in self.weights):
                raise ValueError("every weight must be above 0")
            return self

    config: Config

    def __init__(self, config: StrategyConfig) -> None:
        super().__init__(config)
        self.random = random.Random()

    async def run(self, ctx: Exchange, targets: list[Target], send: Send) -> AsyncIterator[Event]:
        weights = self.config.weights if len(targets) == len(self.config.weights) else None
        order = self.drawn(targets, weights)
        return await started(ctx, self.config, in_turn(ctx, order, send, self.config))

    def drawn(self, targets: list[Target], weights: list[float] | None) -> list[Target]:
        """`targets` in a random order, the heavier ones likelier first."""
        left = list(zip(targets, weights or [1.0] * len(targets), strict=True))
        order = []
        while left:
            index = self.random.choices(range(len(left)), [w for _, w in left])[0]
            order.append(left.pop(index)[0])
        return order


@strategy("race")
class Race(Strategy):
    """Every target at once: the first to produce output answers, the others are
    cancelled and their connections closed."""

    class Config(WaitingConfig):
        """`race`: the first target to produce output."""

    config: Config

    async def run(self, ctx: Exchange, targets: list[Target], send: Send) -> AsyncIterator[Event]:
        return await started(ctx, self.config, _first_to_answer(ctx, targets, send))


async def _first_to_answer(
    ctx: Exchange, targets: list[Target], send: Send
) -> AsyncIterator[Event]:
    """The events of the first of `targets` to produce output; the others are cancelled."""

    async def output(target: Target) -> AsyncIterator[Event]:
        return await (await send(target)).output()

    racing = {asyncio.create_task(output(t), name=f"race {t}"): t for t in targets}
    failures: list[tuple[Target, ProxyError]] = []
    try:
        while racing:
            done, _ = await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                target = racing.pop(task)
                error = task.exception()
                if error is None:
                    ctx.served_by = target
                    return task.result()
                if not isinstance(error, ProxyError):
                    raise error
                if not is_retryable(error):
                    raise error
                failures.append((target, error))
        raise every_target_failed(failures)
    finally:
        await _cancel(racing)


async def _cancel(tasks: dict[asyncio.Task[AsyncIterator[Event]], Target]) -> None:
    """Cancel the losers and close what they got (their calls end with them)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            events = await task
        except BaseException:
            continue
        closing = getattr(events, "aclose", None)
        if closing is not None:
            await closing()


@strategy("hybrid")
class Hybrid(Strategy):
    """One model thinks, another answers: the `reason` target's reasoning streams to the
    client as reasoning and is cut where it ends (its answer is never sent); it is then
    given to the `targets` (in turn, as `failover` asks them), whose answer the client
    gets. A `reason` model without a reasoning channel has its answer taken as the
    reasoning."""

    class Config(InTurnConfig):
        """`hybrid`: `reason` thinks, the `targets` answer."""

        reason: str = Field(description="`BACKEND:MODEL` of the model that thinks first")

        @model_validator(mode="after")
        def _reason_names_a_model(self) -> Self:
            backend, sep, model = self.reason.partition("?")[0].partition(":")
            if not backend or not sep or not model:
                raise ValueError(f"reason {self.reason!r}: write it as BACKEND:MODEL")
            return self

    config: Config
    reads_events = True

    async def run(self, ctx: Exchange, targets: list[Target], send: Send) -> AsyncIterator[Event]:
        name, params = split_selector(self.config.reason)
        backend, _, model = name.partition(":")
        thinker = await send(Target(backend, model, params))
        return self._answer(ctx, thinker, targets, send)

    async def _answer(
        self, ctx: Exchange, thinker: Attempt, targets: list[Target], send: Send
    ) -> AsyncIterator[Event]:
        reasoning: list[str] = []
        answer: list[str] = []  # the thinker's own answer, if it has no reasoning channel
        async with aclosing(thinker.events()) as events:
            async for event in events:
                if isinstance(event, ResponseStart):
                    yield event
                elif isinstance(event, ReasoningDelta):
                    reasoning.append(event.text)
                    yield event
                elif isinstance(event, TextDelta) and not reasoning:
                    answer.append(event.text)
                    yield ReasoningDelta(text=event.text)  # it is the reasoning here
                elif isinstance(event, ErrorEvent):
                    yield event
                    return
                elif reasoning and isinstance(event, TextDelta | ToolCallStart):
                    break  # the reasoning has ended: its answer is not the client's
        thought = "".join(reasoning) or "".join(answer)
        log.info("route %s: %s thought %d characters", ctx.route, thinker.target, len(thought))
        ctx.request = with_reasoning(ctx.request, thought)
        answering = in_turn(ctx, targets, send, self.config)
        async for event in await started(ctx, self.config, answering):
            if not isinstance(event, ResponseStart):  # the client has had one
                yield event


def with_reasoning(request: ChatRequest, thought: str) -> ChatRequest:
    """`request` with another model's reasoning for the model that answers it."""
    if not thought.strip():
        return request
    note = TextPart(
        text="Reasoning about this request, by another model, for you to act on:\n"
        f"<reasoning>\n{thought.strip()}\n</reasoning>"
    )
    return request.model_copy(update={"system": [*request.system, note]})
