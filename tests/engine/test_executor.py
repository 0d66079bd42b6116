"""The executor: request stages, the backend step with failover, response stages, errors."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import pytest
from pydantic import Field

from engine.backends.base import Backend, BackendConfig
from engine.config import StrictModel, compile_pattern
from engine.errors import BadRequest, NotFound, ProxyError, UpstreamError, UpstreamUnavailable
from engine.executor import Execution, admit, count_tokens, execute, is_retryable
from engine.graph import BoundStage, CompiledRoute, Graph, TargetSpec
from engine.model import ChatRequest, ErrorEvent, Event, Finish, ResponseStart, TextDelta
from engine.notes import Dropped
from engine.response import collect
from engine.sessions import MemorySessionStore, Session
from engine.stage import Answer, Exchange, Stage, Target, registry, stage
from engine.strategies import create
from engine.testing import make_context, user


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected HTTP call: {request.method} {request.url}")


def offline_client() -> httpx.AsyncClient:
    """A client that fails any request: these backends must not use the network."""
    return httpx.AsyncClient(transport=httpx.MockTransport(_no_network))


# --- test doubles ----------------------------------------------------------------------------


class Fake(Backend):
    """A backend that plays a script: events to yield, exceptions to raise where they stand."""

    kind = "test_exec_fake"
    Config = BackendConfig

    def __init__(self, name: str, script: Sequence[Event | Exception] | None = None) -> None:
        super().__init__(name, BackendConfig(kind="test_exec_fake"))
        self.script = reply("ok") if script is None else list(script)
        self.calls: list[tuple[str, str]] = []
        self.closed = 0

    async def send(
        self,
        request: ChatRequest,
        model: str,
        http: httpx.AsyncClient,
        dropped: Dropped | None = None,
    ) -> AsyncGenerator[Event, None]:
        self.calls.append((request.model, model))
        try:
            for item in self.script:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.closed += 1


def reply(*texts: str) -> list[Event | Exception]:
    return [
        ResponseStart(id="r", model="m"),
        *(TextDelta(text=t) for t in texts),
        Finish(reason="stop"),
    ]


class Tag(Stage):
    """Appends its tag to the request's model; answers or fails when told to."""

    class Config(StrictModel):
        tag: str = Field(description="what to append")
        answer: bool = Field(default=False, description="answer instead of continuing")
        fail: bool = Field(default=False, description="raise instead of continuing")
        target: str | None = Field(default=None, description="BACKEND:MODEL to set as ctx.target")

    config: Config

    async def on_request(self, ctx: Exchange) -> Answer | None:
        ctx.state.setdefault("ran", []).append(self.config.tag)
        if self.config.fail:
            raise RuntimeError(f"{self.config.tag} broke")
        if self.config.answer:
            return Answer.text(f"answered by {self.config.tag}", model=ctx.request.model)
        if self.config.target:
            backend, _, model = self.config.target.partition(":")
            ctx.target = Target(backend, model)
        ctx.request = ctx.request.model_copy(
            update={"model": f"{ctx.request.model}+{self.config.tag}"}
        )
        return None


