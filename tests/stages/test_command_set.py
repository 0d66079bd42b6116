"""The whole in-chat command set, turn by turn in one session, through the stage harness:
what each command answers, what it keeps, and what later requests get."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.exchange import Exchange, Target
from engine.model import ChatRequest, Reasoning
from engine.parameters import apply, split_selector
from engine.sessions import Session, switch
from engine.testing import make_context, run_request, user
from stages.commands import Commands

BACKENDS = ("mock", "openai")


def _resolve(model: str) -> list[Target]:
    """What the route in these tests sends a model to (as `Graph.resolve` would)."""
    name, params = split_selector(model)
    backend, sep, rest = name.partition(":")
    return [Target(backend, rest, params)] if sep else [Target("mock", name, params)]


@dataclass
class Chat:
    """One session's turns through a `commands` stage."""

    stage: Commands = field(default_factory=lambda: Commands(Commands.Config()))
    session: Session = field(default_factory=lambda: Session("s"))
    last: Exchange | None = None

    async def say(self, text: str, model: str = "client-model") -> str | None:
        """The proxy's reply to `text` (None when the request goes on to a backend)."""
        ctx = make_context(
            ChatRequest(model=model, messages=[user(text)]),
            session=self.session,
            backends=BACKENDS,
        )
        ctx.route, ctx.route_strategy = "default", "single"
        ctx.resolve = _resolve
        answer = await run_request(self.stage, ctx)
        self.session.saved()  # as the executor's save leaves it
        self.last = ctx
        return answer.response.text if answer else None

    @property
    def state(self) -> dict[str, Any]:
        return dict(self.session.get("commands"))

    def sent(self) -> ChatRequest:
        """The request the last turn sends, with the session's parameters set."""
        assert self.last is not None
        return apply(self.last.request, self.last.parameters)


@pytest.fixture
def chat() -> Chat:
    return Chat()


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("!/set(temperature=hot)", "Not set: temperature: 'hot' is not a number."),
        ("!/set(temperature=7)", "Not set: temperature: 7 is not between 0 and 2."),
        ("!/set(temprature=0.2)", "Unknown setting 'temprature'. Did you mean 'temperature'?"),
        ("!/set(max_tokens=-3)", "Not set: max_tokens: -3 is less than 1."),
        (
            "!/set(reasoning-effort=huge)",
            "Not set: reasoning_effort: 'huge' is not one of "
            "none, minimal, low, medium, high, xhigh, max.",
        ),
        ("!/set(0.2)", "Write !/set(key=value, …), for example !/set(temperature=0.2)."),
        ("!/set(model=nowhere:m)", "Unknown backend 'nowhere'. Backends: mock, openai."),
        ("!/set(loop-detection=maybe)", "loop-detection is on or off, not 'maybe'."),
        ("!/set(command-prefix=ab)", "A command prefix is one or more symbols, such as !/ or //."),
        ('!/set(temperature="0.2)', '!/set: the quoted value "0.2 is cut short or not JSON.'),
        ("!/unset(temperature)", "'temperature' is not set."),
        ("!/oneoff(mock)", "Write the model as BACKEND:MODEL (backends: mock, openai)."),
        ("!/model(mock:m?temperature=9)", "Temperature: 9 is not between 0 and 2."),
        ("!/route-append(fast, mock:m)", "No route fast: create it with !/route-create(fast)."),
        ("!/route-delete(fast)", "No route 'fast'."),
        ("!/backend(opnai)", "Unknown backend 'opnai'. Did you mean 'openai'?"),
    ],
)
async def test_a_bad_value_is_answered_saying_what_is_wrong(
    chat: Chat, text: str, reply: str
) -> None:
    assert await chat.say(text) == reply
    assert chat.state == {}


async def test_set_and_unset_parameters_go_on_every_later_request(chat: Chat) -> None:
    reply = await chat.say("!/set(temperature=0.2, max_tokens=512, reasoning-effort=low)")
    assert reply == (
        "temperature=0.2 for this session.\n"
        "max_tokens=512 for this session.\n"
        "reasoning_effort=low for this session."
    )
    assert await chat.say("go") is None
    sent = chat.sent()
    assert (sent.sampling.temperature, sent.sampling.max_tokens) == (0.2, 512)
    assert sent.reasoning == Reasoning(effort="low")
    assert await chat.say("!/unset(temperature, max-tokens)") == (
        "temperature unset: the client's own value again.\n"
        "max_tokens unset: the client's own value again."
    )
    await chat.say("go")
    assert chat.sent().sampling.temperature is None
    assert chat.state == {"params": {"reasoning_effort": "low"}}


async def test_arguments_as_json_and_quoted(chat: Chat) -> None:
    assert await chat.say('!/set({"temperature": 0.5, "redaction": false})') == (
        "temperature=0.5 for this session.\nredaction off for this session."
    )
    assert switch(chat.session, "redaction") is False
    assert await chat.say("!/route-create('my route')") == (
        "A route's name is a plain word, not 'my route'."
    )
    assert await chat.say('!/route-create("fast", "mock:a, b)")') == (
        "Route fast created; use it as the model 'fast', or !/model(fast)."
    )
    assert chat.state["routes"] == {"fast": ["mock:a, b)"]}


