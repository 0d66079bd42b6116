"""The matrix's cases, written once against a normalized client and a normalized provider.

A case scripts the fake provider's reply through the provider adapter's primitives, asks
through the client adapter, then checks the client's `Outcome` and the `Upstream` view of
what the provider was sent. Nothing here knows a wire format: that is the adapters' job.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# --- the vocabulary the adapters speak -----------------------------------------------------


@dataclass(frozen=True)
class Tool:
    """A function tool the client declares."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolUse:
    """A tool call: made by the model, or replayed by the client in its history."""

    id: str | None
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """The client's answer to a tool call; `content` is JSON text."""

    id: str | None
    name: str
    content: str


@dataclass(frozen=True)
class Ask:
    """One request, protocol-neutral: a user turn, optionally after a tool-use exchange."""

    text: str
    system: str | None = None
    image: bytes | None = None  # a PNG, sent base64-encoded
    tools: tuple[Tool, ...] = ()
    calls: tuple[ToolUse, ...] = ()  # an assistant turn after the user's, replayed
    results: tuple[ToolResult, ...] = ()  # the client's results for those calls
    max_tokens: int | None = None  # the output limit, if the client sets one
    force: str | None = None  # the tool the model must call (tool_choice)


@dataclass(frozen=True)
class Tokens:
    """Token counts; `input` includes the `cached` ones, as OpenAI and Gemini count them."""

    input: int
    output: int
    cached: int = 0


SOME_TOKENS = Tokens(11, 7)


@dataclass(frozen=True)
class Failure:
    """An error the client's SDK raised (or, for a stream, an error event it received)."""

    sdk_class: str
    status: int | None
    message: str


@dataclass
class Outcome:
    """What the client got, the same whatever its protocol or mode."""

    text: str = ""
    calls: list[ToolUse] = field(default_factory=list)
    usage: Tokens | None = None
    reasoning: str = ""  # thinking the client was shown, in its protocol's place
    finish: str | None = None  # "stop", "tool_calls", "length", or the protocol's own word
    error: Failure | None = None

    def ok(self) -> Outcome:
        """This outcome, asserting it is not an error."""
        assert self.error is None, f"the client got an error: {self.error}"
        return self

    def failed(self) -> Failure:
        """The error, asserting there is one."""
        assert self.error is not None, f"the client got no error but {self}"
        return self.error


@dataclass
class Upstream:
    """What the provider was sent, normalized from its protocol's request."""

    system: str | None
    user_texts: list[str]
    tool_names: list[str]
    calls: list[ToolUse]  # assistant tool calls in the history
    results: list[ToolResult]
    images: list[tuple[str, str]]  # (media type, base64 data)
    max_tokens: int | None = None  # the output limit asked for
    forced: str | None = None  # the tool the model was told to call


class Client(Protocol):
    """A front-end driven through its official SDK (see clients.py)."""

    name: str
    carries_ids: bool  # whether its tool calls always have ids

    def ask(self, session: Any, ask: Ask, *, stream: bool) -> Outcome:
        """Send `ask` through the SDK session; never raises the SDK's own errors."""
        ...


class Provider(Protocol):
    """A backend protocol's fake provider, scripted and read back (see providers.py)."""

    name: str
    carries_ids: bool  # whether its tool calls always have ids

    def text(
        self, fake: Any, text: str, *, usage: Tokens = SOME_TOKENS, cut_short: bool = False
    ) -> None:
        """Queue a text answer; `cut_short`: it stopped at the output limit."""
        ...

    def tool_calls(self, fake: Any, calls: Sequence[ToolUse]) -> list[str | None]:
        """Queue an answer making `calls`; returns the ids the provider gives them."""
        ...

    def reasoning(self, fake: Any, thought: str, text: str) -> None:
        """Queue an answer that thinks `thought` (signed, where the protocol signs) first."""
        ...

    def http_error(self, fake: Any, status: int, message: str) -> None:
        """Queue an error status with the protocol's error body."""
        ...

    def stream_error(self, fake: Any, before: str, message: str) -> None:
        """Queue a stream that sends `before` as text, then the protocol's error event."""
        ...

    def broken_body(self, fake: Any) -> None:
        """Queue a non-streamed answer whose body breaks off."""
        ...

    def upstream(self, fake: Any) -> Upstream:
        """The last request the fake received, normalized."""
        ...


