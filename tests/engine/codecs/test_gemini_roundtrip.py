"""Property: what Gemini can express survives encode → JSON → decode unchanged: requests,
whole responses and streamed ones.

What Gemini cannot say is left out of the generated requests: tool-call ids (Gemini has
none; they are compared by position), message names, `strict`, image `detail`, metadata.
Signatures are Gemini's own (tagged) and sit where Gemini puts them: on a thought, or just
before the part they sign.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.codecs import gemini
from engine.codecs.gemini.request import tag
from engine.codecs.sse import dumps
from engine.model import (
    ChatRequest,
    Event,
    Finish,
    ImagePart,
    Message,
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
from engine.response import ChatResponse, Collector

names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
texts = st.text(max_size=30)
json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)
arguments = st.dictionaries(names, json_values, max_size=3).map(dumps)
signatures = st.from_regex(r"[A-Za-z0-9+/]{4,16}={0,2}", fullmatch=True).map(tag)
finite = st.floats(-2, 2, allow_nan=False, allow_infinity=False)


def _not_an_object(text: str) -> bool:
    try:
        return not isinstance(json.loads(text), dict)
    except ValueError:
        return True


result_texts = texts.filter(_not_an_object) | st.dictionaries(
    names, json_values, min_size=1, max_size=2
).filter(lambda d: set(d) not in ({"output"}, {"error"})).map(dumps)

images = st.builds(
    ImagePart,
    data=st.from_regex(r"[A-Za-z0-9+/]{4,12}", fullmatch=True),
    media_type=st.sampled_from(["image/png", "image/jpeg", "image/webp"]),
) | st.builds(
    ImagePart,
    url=st.from_regex(r"https://files\.test/[a-z0-9]{1,8}", fullmatch=True),
    media_type=st.sampled_from(["image/png", "image/gif"]),
)
user_parts = st.lists(st.builds(TextPart, text=texts) | images, min_size=1, max_size=3)


@st.composite
def model_turn(draw: st.DrawFn, call_names: list[str]) -> list[Part]:
    """An assistant turn: thoughts, text, calls; signatures where Gemini puts them."""
    parts: list[Part] = []
    if draw(st.booleans()):
        parts.append(ReasoningPart(text=draw(texts.filter(bool))))
    for kind in draw(st.lists(st.sampled_from(["text", "call"]), max_size=4)):
        if draw(st.booleans()):
            parts.append(ReasoningPart(signature=draw(signatures)))
        if kind == "text":
            parts.append(TextPart(text=draw(texts)))
        else:
            parts.append(
                ToolCallPart(
                    id="?", name=draw(st.sampled_from(call_names)), arguments=draw(arguments)
                )
            )
    return parts


@st.composite
def requests(draw: st.DrawFn) -> ChatRequest:
    tools = draw(
        st.lists(
            st.builds(
                Tool,
                name=names,
                description=st.none() | texts,
                parameters=st.just({"type": "object", "properties": {"x": {"type": "string"}}})
                | st.dictionaries(names, json_values, max_size=2).map(
                    lambda d: {"type": "object", "properties": d}
                ),
            ),
            max_size=3,
            unique_by=lambda t: t.name,
        )
    )
    call_names = [t.name for t in tools] or ["f"]
    messages: list[Message] = []
    for _ in range(draw(st.integers(0, 4))):
        messages.append(Message(role="user", content=draw(user_parts)))
        content = draw(model_turn(call_names))
        for i, part in enumerate(content):
            if isinstance(part, ToolCallPart):
                call_id = f"client_call_{sum(len(m.content) for m in messages)}_{id(part)}"
                content[i] = part.model_copy(update={"id": call_id})
        if content:  # Gemini has no empty turns
            messages.append(Message(role="assistant", content=content))
        for part in content:
            if isinstance(part, ToolCallPart):
                result = ToolResultPart(
                    tool_call_id=part.id,
                    name=part.name,
                    content=[TextPart(text=draw(result_texts))],
                    is_error=draw(st.booleans()),
                )
                if result.is_error:
                    result = result.model_copy(update={"content": [TextPart(text=draw(texts))]})
                messages.append(Message(role="tool", content=[result]))
    choice = draw(
        st.none()
        | st.builds(ToolChoice, mode=st.sampled_from(["auto", "none", "required"]))
        | st.builds(ToolChoice, mode=st.just("tool"), name=st.sampled_from(call_names)).filter(
            lambda choice: choice.name in {t.name for t in tools}
        )  # forced: an offered one
    )
    sampling = Sampling(
        temperature=draw(st.none() | st.floats(0, 2)),  # Gemini's own bounds
        top_p=draw(st.none() | st.floats(0, 1)),
        top_k=draw(st.none() | st.integers(1, 100)),
        max_tokens=draw(st.none() | st.integers(1, 10_000)),
        stop=draw(st.none() | st.lists(texts.filter(bool), max_size=3)),
        seed=draw(st.none() | st.integers(0, 2**31)),
        presence_penalty=draw(st.none() | finite),
        frequency_penalty=draw(st.none() | finite),
    )
    reasoning = draw(
        st.none()
        | st.builds(Reasoning, budget_tokens=st.integers(1, 32_768))
        | st.just(Reasoning(effort="none", budget_tokens=0))
    )
    response_format = draw(
        st.none()
        | st.just({"type": "json_object"})
        | st.builds(
            lambda schema: {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema},
            },
            st.dictionaries(names, json_values, max_size=2),
        )
    )
    return ChatRequest(
        model="gemini-x",
        system=draw(st.lists(st.builds(TextPart, text=texts), max_size=2)),
        messages=messages,
        tools=tools,
        tool_choice=choice,
        sampling=sampling,
        reasoning=reasoning,
        response_format=response_format,
        client_protocol=gemini.PROTOCOL,
    )


def comparable(request: ChatRequest) -> dict[str, Any]:
    """The request with call ids replaced by their position, without what Gemini cannot say."""
    positions: dict[str, int] = {}
    for message in request.messages:
        for part in message.content:
            if isinstance(part, ToolCallPart):
                positions.setdefault(part.id, len(positions))
    dumped = request.model_dump(exclude={"extra", "include_usage", "stream"})
    count = 0
    for message in dumped["messages"]:
        for part in message["content"]:
            if part["type"] == "tool_call":
                part["id"] = count
                count += 1
    results = 0
    for message in dumped["messages"]:
        for part in message["content"]:
            if part["type"] == "tool_result":
                part["tool_call_id"] = results
                results += 1
    return dumped


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_decode_of_encode_keeps_what_gemini_can_say(request: ChatRequest) -> None:
    wire = json.loads(json.dumps(gemini.encode_request(request)))
    decoded = gemini.decode_request(wire, request.model)
    assert comparable(decoded) == comparable(request)


@settings(max_examples=100, deadline=None)
@given(requests())
def test_encoding_is_stable(request: ChatRequest) -> None:
    wire = gemini.encode_request(request)
    again = gemini.encode_request(gemini.decode_request(json.loads(json.dumps(wire)), "gemini-x"))
    assert again == wire


# --- responses: events → Gemini (whole or streamed) → events ------------------------------


@st.composite
def responses(draw: st.DrawFn) -> list[Event]:
    """A response's events, in the shapes Gemini has: no two reasoning blocks in a row."""
    events: list[Event] = [ResponseStart(id=draw(names), model=draw(names))]
    calls = 0
    previous = None
    for kind in draw(st.lists(st.sampled_from(["text", "call", "thought", "signed"]), max_size=6)):
        if kind in ("thought", "signed") and previous in ("thought", "signed"):
            continue
        if kind == "text":
            events.append(TextDelta(text=draw(texts.filter(bool))))
        elif kind == "call":
            name, args = draw(names), draw(arguments)
            events += [
                ToolCallStart(index=calls, id=f"c{calls}", name=name),
                ToolCallDelta(index=calls, arguments=args),
                ToolCallEnd(index=calls),
            ]
            calls += 1
        elif kind == "thought":
            events.append(
                ReasoningDelta(
                    text=draw(texts.filter(bool)), signature=draw(st.none() | signatures)
                )
            )
        else:
            events.append(ReasoningDelta(signature=draw(signatures)))
        previous = kind
    output = draw(st.integers(0, 500))
    events.append(
        Usage(
            input_tokens=draw(st.integers(0, 500)),
            output_tokens=output,
            reasoning_tokens=draw(st.integers(0, output)),
        )
    )
    reasons = ["tool_calls"] if calls else ["stop", "length", "content_filter"]
    events.append(Finish(reason=draw(st.sampled_from(reasons))))
    return events


def _without_ids(response: ChatResponse) -> dict[str, Any]:
    dumped = response.model_dump()
    for part in dumped["content"]:
        if part["type"] == "tool_call":
            part["id"] = None
    return dumped


def _collect(events: list[Event]) -> ChatResponse:
    collector = Collector()
    for event in events:
        collector.add(event)
    return collector.response


@settings(max_examples=150, deadline=None)
@given(responses())
def test_whole_responses_survive_gemini(events: list[Event]) -> None:
    response = _collect(events)
    wire = json.loads(json.dumps(gemini.encode_response(response)))
    assert _without_ids(_collect(list(gemini.decode_response(wire)))) == _without_ids(response)


@settings(max_examples=150, deadline=None)
@given(responses())
def test_streamed_responses_survive_gemini(events: list[Event]) -> None:
    encoder = gemini.StreamEncoder()
    decoder = gemini.StreamDecoder()
    data = b"".join(encoder.event(event) for event in events).decode()
    decoded: list[Event] = []
    for message in data.split("\n\n"):
        if message:
            decoded.extend(decoder.chunk(json.loads(message.removeprefix("data: "))))
    decoded.extend(decoder.end())
    assert _without_ids(_collect(decoded)) == _without_ids(_collect(events))
