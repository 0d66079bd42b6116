"""Property tests: decode(encode(x)) keeps everything Anthropic Messages can express.

The generated requests are in the form the decoder produces: a user-side turn is a `tool`
message (the results) and/or a `user` message (after them), turns alternate with the
assistant, reasoning carries a signature, and tool results name no tool (the decoder only
names them from tool calls earlier in the conversation). Thinking is asked for only where
Anthropic takes it (see `_takes_thinking` and the sampling rules in `requests`).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.codecs import anthropic
from engine.model import (
    ChatRequest,
    Finish,
    ImagePart,
    Message,
    Part,
    Reasoning,
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
from engine.response import ChatResponse, Collector, replay

texts = st.text(min_size=1, max_size=12)
names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
ids = st.from_regex(r"[a-z0-9]{4,10}", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
arguments = st.dictionaries(st.text(max_size=6), json_values, max_size=4).map(
    lambda d: json.dumps(d, separators=(",", ":"), ensure_ascii=False)
)
images = st.one_of(
    st.builds(
        ImagePart,
        data=st.from_regex(r"[A-Za-z0-9+/]{4,12}={0,2}", fullmatch=True),
        media_type=st.sampled_from(["image/png", "image/jpeg", "image/webp"]),
    ),
    st.builds(ImagePart, url=names.map(lambda n: f"https://img.example.test/{n}.png")),
)
text_parts = st.builds(TextPart, text=texts)
signed_reasoning = st.one_of(
    st.builds(ReasoningPart, text=st.text(max_size=12), signature=ids),
    st.builds(ReasoningPart, signature=ids, redacted=st.just(True)),
)
tool_calls = st.builds(
    ToolCallPart, id=ids.map(lambda i: f"call_{i}"), name=names, arguments=arguments
)
tool_results = st.builds(
    ToolResultPart,
    tool_call_id=ids.map(lambda i: f"res_{i}"),
    content=st.lists(text_parts | images, max_size=3),
    is_error=st.booleans(),
)


@st.composite
def user_side(draw: st.DrawFn) -> list[Message]:
    results = draw(st.lists(tool_results, max_size=3))
    content: list[Part] = list(draw(st.lists(text_parts | images, max_size=3)))
    if not results and not content:
        content = [draw(text_parts)]
    out = []
    if results:
        out.append(Message(role="tool", content=list(results)))
    if content:
        out.append(Message(role="user", content=content))
    return out


assistant = st.lists(text_parts | tool_calls | signed_reasoning, min_size=1, max_size=4).map(
    lambda parts: Message(role="assistant", content=list(parts))
)


@st.composite
def conversations(draw: st.DrawFn) -> list[Message]:
    messages: list[Message] = []
    rounds = draw(st.integers(1, 3))
    for n in range(rounds):
        messages.extend(draw(user_side()))
        if n + 1 < rounds or draw(st.booleans()):  # same-role turns would merge
            messages.append(draw(assistant))
    return messages


def _takes_thinking(messages: list[Message], choice: ToolChoice | None) -> bool:
    """Anthropic's rules for thinking: no forced tool, and a last assistant turn that called
    tools still carries its signed thinking."""
    if choice is not None and choice.mode in ("required", "tool"):
        return False
    last = next((m for m in reversed(messages) if m.role == "assistant"), None)
    if last is None or not any(isinstance(p, ToolCallPart) for p in last.content):
        return True
    return any(isinstance(p, ReasoningPart) and p.signature for p in last.content)


@st.composite
def requests(draw: st.DrawFn) -> ChatRequest:
    tools = draw(
        st.lists(
            st.builds(
                Tool,
                name=names,
                description=st.none() | texts,
                parameters=st.just({"type": "object", "properties": {"x": {"type": "string"}}}),
                strict=st.sampled_from([None, True, False]),
            ),
            max_size=3,
            unique_by=lambda t: t.name,
        )
    )
    choice, parallel = None, None
    if tools:
        choice = draw(
            st.none()
            | st.builds(ToolChoice, mode=st.sampled_from(["auto", "none", "required"]))
            | st.just(ToolChoice(mode="tool", name=tools[0].name))
        )
        if choice is not None and choice.mode != "none":  # alone, it reads back as `auto`
            parallel = draw(st.sampled_from([None, False]))
    max_tokens = draw(st.integers(1, 100_000))
    messages = draw(conversations())
    reasoning = None
    if max_tokens > 1024 and _takes_thinking(messages, choice) and draw(st.booleans()):
        reasoning = Reasoning(budget_tokens=draw(st.integers(1024, max_tokens - 1)))
    thinking = reasoning is not None  # then no temperature or top_k, and top_p >= 0.95
    sampling = Sampling(
        max_tokens=max_tokens,
        temperature=None if thinking else draw(st.none() | st.floats(0, 1)),
        top_p=draw(st.none() | st.floats(0.95 if thinking else 0, 1)),
        top_k=None if thinking else draw(st.none() | st.integers(1, 500)),
        stop=draw(st.none() | st.lists(texts, min_size=1, max_size=3)),
    )
    return ChatRequest(
        model=draw(names),
        system=draw(st.lists(text_parts, max_size=3)),
        messages=messages,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        sampling=sampling,
        reasoning=reasoning,
        stream=draw(st.booleans()),
        metadata=draw(st.just({}) | texts.map(lambda u: {"user_id": u})),
        extra={anthropic.PROTOCOL: {}},
        client_protocol=anthropic.PROTOCOL,
    )


@settings(max_examples=60, deadline=None)
@given(requests())
def test_requests_survive_encode_then_decode(request: ChatRequest) -> None:
    encoded = anthropic.encode_request(request, request.model)
    wire = json.loads(json.dumps(encoded))  # what actually travels
    assert anthropic.decode_request(wire) == request


# --- responses -----------------------------------------------------------------------------


@st.composite
def responses(draw: st.DrawFn) -> ChatResponse:
    parts = draw(st.lists(text_parts | tool_calls | signed_reasoning, max_size=5))
    content: list[TextPart | ReasoningPart | ToolCallPart] = []
    for part in parts:
        if isinstance(part, TextPart) and content and isinstance(content[-1], TextPart):
            continue  # adjacent texts are one block on every wire
        content.append(part)
    calls = 0
    for i, part in enumerate(content):  # ids are unique within a response
        if isinstance(part, ToolCallPart):
            content[i] = part.model_copy(update={"id": f"{part.id}_{calls}"})
            calls += 1
    cached = draw(st.integers(0, 1000))
    created = draw(st.integers(0, 1000))
    usage = Usage(
        input_tokens=cached + created + draw(st.integers(0, 1000)),
        output_tokens=draw(st.integers(0, 1000)),
        cached_tokens=cached,
        cache_creation_tokens=created,
    )
    return ChatResponse(
        id=f"msg_{draw(ids)}",
        model=draw(names),
        content=content,
        finish_reason=draw(st.sampled_from(["stop", "length", "tool_calls", "content_filter"])),
        usage=usage,
    )


@settings(max_examples=60, deadline=None)
@given(responses())
def test_json_responses_survive_encode_then_decode(response: ChatResponse) -> None:
    wire = json.loads(json.dumps(anthropic.encode_response(response)))
    collector = Collector()
    for event in anthropic.decode_response(wire):
        collector.add(event)
    assert collector.response == response


def _sse(raw: str) -> list[dict[str, Any]]:
    out = []
    for message in raw.split("\n\n"):
        if message:
            name, data = message.split("\n")
            payload = json.loads(data.removeprefix("data: "))
            assert name == f"event: {payload['type']}"
            out.append(payload)
    return out


@settings(max_examples=60, deadline=None)
@given(responses())
def test_streamed_responses_survive_encode_then_decode(response: ChatResponse) -> None:
    encoder = anthropic.StreamEncoder()
    raw = b"".join(encoder.event(event) for event in replay(response)).decode()
    decoder = anthropic.StreamDecoder()
    collector = Collector()
    frames = _sse(raw)
    for frame in frames:
        for event in decoder.chunk(frame):
            collector.add(event)
    assert list(decoder.end()) == []
    assert collector.response == response
    starts = [f["index"] for f in frames if f["type"] == "content_block_start"]
    assert starts == list(range(len(response.content)))


@st.composite
def interleaved_calls(draw: st.DrawFn) -> tuple[list[str], list[Any]]:
    """Several tool calls whose start, argument pieces and end events interleave in any
    order that keeps each call's own events in order (as OpenAI upstreams may send them)."""
    count = draw(st.integers(1, 4))
    texts = [draw(arguments) for _ in range(count)]
    queues: list[list[Any]] = []
    for index, text in enumerate(texts):
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=4)))
        bounds = [0, *[c for c in cuts if c < len(text)], len(text)]
        pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
        queues.append(
            [
                ToolCallStart(index=index, id=f"call_{index}", name=f"f{index}"),
                *(ToolCallDelta(index=index, arguments=p) for p in pieces),
                ToolCallEnd(index=index),
            ]
        )
    events: list[Any] = []
    while any(queues):
        # Calls start in index order, as every upstream numbers them.
        ready = [
            i
            for i, q in enumerate(queues)
            if q
            and not (
                isinstance(q[0], ToolCallStart)
                and i > 0
                and queues[i - 1]
                and isinstance(queues[i - 1][0], ToolCallStart)
            )
        ]
        events.append(queues[draw(st.sampled_from(ready))].pop(0))
    return texts, events