@dataclass
class Cell:
    """One matrix cell: a client and a provider through the proxy, in one mode."""

    client: Client
    session: Any
    provider: Provider
    fake: Any
    stream: bool

    def ask(self, ask: Ask) -> Outcome:
        """Ask through the client in this cell's mode."""
        return self.client.ask(self.session, ask, stream=self.stream)

    def upstream(self) -> Upstream:
        """What the provider was last sent."""
        return self.provider.upstream(self.fake)

    @property
    def same_family(self) -> bool:
        """Whether the client and the provider speak the same protocol family."""
        return (self.client.name, self.provider.name) in SAME_FAMILY

    @property
    def ids_survive(self) -> bool:
        """Whether both protocols carry tool-call ids, so they must pass through unchanged."""
        return self.client.carries_ids and self.provider.carries_ids


# --- the data the cases send ---------------------------------------------------------------

QUESTION = "What is the weather like?"
# Non-ASCII on purpose: the OpenAI-compatible fake writes 3 bytes at a time.
ANSWER = "Grüße aus Zürich ☃ — 東京 🚀 sunny, 24°C."
SYSTEM = "You are a terse weather bot. Answer in one line."
WEATHER = Tool(
    "get_weather",
    "The weather in a city",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
)
TIME = Tool(
    "get_time",
    "The time in a zone",
    {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
)
PARIS = ToolUse(None, "get_weather", {"city": "Paris", "unit": "C"})
PARALLEL = (
    ToolUse(None, "get_weather", {"city": "Oslo"}),
    ToolUse(None, "get_time", {"zone": "Europe/Oslo"}),
    ToolUse(None, "get_weather", {"city": "Lima", "unit": "F"}),
)
RESULT = '{"sky": "sunny", "celsius": 24}'
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
ERROR_MESSAGE = "Upstream says no: the request was refused."
PARTIAL = "Partial answer "
MID_STREAM_MESSAGE = "The upstream broke down mid-answer."
LIMIT = 64
USAGE = Tokens(input=123, output=45, cached=20)
THOUGHT = "The user wants the weather; I should answer briefly."
# Client and provider pairs of one protocol family: reasoning must reach such a client.
SAME_FAMILY = {
    ("openai_chat", "openai"),
    ("openai_chat", "compat"),
    ("anthropic", "anthropic"),
    ("gemini", "gemini"),
}


def _shape(calls: Sequence[ToolUse]) -> list[tuple[str, dict[str, Any]]]:
    return [(c.name, c.args) for c in calls]


def _check_ids(cell: Cell, got: Sequence[ToolUse], given: Sequence[str | None]) -> None:
    """Ids the provider gave reach the client unchanged; missing ones are made up, uniquely."""
    ids = [c.id for c in got]
    if cell.ids_survive:
        assert ids == list(given), "tool-call ids changed on the way to the client"
    if cell.client.carries_ids:
        assert all(ids), f"a tool call reached the client without an id: {ids}"
        assert len(set(ids)) == len(ids), f"tool-call ids are not unique: {ids}"


# --- the cases -----------------------------------------------------------------------------


def plain_text(cell: Cell) -> None:
    """A text answer arrives whole; the question reaches the provider."""
    cell.provider.text(cell.fake, ANSWER)

    outcome = cell.ask(Ask(QUESTION)).ok()

    assert (outcome.text, outcome.calls, outcome.finish) == (ANSWER, [], "stop")
    assert cell.upstream().user_texts == [QUESTION]


def tool_call(cell: Cell) -> None:
    """One tool call arrives with its name, its arguments and the provider's id."""
    given = cell.provider.tool_calls(cell.fake, [PARIS])

    outcome = cell.ask(Ask(QUESTION, tools=(WEATHER,))).ok()

    assert _shape(outcome.calls) == _shape([PARIS])
    assert outcome.finish == "tool_calls"
    _check_ids(cell, outcome.calls, given)
    assert cell.upstream().tool_names == [WEATHER.name]


def parallel_tools(cell: Cell) -> None:
    """Three calls in one answer arrive in order, none merged or dropped."""
    given = cell.provider.tool_calls(cell.fake, PARALLEL)

    outcome = cell.ask(Ask(QUESTION, tools=(WEATHER, TIME))).ok()

    assert _shape(outcome.calls) == _shape(PARALLEL)
    assert outcome.finish == "tool_calls"
    _check_ids(cell, outcome.calls, given)
    assert sorted(cell.upstream().tool_names) == sorted([WEATHER.name, TIME.name])


def forced_tool(cell: Cell) -> None:
    """A tool choice naming one tool reaches the provider in its protocol's terms."""
    cell.provider.tool_calls(cell.fake, [PARIS])

    outcome = cell.ask(Ask(QUESTION, tools=(WEATHER, TIME), force=WEATHER.name)).ok()

    assert _shape(outcome.calls) == _shape([PARIS])
    assert cell.upstream().forced == WEATHER.name


def tool_round_trip(cell: Cell) -> None:
    """The client's tool result reaches the provider in its protocol's place, paired with
    the call it answers; the ids the provider gave come back to it."""
    given = cell.provider.tool_calls(cell.fake, [PARIS])
    first = cell.ask(Ask(QUESTION, tools=(WEATHER,))).ok()
    [call] = first.calls
    cell.provider.text(cell.fake, ANSWER)

    result = ToolResult(call.id, call.name, RESULT)
    second = cell.ask(Ask(QUESTION, tools=(WEATHER,), calls=(call,), results=(result,))).ok()

    assert second.text == ANSWER
    sent = cell.upstream()
    assert sent.user_texts == [QUESTION]
    assert _shape(sent.calls) == _shape([PARIS])
    [answered] = sent.results
    assert json.loads(answered.content) == json.loads(RESULT)
    [made] = sent.calls
    if made.id is not None or answered.id is not None:
        assert answered.id == made.id, "the tool result does not name the call it answers"
    else:
        assert answered.name == made.name
    if cell.ids_survive:
        assert [made.id] == given, "the provider's tool-call id did not survive the round trip"


def parallel_round_trip(cell: Cell) -> None:
    """Results for parallel calls reach the provider together, each paired with its call."""
    given = cell.provider.tool_calls(cell.fake, PARALLEL[:2])
    first = cell.ask(Ask(QUESTION, tools=(WEATHER, TIME))).ok()
    cell.provider.text(cell.fake, ANSWER)
    contents = [RESULT, '{"time": "14:05"}']
    results = tuple(
        ToolResult(call.id, call.name, text)
        for call, text in zip(first.calls, contents, strict=True)
    )

    second = cell.ask(
        Ask(QUESTION, tools=(WEATHER, TIME), calls=tuple(first.calls), results=results)
    ).ok()

    assert second.text == ANSWER
    sent = cell.upstream()
    assert _shape(sent.calls) == _shape(PARALLEL[:2])
    by_call = {(r.id, r.name): json.loads(r.content) for r in sent.results}
    expected = {
        (made.id, made.name): json.loads(text)
        for made, text in zip(sent.calls, contents, strict=True)
    }
    assert by_call == expected, "tool results are not paired with the calls they answer"
    if cell.ids_survive:
        assert [c.id for c in sent.calls] == given


def system_prompt(cell: Cell) -> None:
    """The system prompt reaches the provider in its protocol's place, and only there."""
    cell.provider.text(cell.fake, ANSWER)

    cell.ask(Ask(QUESTION, system=SYSTEM)).ok()

    sent = cell.upstream()
    assert sent.system == SYSTEM
    assert sent.user_texts == [QUESTION]


def image_input(cell: Cell) -> None:
    """A base64 image reaches the provider with its media type, next to the text."""
    cell.provider.text(cell.fake, ANSWER)

    cell.ask(Ask(QUESTION, image=PNG)).ok()

    sent = cell.upstream()
    assert sent.images == [("image/png", base64.b64encode(PNG).decode())]
    assert sent.user_texts == [QUESTION]


def length_limit(cell: Cell) -> None:
    """The client's output limit reaches the provider in its protocol's field; an answer
    stopped by it says so to the client."""
    cell.provider.text(cell.fake, ANSWER, cut_short=True)

    outcome = cell.ask(Ask(QUESTION, max_tokens=LIMIT)).ok()

    assert (outcome.text, outcome.finish) == (ANSWER, "length")
    assert cell.upstream().max_tokens == LIMIT


def reasoning(cell: Cell) -> None:
    """Thinking never leaks into the answer's text; a client that is shown it sees it
    whole, and a client of the provider's own family is always shown it."""
    cell.provider.reasoning(cell.fake, THOUGHT, ANSWER)

    outcome = cell.ask(Ask(QUESTION)).ok()

    assert outcome.text == ANSWER
    if cell.same_family:
        assert outcome.reasoning == THOUGHT
    else:
        assert outcome.reasoning in ("", THOUGHT), "the thinking was garbled on the way"


def _upstream_error(status: int) -> Callable[[Cell], None]:
    def case(cell: Cell) -> None:
        cell.provider.http_error(cell.fake, status, ERROR_MESSAGE)

        failure = cell.ask(Ask(QUESTION)).failed()

        assert failure.status == status
        assert ERROR_MESSAGE in failure.message

    case.__doc__ = f"An upstream {status} reaches the client as its SDK's error, same status."
    return case


upstream_4xx = _upstream_error(400)
upstream_5xx = _upstream_error(503)


def error_mid_stream(cell: Cell) -> None:
    """A provider that breaks off mid-answer is an error, never a silently short answer:
    streamed, the SDK raises (or reports an error event) with the provider's message;
    not streamed, an error status."""
    if cell.stream:
        cell.provider.stream_error(cell.fake, PARTIAL, MID_STREAM_MESSAGE)
        outcome = cell.ask(Ask(QUESTION))
        assert MID_STREAM_MESSAGE in outcome.failed().message
        assert outcome.text == PARTIAL, "what came before the error did not reach the client"
    else:
        cell.provider.broken_body(cell.fake)
        failure = cell.ask(Ask(QUESTION)).failed()
        assert failure.status == 502


def usage(cell: Cell) -> None:
    """The provider's input, output and cached token counts reach the client, each in its
    protocol's terms (Anthropic counts cache reads apart from `input_tokens`)."""
    cell.provider.text(cell.fake, ANSWER, usage=USAGE)

    outcome = cell.ask(Ask(QUESTION)).ok()

    assert outcome.usage == USAGE


MODES = ("whole", "stream")
CASES: dict[str, Callable[[Cell], None]] = {
    "plain_text": plain_text,
    "tool_call": tool_call,
    "parallel_tools": parallel_tools,
    "forced_tool": forced_tool,
    "tool_round_trip": tool_round_trip,
    "parallel_round_trip": parallel_round_trip,
    "system_prompt": system_prompt,
    "image_input": image_input,
    "length_limit": length_limit,
    "reasoning": reasoning,
    "upstream_4xx": upstream_4xx,
    "upstream_5xx": upstream_5xx,
    "error_mid_stream": error_mid_stream,
    "usage": usage,
}