class Shout(Stage):
    """Upper-cases text; fails on one text; records that its stream was closed."""

    class Config(StrictModel):
        fail_on: str | None = Field(default=None, description="text that makes it raise")

    config: Config

    async def on_events(self, ctx: Exchange, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    if event.text == self.config.fail_on:
                        raise ValueError(f"cannot shout {event.text!r}")
                    event = TextDelta(text=event.text.upper())
                yield event
        finally:
            ctx.state.setdefault("closed", []).append(type(self).__name__)


class Refuse(Stage):
    """Refuses every request with a 429, as an answer rather than an exception."""

    class Config(StrictModel):
        pass

    async def on_request(self, ctx: Exchange) -> Answer | None:
        return Answer.refuse(429, "slow down", code="rate_limited")


class RaiseProxyError(Stage):
    """Refuses every request with a 400 (a ProxyError passes through as it is)."""

    class Config(StrictModel):
        pass

    async def on_request(self, ctx: Exchange) -> Answer | None:
        raise BadRequest("refused", param="messages")


TEST_STAGES = {
    "test_exec_tag": Tag,
    "test_exec_shout": Shout,
    "test_exec_refuse": RaiseProxyError,
    "test_exec_answer_refusal": Refuse,
}


@pytest.fixture(autouse=True, scope="module")
def _registered() -> Iterator[None]:
    """The test stages obey the registry's rules; registered only while this module runs."""
    for name, cls in TEST_STAGES.items():
        stage(name)(cls)
    yield
    for name in TEST_STAGES:
        registry().pop(name, None)


def tag(label: str, **config: Any) -> BoundStage:
    return BoundStage(label, Tag(Tag.Config(tag=label, **config)))


def shout(label: str = "shout", **config: Any) -> BoundStage:
    return BoundStage(label, Shout(Shout.Config(**config)))


def graph(
    backends: Sequence[Fake],
    *,
    request: Sequence[BoundStage] = (),
    response: Sequence[BoundStage] = (),
    strategy: str = "single",
    targets: Sequence[TargetSpec] | None = None,
    frontends: frozenset[str] | None = None,
    pipeline: tuple[Sequence[BoundStage], Sequence[BoundStage]] = ((), ()),
) -> Graph:
    route = CompiledRoute(
        name="test",
        frontends=frontends,
        model_pattern="*",
        model_re=compile_pattern("*"),
        request=tuple(request),
        response=tuple(response),
        strategy=create(strategy, targets=[b.name for b in backends]),
        targets=tuple(targets or [TargetSpec(b.name) for b in backends]),
    )
    return Graph(
        backends={b.name: b for b in backends},
        routes=(route,),
        request=tuple(pipeline[0]),
        response=tuple(pipeline[1]),
    )


def context(g: Graph, model: str = "client-model") -> Exchange:
    return make_context(ChatRequest(model=model, messages=[user("hi")]), backends=g.backends)


async def run(g: Graph, ctx: Exchange | None = None) -> tuple[Execution, list[Event]]:
    async with offline_client() as http:
        execution = await execute(g, ctx or context(g), http)
        return execution, [event async for event in execution.events()]


def texts(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


# --- request stages --------------------------------------------------------------------------


async def test_request_stages_run_in_order_and_rewrite_the_request() -> None:
    a = Fake("a")
    g = graph([a], request=[tag("one"), tag("two")])
    ctx = context(g)
    _, events = await run(g, ctx)
    assert ctx.state["ran"] == ["one", "two"]
    assert a.calls == [("client-model+one+two", "client-model+one+two")]
    assert texts(events) == ["ok"]


async def test_answer_short_circuits_but_response_stages_still_run() -> None:
    a = Fake("a")
    g = graph([a], request=[tag("one"), tag("stop", answer=True), tag("never")], response=[shout()])
    ctx = context(g)
    execution, events = await run(g, ctx)
    assert a.calls == []
    assert ctx.state["ran"] == ["one", "stop"]
    assert texts(events) == ["ANSWERED BY STOP"]
    assert isinstance(execution.first, ResponseStart)
    assert execution.first.model == "client-model+one"
    assert events[-1] == Finish(reason="stop")


async def test_request_stage_exception_is_a_500_naming_the_stage() -> None:
    a = Fake("a")
    g = graph([a], request=[tag("fine"), tag("broken", fail=True), tag("never")])
    ctx = context(g)
    with pytest.raises(ProxyError) as caught:
        await run(g, ctx)
    error = caught.value
    assert (type(error), error.status, error.code) == (ProxyError, 500, "stage_error")
    assert "'broken'" in error.message
    assert "RuntimeError: broken broke" in error.message
    assert isinstance(error.__cause__, RuntimeError)
    assert ctx.state["ran"] == ["fine", "broken"]
    assert a.calls == []


async def test_request_stage_proxy_error_passes_through() -> None:
    g = graph(
        [Fake("a")], request=[BoundStage("refuse", RaiseProxyError(RaiseProxyError.Config()))]
    )
    with pytest.raises(BadRequest) as caught:
        await run(g)
    assert (caught.value.status, caught.value.message, caught.value.param) == (
        400,
        "refused",
        "messages",
    )


@pytest.mark.parametrize("where", ["route", "pipeline"])
async def test_a_refusal_answer_is_an_error_status_and_asks_no_backend(where: str) -> None:
    a = Fake("a")
    refusal = BoundStage("limits", Refuse(Refuse.Config()))
    if where == "route":
        g = graph([a], request=[refusal, tag("after")])
    else:
        g = graph([a], request=[tag("after")], pipeline=([refusal], ()))
    ctx = context(g)
    with pytest.raises(ProxyError) as caught:
        await run(g, ctx)
    assert (caught.value.status, caught.value.code) == (429, "rate_limited")
    assert a.calls == [] and "ran" not in ctx.state


# --- response stages -------------------------------------------------------------------------


async def test_response_stages_wrap_in_order() -> None:
    g = graph([Fake("a", reply("x", "y"))], response=[shout("first"), shout("second")])
    _, events = await run(g)
    assert texts(events) == ["X", "Y"]


async def test_response_stage_exception_mid_stream_names_the_stage() -> None:
    g = graph([Fake("a", reply("fine", "bad", "never"))], response=[shout("loud", fail_on="bad")])
    async with offline_client() as http:
        execution = await execute(g, context(g), http)
        seen: list[Event] = []
        with pytest.raises(ProxyError) as caught:
            async for event in execution.events():
                seen.append(event)
    assert texts(seen) == ["FINE"]
    assert (caught.value.status, caught.value.code) == (500, "stage_error")
    assert "'loud'" in caught.value.message
    assert "ValueError" in caught.value.message


async def test_response_stage_failing_on_the_first_event_fails_execute() -> None:
    g = graph([Fake("a", [TextDelta(text="bad")])], response=[shout("loud", fail_on="bad")])
    with pytest.raises(ProxyError) as caught:
        await run(g)
    assert (caught.value.status, caught.value.code) == (500, "stage_error")
    assert "'loud'" in caught.value.message


@pytest.mark.parametrize("with_response_stage", [False, True])
@pytest.mark.parametrize(
    "error",
    [
        UpstreamError(418, "teapot", code="teapot", param="model"),
        UpstreamUnavailable(504, "slow", code="upstream_timeout"),
    ],
    ids=["upstream-error", "unavailable"],
)
async def test_backend_proxy_errors_pass_through_untouched(
    error: ProxyError, with_response_stage: bool
) -> None:
    g = graph([Fake("a", [error])], response=[shout()] if with_response_stage else [])
    with pytest.raises(ProxyError) as caught:
        await run(g)
    assert caught.value is error


async def test_backend_proxy_error_mid_stream_passes_through() -> None:
    error = UpstreamUnavailable(504, "stalled", code="upstream_timeout")
    g = graph([Fake("a", [*reply("a")[:2], error])], response=[shout()])
    async with offline_client() as http:
        execution = await execute(g, context(g), http)
        with pytest.raises(ProxyError) as caught:
            _ = [event async for event in execution.events()]
    assert caught.value is error


async def test_empty_backend_response_is_502() -> None:
    g = graph([Fake("a", [])])
    with pytest.raises(ProxyError) as caught:
        await run(g)
    assert (caught.value.status, caught.value.code) == (502, "upstream_empty")


async def test_no_matching_route_is_not_found() -> None:
    a = Fake("a")
    g = graph([a], frontends=frozenset({"anthropic"}))
    with pytest.raises(NotFound) as caught:
        await run(g)  # the harness's context comes from the openai_chat front-end
    assert (caught.value.code, caught.value.param) == ("no_route", "model")
    assert a.calls == []


# --- failover --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "fails_over"),
    [
        pytest.param(UpstreamUnavailable(502, "refused"), True, id="502-connection"),
        pytest.param(UpstreamUnavailable(504, "timeout"), True, id="504-timeout"),
        pytest.param(UpstreamError(503, "overloaded"), True, id="503"),
        pytest.param(UpstreamError(500, "oops"), True, id="500"),
        pytest.param(UpstreamError(429, "slow down"), True, id="429"),
        pytest.param(UpstreamError(529, "overloaded"), True, id="529"),
        pytest.param(UpstreamError(400, "bad request"), False, id="400"),
        pytest.param(UpstreamError(401, "bad key"), False, id="401"),
        pytest.param(UpstreamError(404, "no model"), False, id="404"),
    ],
)
async def test_failover_before_the_first_event(error: ProxyError, fails_over: bool) -> None:
    a, b = Fake("a", [error]), Fake("b", reply("from b"))
    g = graph([a, b], strategy="failover")
    assert is_retryable(error) is fails_over
    if fails_over:
        _, events = await run(g)
        assert texts(events) == ["from b"]
        assert b.calls == [("client-model", "client-model")]
    else:
        with pytest.raises(ProxyError) as caught:
            await run(g)
        assert caught.value is error
        assert b.calls == []
    assert a.closed == 1


@pytest.mark.parametrize(("status", "fails_over"), [(503, True), (400, False)])
async def test_an_error_event_before_any_output_fails_over_like_a_status(
    status: int, fails_over: bool
) -> None:
    a = Fake("a", [ErrorEvent(status=status, code="overloaded", message="busy")])
    b = Fake("b", reply("from b"))
    g = graph([a, b], strategy="failover")
    if fails_over:
        _, events = await run(g)
        assert texts(events) == ["from b"]
    else:
        with pytest.raises(ProxyError) as caught:
            await run(g)
        assert (caught.value.status, caught.value.message) == (400, "busy")
        assert b.calls == []
    assert a.closed == 1


async def test_no_failover_after_the_first_event() -> None:
    error = UpstreamUnavailable(502, "dropped")
    a, b = Fake("a", [*reply("partial")[:2], error]), Fake("b")
    g = graph([a, b], strategy="failover")
    async with offline_client() as http:
        execution = await execute(g, context(g), http)
        seen: list[Event] = []
        with pytest.raises(ProxyError) as caught:
            async for event in execution.events():
                seen.append(event)
    assert caught.value is error
    assert texts(seen) == ["partial"]
    assert b.calls == []


async def test_failover_exhausted_raises_the_last_error_saying_what_each_answered() -> None:
    first, last = UpstreamError(503, "a down"), UpstreamError(502, "b down", code="bad")
    a, b = Fake("a", [first]), Fake("b", [last])
    with pytest.raises(UpstreamError) as caught:
        await run(graph([a, b], strategy="failover"))
    assert (caught.value.status, caught.value.code) == (502, "bad")
    assert caught.value.message == (
        "every target failed: a:client-model: 503 a down; b:client-model: 502 b down"
    )
    assert (len(a.calls), len(b.calls)) == (1, 1)


async def test_single_strategy_uses_only_the_first_target() -> None:
    error = UpstreamError(503, "down")
    a, b = Fake("a", [error]), Fake("b")
    with pytest.raises(ProxyError) as caught:
        await run(graph([a, b], strategy="single"))
    assert caught.value is error
    assert b.calls == []


# --- targets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "model", "called"),
    [
        pytest.param([TargetSpec("a")], "client-model", {"a": "client-model"}, id="client-model"),
        pytest.param([TargetSpec("a", "fixed")], "client-model", {"a": "fixed"}, id="fixed-model"),
        pytest.param([TargetSpec("a")], "b:special", {"b": "special"}, id="backend-model-override"),
        pytest.param(
            [TargetSpec("a")], "b:org/m:tag", {"b": "org/m:tag"}, id="override-keeps-colons"
        ),
    ],
)
async def test_targets(targets: list[TargetSpec], model: str, called: dict[str, str]) -> None:
    a, b = Fake("a"), Fake("b")
    g = graph([a, b], targets=targets)
    await run(g, context(g, model))
    assert {f.name: f.calls[0][1] for f in (a, b) if f.calls} == called


