"""Properties of the OpenAI Chat Completions codec: what Chat Completions can say survives.

* A request: ChatRequest → encode_request → JSON → decode_request gives it back.
  Left out of the generated requests because Chat Completions cannot say them: signed
  reasoning parts in history, tool-result names and errors, several results in one message, images
  outside user turns, `top_k`, a reasoning budget, a leading system *message* (it is the
  system prompt), and `include_usage` without `stream` (the encoder always asks for usage
  when streaming).
* A stream: events → StreamEncoder bytes → SSE → StreamDecoder gives the same events, except
  that tool calls end where the upstream says the choice finished (just before usage), and
  a `stop` after tool calls reads back as `tool_calls`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.codecs import openai_chat
from engine.codecs.openai_chat.request import _MODELED
from engine.codecs.sse import dumps, parse_sse
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    Finish,
    ImagePart,
    Message,
    OpaquePart,
    Part,
    Reasoning,
    ReasoningDelta,
    ReasoningPart,
    ResponseStart,
    Sampling,
    TextDelta,
    TextPart,
    Tool,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolResultPart,
    Usage,
)

names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
texts = st.text(min_size=1, max_size=30)
json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)
arguments = st.dictionaries(names, json_values, max_size=3).map(dumps)
finite = st.floats(-2, 2, allow_nan=False, allow_infinity=False)
details = st.none() | st.sampled_from(["low", "high", "auto"])

text_parts = texts.map(lambda t: TextPart(text=t))
images = st.builds(
    ImagePart, url=names.map(lambda n: "https://img.example/" + n), detail=details
) | st.builds(
    ImagePart,
    data=st.from_regex(r"[A-Za-z0-9+/]{4,24}", fullmatch=True),
    media_type=st.sampled_from(["image/png", "image/jpeg"]),
    detail=details,
)
files = st.builds(
    lambda kind, ref: OpaquePart(
        protocol="openai_chat",
        data={"type": "file", "file": {"file_id": ref}}
        if kind == "file"
        else {"type": "input_audio", "input_audio": {"data": ref, "format": "wav"}},
    ),
    st.sampled_from(["file", "input_audio"]),
    names,
)
tool_calls = st.builds(
    ToolCallPart, id=names.map(lambda n: "call_" + n), name=names, arguments=arguments
)


@st.composite
def user_messages(draw: st.DrawFn) -> Message:
    content: list[Part] = draw(st.lists(text_parts | images | files, max_size=3))
    return Message(role="user", content=content, name=draw(st.none() | names))


@st.composite
def assistant_messages(draw: st.DrawFn) -> Message:
    content: list[Part] = [
        # Unsigned reasoning, as DeepSeek's `reasoning_content`: first, and one part.
        *draw(st.lists(texts.map(lambda t: ReasoningPart(text=t)), max_size=1)),
        *draw(st.lists(text_parts, max_size=2)),
        *draw(st.lists(tool_calls, max_size=2)),
    ]
    return Message(role="assistant", content=content, name=draw(st.none() | names))


tool_messages = st.builds(
    lambda call_id, text: Message(
        role="tool", content=[ToolResultPart(tool_call_id=call_id, content=[TextPart(text=text)])]
    ),
    names.map(lambda n: "call_" + n),
    texts,
)
system_messages = st.lists(text_parts, min_size=1, max_size=2).map(
    lambda parts: Message(role="system", content=parts)
)


@st.composite
def conversations(draw: st.DrawFn) -> list[Message]:
    # Starts with a user turn: a leading system message would be the system prompt.
    first = draw(user_messages())
    rest = draw(
        st.lists(
            user_messages() | assistant_messages() | tool_messages | system_messages, max_size=5
        )
    )
    return [first, *rest]


tools = st.builds(
    Tool,
    name=names,
    description=st.none() | texts,
    parameters=st.fixed_dictionaries(
        {"type": st.just("object"), "properties": st.dictionaries(names, st.just({}), max_size=2)}
    ),
    strict=st.none() | st.booleans(),
)


def tool_choices(offered: list[Tool]) -> st.SearchStrategy[ToolChoice | None]:
    """A tool choice; a forced one names an offered tool (others are never sent)."""
    forced = [ToolChoice(mode="tool", name=t.name) for t in offered]
    return (
        st.none()
        | st.builds(ToolChoice, mode=st.sampled_from(["auto", "none", "required"]))
        | st.sampled_from(forced or [None])
    )


samplings = st.builds(
    Sampling,
    temperature=st.none() | st.floats(0, 2),  # OpenAI's own bounds
    top_p=st.none() | st.floats(0, 1),
    max_tokens=st.none() | st.integers(1, 100_000),
    stop=st.none() | st.lists(texts, max_size=3),
    seed=st.none() | st.integers(0, 2**31),
    presence_penalty=st.none() | finite,
    frequency_penalty=st.none() | finite,
)
extras = st.dictionaries(
    names.filter(lambda n: n not in _MODELED and n != "n"), json_values, max_size=2
)


@st.composite
def requests(draw: st.DrawFn) -> ChatRequest:
    stream = draw(st.booleans())
    effort = draw(st.none() | st.sampled_from(["minimal", "low", "medium", "high"]))
    return ChatRequest(
        model=draw(names),
        system=draw(st.lists(text_parts, max_size=2)),
        messages=draw(conversations()),
        tools=(offered := draw(st.lists(tools, max_size=2))),
        tool_choice=draw(tool_choices(offered)),
        parallel_tool_calls=draw(st.none() | st.booleans()),
        sampling=draw(samplings),
        reasoning=Reasoning(effort=effort) if effort else None,
        response_format=draw(
            st.none()
            | st.just({"type": "json_object"})
            | st.builds(
                lambda name: {"type": "json_schema", "json_schema": {"name": name, "schema": {}}},
                names,
            )
        ),
        stream=stream,
        include_usage=stream,
        metadata=draw(st.dictionaries(names, st.text(max_size=8), max_size=2)),
        extra={"openai_chat": (extra := draw(extras))},
        client_protocol="openai_chat",
        client_only=list(extra),
    )


@settings(max_examples=150, deadline=None)
@given(request=requests(), field=st.sampled_from(["max_tokens", "max_completion_tokens"]))
def test_decode_of_encode_keeps_what_chat_completions_can_say(
    request: ChatRequest, field: str
) -> None:
    body = openai_chat.encode_request(request, request.model, max_tokens_field=field)
    wire = json.loads(json.dumps(body))

    assert openai_chat.decode_request(wire) == request


# --- the stream ----------------------------------------------------------------------------


@st.composite
def streams(draw: st.DrawFn) -> list[Event]:
    events: list[Event] = [
        ResponseStart(
            id="chatcmpl-" + draw(names), model=draw(names), created=draw(st.integers(1, 2**31))
        )
    ]
    calls = 0
    for kind in draw(st.lists(st.sampled_from(["text", "reasoning", "call"]), max_size=6)):
        if kind == "text":
            events.append(TextDelta(text=draw(texts)))
        elif kind == "reasoning":
            events.append(ReasoningDelta(text=draw(texts)))
        else:
            events.append(ToolCallStart(index=calls, id="call_" + draw(names), name=draw(names)))
            for piece in draw(st.lists(texts, max_size=3)):
                events.append(ToolCallDelta(index=calls, arguments=piece))
            events.append(ToolCallEnd(index=calls))
            calls += 1
    if draw(st.booleans()):
        events.append(
            ErrorEvent(status=500, code=draw(names), message=draw(texts))
        )  # the decoder reads no status from an error chunk
        return events
    usage = draw(st.none() | st.builds(
        Usage,
        input_tokens=st.integers(0, 10**6),
        output_tokens=st.integers(0, 10**6),
        cached_tokens=st.integers(0, 10**6),
        reasoning_tokens=st.integers(0, 10**6),
    ))  # fmt: skip
    if usage is not None:
        events.append(usage)
    events.append(
        Finish(reason=draw(st.sampled_from(["stop", "length", "tool_calls", "content_filter"])))
    )
    return events


async def _lines(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _decode(data: bytes) -> list[Event]:
    decoder = openai_chat.StreamDecoder()
    events: list[Event] = []
    async for message in parse_sse(_lines(data)):
        if message.data == "[DONE]":
            events.extend(decoder.end())
            break
        events.extend(decoder.chunk(json.loads(message.data)))
    return events


def _expected(events: list[Event]) -> list[Event]:
    """`events` with the tool calls' ends where a finish_reason chunk puts them."""
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    body = [e for e in events if not isinstance(e, ToolCallEnd)]
    if isinstance(body[-1], ErrorEvent):
        return body
    tail = [e for e in body if isinstance(e, Usage | Finish)]
    if tail[-1] == Finish(reason="stop") and ends:
        tail[-1] = Finish(reason="tool_calls")
    return [*[e for e in body if not isinstance(e, Usage | Finish)], *ends, *tail]


@settings(max_examples=150, deadline=None)
@given(events=streams())
async def test_stream_decoder_reads_back_what_the_encoder_wrote(events: list[Event]) -> None:
    encoder = openai_chat.StreamEncoder(include_usage=True)
    data = b"".join(encoder.event(event) for event in events)

    assert await _decode(data) == _expected(events)


def test_expected_moves_tool_call_ends_before_usage() -> None:
    events: list[Event] = [
        ResponseStart(id="c", model="m", created=1),
        ToolCallStart(index=0, id="a", name="f"),
        ToolCallEnd(index=0),
        TextDelta(text="x"),
        Usage(),
        Finish(reason="tool_calls"),
    ]
    assert _expected(events) == [events[0], events[1], events[3], events[2], events[4], events[5]]