@settings(max_examples=100, deadline=None)
@given(interleaved_calls(), st.booleans())
def test_interleaved_tool_calls_stream_as_well_formed_blocks(
    calls: tuple[list[str], list[Any]], text_first: bool
) -> None:
    arguments, events = calls
    stream = [ResponseStart(id="msg_1", model="m")]
    if text_first:
        stream.append(TextDelta(text="Calling."))
    stream += [*events, Finish(reason="tool_calls")]
    encoder = anthropic.StreamEncoder()
    frames = _sse(b"".join(encoder.event(e) for e in stream).decode())
    open_index = None
    next_index = 0
    for frame in frames:
        if frame["type"] == "content_block_start":
            assert open_index is None and frame["index"] == next_index
            open_index, next_index = frame["index"], next_index + 1
        elif frame["type"] == "content_block_delta":
            assert frame["index"] == open_index
        elif frame["type"] == "content_block_stop":
            assert frame["index"] == open_index
            open_index = None
    assert open_index is None
    decoder = anthropic.StreamDecoder()
    collector = Collector()
    for frame in frames:
        for event in decoder.chunk(frame):
            collector.add(event)
    assert [c.arguments for c in collector.response.tool_calls] == arguments
    assert [c.id for c in collector.response.tool_calls] == [
        f"call_{i}" for i in range(len(arguments))
    ]