async def test_unknown_backend_in_model_is_not_found() -> None:
    g = graph([Fake("alpha")])
    with pytest.raises(NotFound) as caught:
        await run(g, context(g, "alpah:x"))
    assert caught.value.code == "unknown_backend"
    assert "did you mean 'alpha'?" in caught.value.message


async def test_stage_may_set_the_target() -> None:
    a, b = Fake("a"), Fake("b")
    g = graph([a, b], request=[tag("route", target="b:picked")], strategy="failover")
    await run(g)
    assert a.calls == []
    assert b.calls == [("client-model+route", "picked")]


# --- timings and cancellation ----------------------------------------------------------------


async def test_timings_name_each_stage_and_the_backend() -> None:
    g = graph([Fake("a")], request=[tag("one"), tag("two")], response=[shout()])
    execution, _ = await run(g)
    names = [span.name for span in execution.timings.entries]
    # Response stages are timed too, their own work only (not their wait for events).
    assert names == ["one", "two", "backend", g.routes[0].response[0].label]
    assert all(span.ms >= 0 for span in execution.timings.entries)
    header = execution.timings.header()
    assert header.startswith("one;dur=")
    assert ", backend;dur=" in header


async def test_execution_events_start_with_the_first_event() -> None:
    execution, events = await run(graph([Fake("a", reply("x"))]))
    assert events[0] is execution.first
    assert [type(e) for e in events] == [ResponseStart, TextDelta, Finish]