async def test_temperature_and_the_reasoning_shortcuts(chat: Chat) -> None:
    assert await chat.say("!/temperature(1.5)") == "temperature=1.5 for this session."
    assert await chat.say("!/temperature") == "Temperature: 1.5."
    assert await chat.say("!/no-think") == "reasoning_effort=none for this session."
    await chat.say("hi")
    assert chat.sent().reasoning == Reasoning(effort="none", budget_tokens=0)
    assert await chat.say("!/max") == "reasoning_effort=high for this session."
    await chat.say("hi")
    assert chat.sent().reasoning == Reasoning(effort="high")  # the budget of 0 went
    for shortcut, effort in (("medium", "medium"), ("low", "low")):
        assert await chat.say(f"!/{shortcut}") == f"reasoning_effort={effort} for this session."


async def test_backend_keeps_the_clients_model(chat: Chat) -> None:
    assert await chat.say("!/backend(openai)") == (
        "Backend set to openai for this session (the client's model, on openai)."
    )
    await chat.say("hi", model="gpt-4o")
    assert chat.sent().model == "openai:gpt-4o"
    await chat.say("hi", model="mock:mock-1")  # a model naming a backend: moved over
    assert chat.sent().model == "openai:mock-1"
    assert await chat.say("!/backend") == "Backend override: openai."
    assert await chat.say("!/backend()") == "Backend override cleared."
    await chat.say("hi", model="gpt-4o")
    assert chat.sent().model == "gpt-4o"


async def test_oneoff_goes_with_the_next_request_only(chat: Chat) -> None:
    await chat.say("!/model(mock:steady)")
    assert await chat.say("!/oneoff(openai:once)") == "The next request goes to openai:once."
    await chat.say("first")
    assert chat.sent().model == "openai:once"
    await chat.say("second")
    assert chat.sent().model == "mock:steady"


async def test_a_oneoff_with_a_question_is_that_request(chat: Chat) -> None:
    assert await chat.say("!/oneoff(openai:once) what is 2+2?") is None
    assert chat.sent().model == "openai:once"
    await chat.say("next")
    assert chat.sent().model == "client-model"


async def test_the_command_prefix_per_session(chat: Chat) -> None:
    assert (
        await chat.say("!/set(command-prefix=//)") == "Commands now start with // in this session."
    )
    assert await chat.say("//model(mock:m)") == "Model set to mock:m for this session."
    assert await chat.say("!/model(openai:x) is text now") is None
    assert chat.sent().messages[-1].text() == "!/model(openai:x) is text now"
    assert await chat.say("//unset(command-prefix)") == (
        "Commands start with the route's prefix again (!/)."
    )
    assert await chat.say("!/model") == "Model override: mock:m."


async def test_session_routes_fail_over_in_order(chat: Chat) -> None:
    assert await chat.say("!/route-create(fast)") == (
        "Route fast created; use it as the model 'fast', or !/model(fast)."
    )
    assert await chat.say("!/route-append(fast, openai:a, mock:b?temperature=0.1)") == (
        "Route fast: openai:a, mock:b?temperature=0.1."
    )
    assert await chat.say("!/route-prepend(fast, mock:first)") == (
        "Route fast: mock:first, openai:a, mock:b?temperature=0.1."
    )
    assert await chat.say("!/route-list") == (
        "Session routes:\n- fast: mock:first, openai:a, mock:b?temperature=0.1"
    )
    await chat.say("hi", model="fast")
    assert chat.last is not None
    assert chat.last.targets == [
        Target("mock", "first"),
        Target("openai", "a"),
        Target("mock", "b", (("temperature", 0.1),)),
    ]
    assert chat.last.strategy is not None and chat.last.strategy.name == "failover"
    assert await chat.say("!/model(fast)") == "Model set to fast for this session."
    await chat.say("hi")
    assert chat.last.targets is not None and chat.last.targets[0] == Target("mock", "first")
    assert await chat.say("!/route-delete(fast)") == "Route fast deleted."
    assert chat.state == {}


async def test_status_says_where_requests_go_and_why(chat: Chat) -> None:
    await chat.say("!/model(openai:gpt-4o)")
    await chat.say("!/set(temperature=0.3, loop-detection=off)")
    assert await chat.say("!/status") == (
        "Route: default (strategy single).\n"
        "Model: openai:gpt-4o, by !/model.\n"
        "Targets: openai:gpt-4o.\n"
        "Session parameters: temperature=0.3 (over the client's).\n"
        "Switches: loop-detection off."
    )


async def test_status_shows_the_parameters_a_selector_sets(chat: Chat) -> None:
    await chat.say("!/model(openai:gpt-4o?temperature=0.3)")
    status = await chat.say("!/status")
    assert status is not None
    assert "Model: openai:gpt-4o?temperature=0.3, by !/model." in status
    assert "Targets: openai:gpt-4o with temperature=0.3." in status


async def test_hello_names_the_session(chat: Chat) -> None:
    reply = await chat.say("!/hello")
    assert (
        reply
        == "Hello from the engine proxy on route default, session s. !/help lists the commands."
    )


async def test_state_never_leaks_between_sessions() -> None:
    one, two = Chat(), Chat(session=Session("other"))
    two.stage = one.stage  # one stage instance serves every session of a route
    await one.say("!/set(temperature=0.9)")
    await one.say("!/model(openai:x)")
    await two.say("hi")
    assert two.sent().model == "client-model" and two.sent().sampling.temperature is None