@pytest.mark.parametrize("stages", [0, 1, 2])
async def test_closing_the_events_early_closes_the_backend(stages: int) -> None:
    a = Fake("a", reply("one", "two", "three"))
    g = graph([a], response=[shout(f"s{i}") for i in range(stages)])
    ctx = context(g)
    async with offline_client() as http:
        execution = await execute(g, ctx, http)
        events = execution.events()
        assert isinstance(await anext(events), ResponseStart)
        assert await anext(events) == TextDelta(text="ONE" if stages else "one")
        await events.aclose()  # type: ignore[attr-defined]
        assert a.closed == 1
        assert ctx.state.get("closed", []) == ["Shout"] * stages


async def test_collect_an_execution() -> None:
    g = graph([Fake("a", reply("a", "b"))], response=[shout()])
    async with offline_client() as http:
        response = await collect((await execute(g, context(g), http)).events())
    assert (response.id, response.text, response.finish_reason) == ("r", "AB", "stop")


# --- the pipeline around every route ---------------------------------------------------------


async def test_pipeline_request_stages_run_before_the_route_is_matched() -> None:
    a = Fake("a")
    g = graph([a], request=[tag("route")], pipeline=([tag("everywhere")], ()))
    ctx = context(g)
    await run(g, ctx)
    assert ctx.state["ran"] == ["everywhere", "route"]
    assert a.calls == [("client-model+everywhere+route", "client-model+everywhere+route")]


async def test_pipeline_response_stages_wrap_the_routes() -> None:
    g = graph([Fake("a", reply("hi"))], response=[shout("inner")], pipeline=((), [shout("outer")]))
    execution, events = await run(g)
    assert texts(events) == ["HI"]
    assert [span.name for span in execution.timings.entries][-2:] == ["inner", "outer"]


async def test_a_pipeline_stage_that_answers_skips_every_route() -> None:
    a = Fake("a")
    g = graph(
        [a],
        request=[tag("route")],
        frontends=frozenset({"gemini"}),  # no route would take this request
        pipeline=([tag("gate", answer=True)], [shout()]),
    )
    ctx = context(g)
    execution, events = await run(g, ctx)
    assert texts(events) == ["ANSWERED BY GATE"]
    assert execution.route is None and ctx.route is None
    assert a.calls == [] and ctx.state["ran"] == ["gate"]


# --- sessions and operations -----------------------------------------------------------------


class Visits(Stage):
    """Counts the session's chats in its namespace; a count of tokens only reads it."""

    class Config(StrictModel):
        pass

    operations = frozenset({"chat", "count_tokens"})

    async def on_request(self, ctx: Exchange) -> Answer | None:
        seen = self.session_state(ctx).get("visits", 0)
        ctx.state["seen"] = seen
        if ctx.operation == "chat":
            self.set_session_state(ctx, {"visits": seen + 1})
        return None


class Gate(Stage):
    """Refuses model listings and counts of tokens: it runs for those operations only."""

    class Config(StrictModel):
        pass

    operations = frozenset({"models", "count_tokens"})

    async def on_request(self, ctx: Exchange) -> Answer | None:
        return Answer.refuse(401, f"no {ctx.operation} for you", code="unauthorized")


class CountingStore(MemorySessionStore):
    """The memory store, counting what it is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = self.saves = 0

    async def load(self, session_id: str) -> Session:
        self.loads += 1
        return await super().load(session_id)

    async def save(self, session: Session) -> None:
        self.saves += 1
        await super().save(session)


class Counting(Fake):
    """A backend that counts tokens itself, or fails to, as told."""

    def __init__(self, name: str, counted: int | ProxyError | None) -> None:
        super().__init__(name)
        self.counted = counted

    async def count_tokens(
        self, request: ChatRequest, model: str, http: httpx.AsyncClient
    ) -> int | None:
        if isinstance(self.counted, ProxyError):
            raise self.counted
        return self.counted


TEST_STAGES.update({"test_exec_visits": Visits, "test_exec_gate": Gate})


def visits() -> BoundStage:
    return BoundStage("visits", Visits(Visits.Config()))


async def test_the_session_is_loaded_before_the_stages_and_saved_when_changed() -> None:
    g = graph([Fake("a")], request=[visits()])
    store = CountingStore()
    for expected in (0, 1, 2):
        ctx = context(g)
        async with offline_client() as http:
            execution = await execute(g, ctx, http, store)
            await collect(execution.events())
        assert ctx.state["seen"] == expected
    assert (store.loads, store.saves) == (3, 3)
    assert (await store.load(ctx.session.id)).get(Visits.name) == {"visits": 3}


async def test_a_count_of_tokens_reads_the_session_and_never_saves_it() -> None:
    g = graph([Counting("a", 7)], request=[visits()])
    store = CountingStore()
    ctx = context(g)
    async with offline_client() as http:
        assert await count_tokens(g, ctx, http, lambda request: 1, store) == 7
    assert (ctx.operation, ctx.route, str(ctx.served_by)) == (
        "count_tokens",
        "test",
        "a:client-model",
    )
    assert (store.loads, store.saves) == (1, 0)


@pytest.mark.parametrize(
    ("counted", "expected"),
    [
        pytest.param(None, 99, id="backend-cannot-count"),
        pytest.param(UpstreamUnavailable(503, "down"), 99, id="retryable-failure-estimates"),
    ],
)
async def test_a_count_of_tokens_is_estimated_when_the_backend_cannot_say(
    counted: int | ProxyError | None, expected: int
) -> None:
    g = graph([Counting("a", counted)])
    async with offline_client() as http:
        assert await count_tokens(g, context(g), http, lambda request: 99) == expected


async def test_a_count_of_tokens_refused_by_the_backend_is_refused() -> None:
    g = graph([Counting("a", BadRequest("too long"))])
    async with offline_client() as http:
        with pytest.raises(BadRequest, match="too long"):
            await count_tokens(g, context(g), http, lambda request: 1)


async def test_stages_run_only_for_the_operations_they_declare() -> None:
    gate = BoundStage("gate", Gate(Gate.Config()))
    g = graph([Counting("a", 5)], pipeline=((gate,), ()))
    listing = context(g)
    listing.operation = "models"
    with pytest.raises(ProxyError) as refused:
        await admit(g, listing)
    assert (refused.value.status, refused.value.message) == (401, "no models for you")
    async with offline_client() as http:
        with pytest.raises(ProxyError, match="no count_tokens for you"):
            await count_tokens(g, context(g), http, lambda request: 1)
        _, events = await run(g)  # a chat: the gate does not run
    assert texts(events) == ["ok"]


class Choose(Stage):
    """Chooses where the request goes: the targets it is configured with, in order."""

    class Config(StrictModel):
        targets: list[str] = Field(description="BACKEND:MODEL entries")

    config: Config

    async def on_request(self, ctx: Exchange) -> Answer | None:
        ctx.targets = [Target(*t.split(":", 1)) for t in self.config.targets]
        return None


TEST_STAGES["test_exec_choose"] = Choose


async def test_a_stage_may_choose_several_targets_for_the_strategy() -> None:
    a, b = Fake("a", [UpstreamUnavailable(503, "a is down")]), Fake("b")
    choose = BoundStage("choose", Choose(Choose.Config(targets=["a:first", "b:second"])))
    g = graph([a, b], request=[choose], strategy="failover")
    ctx = context(g)
    _, events = await run(g, ctx)
    assert (a.calls, b.calls) == ([("client-model", "first")], [("client-model", "second")])
    assert texts(events) == ["ok"] and str(ctx.served_by) == "b:second"
    assert ctx.target == Target("a", "first")  # the first choice, for a single strategy


async def test_a_stage_choosing_an_undeclared_backend_is_a_404() -> None:
    choose = BoundStage("choose", Choose(Choose.Config(targets=["nowhere:m"])))
    g = graph([Fake("a")], request=[choose])
    with pytest.raises(NotFound, match="backend 'nowhere', which is not declared"):
        await run(g)
