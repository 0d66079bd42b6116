"""The OpenAI Chat Completions codec: request validation, stream decoding, error shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.codecs import anthropic, gemini, openai_chat
from engine.codecs.openai_chat import StreamDecoder, StreamEncoder
from engine.codecs.openai_chat.response import decode_stream_error, error_type
from engine.errors import BadRequest, ProxyError, UpstreamError
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    Finish,
    ImagePart,
    Message,
    OpaquePart,
    ReasoningDelta,
    ReasoningPart,
    ResponseStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
)
from engine.notes import Dropped
from engine.response import ChatResponse, Collector


def body(**fields: Any) -> dict[str, Any]:
    """A valid minimal request body with `fields` on top."""
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **fields}


def one_message(**message: Any) -> dict[str, Any]:
    return body(messages=[message])


# --- decode_request: validation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        pytest.param([], "body", id="body-not-object"),
        pytest.param("hello", "body", id="body-string"),
        pytest.param({"messages": []}, "model", id="missing-model"),
        pytest.param({"model": 4, "messages": []}, "model", id="model-not-string"),
        pytest.param({"model": "m"}, "messages", id="missing-messages"),
        pytest.param({"model": "m", "messages": "hi"}, "messages", id="messages-not-list"),
        pytest.param(body(messages=["hi"]), "messages[0]", id="message-not-object"),
        pytest.param(one_message(role="robot", content="x"), "messages[0].role", id="bad-role"),
        pytest.param(one_message(content="x"), "messages[0].role", id="missing-role"),
        pytest.param(
            body(messages=[{"role": "user", "content": "a"}, {"role": "critic", "content": "b"}]),
            "messages[1].role",
            id="bad-role-second-message",
        ),
        pytest.param(one_message(role="user", content=5), "messages[0].content", id="content-int"),
        pytest.param(
            one_message(role="user", content=["text"]),
            "messages[0].content[0]",
            id="part-not-object",
        ),
        pytest.param(
            one_message(role="user", content=[{"type": "text", "text": 1}]),
            "messages[0].content[0].text",
            id="text-part-not-string",
        ),
        pytest.param(
            one_message(role="user", content=[{"type": "image_url", "image_url": {}}]),
            "messages[0].content[0].image_url.url",
            id="image-without-url",
        ),
        pytest.param(
            one_message(role="assistant", tool_calls=5),
            "messages[0].tool_calls",
            id="tool-calls-not-list",
        ),
        pytest.param(
            one_message(role="assistant", tool_calls=["x"]),
            "messages[0].tool_calls[0]",
            id="tool-call-not-object",
        ),
        pytest.param(
            one_message(role="assistant", tool_calls=[{"id": "c1"}]),
            "messages[0].tool_calls[0].function",
            id="tool-call-without-function",
        ),
        pytest.param(
            one_message(role="assistant", tool_calls=[{"function": {"name": "f"}}]),
            "messages[0].tool_calls[0].id",
            id="tool-call-without-id",
        ),
        pytest.param(
            one_message(role="assistant", tool_calls=[{"id": "c1", "function": {}}]),
            "messages[0].tool_calls[0].function.name",
            id="tool-call-without-name",
        ),
        pytest.param(
            one_message(role="tool", content="42"),
            "messages[0].tool_call_id",
            id="tool-result-without-call-id",
        ),
        pytest.param(body(tools=5), "tools", id="tools-not-list"),
        pytest.param(body(tools=["f"]), "tools[0]", id="tool-not-object"),
        pytest.param(
            body(tools=[{"type": "function"}]), "tools[0].function", id="tool-without-function"
        ),
        pytest.param(
            body(tools=[{"type": "function", "function": {"description": "d"}}]),
            "tools[0].function.name",
            id="tool-without-name",
        ),
        pytest.param(body(tool_choice="sometimes"), "tool_choice", id="tool-choice-unknown"),
        pytest.param(
            body(tool_choice={"type": "function"}), "tool_choice", id="tool-choice-no-function"
        ),
        pytest.param(body(temperature="hot"), "temperature", id="temperature-not-number"),
        pytest.param(body(top_p=[1]), "top_p", id="top-p-not-number"),
        pytest.param(body(max_tokens="lots"), "max_tokens", id="max-tokens-not-int"),
        pytest.param(body(max_tokens=True), "max_tokens", id="max-tokens-bool"),
        pytest.param(body(seed=1.5), "seed", id="seed-not-int"),
        pytest.param(body(stop=5), "stop", id="stop-not-list"),
    ],
)
def test_decode_request_rejects(raw: Any, param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        openai_chat.decode_request(raw)
    assert (caught.value.status, caught.value.param) == (400, param)
    assert caught.value.code == "invalid_request"


@pytest.mark.parametrize(
    ("raw", "mentions"),
    [
        pytest.param(body(reasoning_effort="extreme"), "effort", id="unknown-reasoning-effort"),
        pytest.param(body(metadata={"n": 1}), "metadata.n", id="metadata-not-strings"),
        pytest.param(body(parallel_tool_calls="maybe"), "parallel_tool_calls", id="not-bool"),
        pytest.param(body(stop=["ok", 3]), "stop[1]", id="stop-item-not-string"),
        pytest.param(body(stream="false"), "stream", id="stream-not-bool"),
        pytest.param(body(stream_options="yes"), "stream_options", id="stream-options-not-object"),
        pytest.param(body(max_tokens=-3), "max_tokens", id="negative-max-tokens"),
        pytest.param(body(response_format="json"), "response_format", id="format-not-object"),
        pytest.param(
            one_message(
                role="assistant",
                tool_calls=[{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}],
            ),
            "arguments",
            id="arguments-not-string",
        ),
    ],
)
def test_decode_request_model_validation_is_a_bad_request(raw: Any, mentions: str) -> None:
    with pytest.raises(BadRequest) as caught:
        openai_chat.decode_request(raw)
    assert caught.value.status == 400
    assert mentions in caught.value.message


# --- decode_request: meaning -----------------------------------------------------------------


def test_leading_system_messages_become_the_system_prompt() -> None:
    request = openai_chat.decode_request(
        body(
            messages=[
                {"role": "developer", "content": "be brief"},
                {"role": "system", "content": [{"type": "text", "text": "be kind"}]},
                {"role": "user", "content": "hi"},
                {"role": "system", "content": "late note"},
            ]
        )
    )
    assert [p.text for p in request.system] == ["be brief", "be kind"]
    assert [(m.role, m.text()) for m in request.messages] == [
        ("user", "hi"),
        ("system", "late note"),
    ]


def test_decode_request_maps_parts() -> None:
    request = openai_chat.decode_request(
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x/y.jpg", "detail": "low"},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "reasoning_content": "thinking",
                    "content": [{"type": "refusal", "refusal": "no"}],
                    "tool_calls": [{"id": "c1", "function": {"name": "f"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "result"},
            ]
        )
    )
    user, reply, result = request.messages
    assert user.content == [
        ImagePart(data="AAA", media_type="image/png"),
        ImagePart(url="https://x/y.jpg", detail="low"),
    ]
    assert reply.content == [
        ReasoningPart(text="thinking"),
        TextPart(text="no"),
        ToolCallPart(id="c1", name="f", arguments="{}"),
    ]
    assert result.content == [ToolResultPart(tool_call_id="c1", content=[TextPart(text="result")])]


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        ({"stop": "END"}, "stop", ["END"]),
        ({"max_tokens": 10, "max_completion_tokens": 20}, "max_tokens", 20),
        ({"max_tokens": 10}, "max_tokens", 10),
        ({"temperature": 1}, "temperature", 1),
    ],
)
def test_decode_request_sampling(fields: dict[str, Any], attribute: str, expected: Any) -> None:
    request = openai_chat.decode_request(body(**fields))
    assert getattr(request.sampling, attribute) == expected


def test_decode_request_keeps_unmodeled_fields_for_the_same_protocol() -> None:
    request = openai_chat.decode_request(body(user="u1", logprobs=True, temperature=0.5))
    assert request.extra == {"openai_chat": {"user": "u1", "logprobs": True}}


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        pytest.param(
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]},
            {"type": "input_audio", "input_audio": {"data": "x"}},
            id="audio",
        ),
        pytest.param(
            {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
            {"type": "image_url", "image_url": {"url": "u"}},
            id="image-in-system-message",
        ),
        pytest.param(
            {"role": "user", "content": [{"type": "video_url", "video_url": {"url": "v"}}]},
            {"type": "video_url", "video_url": {"url": "v"}},
            id="newer-part-type",
        ),
    ],
)
def test_parts_the_model_does_not_carry_go_verbatim_to_openai_chat_only(
    message: dict[str, Any], kept: dict[str, Any]
) -> None:
    request = openai_chat.decode_request(body(messages=[{"role": "user", "content": "a"}, message]))
    assert openai_chat.encode_request(request, "m")["messages"][1]["content"] == [kept]

    dropped = Dropped()
    encoded = gemini.encode_request(request, dropped=dropped)
    assert kept["type"] not in json.dumps(encoded)
    assert f"{kept['type']} block" in list(dropped)


def test_tools_of_other_types_go_verbatim_to_openai_chat_only() -> None:
    custom = {"type": "custom", "custom": {"name": "grep", "description": "d"}}
    search = {"search_context_size": "low"}
    request = openai_chat.decode_request(body(tools=[custom], web_search_options=search))

    encoded = openai_chat.encode_request(request, "m")
    assert encoded["tools"] == [custom] and encoded["web_search_options"] == search
    dropped = Dropped()
    tools = anthropic.encode_request(request, "m", dropped=dropped)["tools"]
    assert tools == [{"type": "web_search_20250305", "name": "web_search"}]  # Anthropic's own
    assert list(dropped) == ["custom tool"]


@pytest.mark.parametrize(
    ("fields", "stream", "include_usage"),
    [
        ({}, False, False),
        ({"stream": True}, True, False),
        ({"stream": True, "stream_options": {"include_usage": True}}, True, True),
    ],
)
def test_decode_request_stream_flags(
    fields: dict[str, Any], stream: bool, include_usage: bool
) -> None:
    request = openai_chat.decode_request(body(**fields))
    assert (request.stream, request.include_usage) == (stream, include_usage)


def test_encode_request_uses_the_given_model_and_always_asks_for_usage_when_streaming() -> None:
    request = openai_chat.decode_request(body(stream=True))
    encoded = openai_chat.encode_request(request, "other-model")
    assert encoded["model"] == "other-model"
    assert encoded["stream_options"] == {"include_usage": True}


FILE_PART = {
    "type": "file",
    "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
}
FILE_ID_PART = {"type": "file", "file": {"file_id": "file-abc"}}
AUDIO_PART = {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}


def test_files_and_audio_go_back_to_openai_chat_verbatim() -> None:
    content = [{"type": "text", "text": "summarise"}, FILE_PART, FILE_ID_PART, AUDIO_PART]
    request = openai_chat.decode_request(one_message(role="user", content=content))
    assert request.messages[0].content == [
        TextPart(text="summarise"),
        *(OpaquePart(protocol="openai_chat", data=p) for p in content[1:]),
    ]
    encoded = openai_chat.encode_request(request, "gpt-4o")
    assert encoded["messages"] == [{"role": "user", "content": content}]


def test_other_protocols_opaque_parts_are_left_out() -> None:
    document = {"type": "document", "source": {"type": "text", "data": "x"}}
    request = ChatRequest(
        model="m",
        messages=[
            Message(
                role="user",
                content=[
                    TextPart(text="read"),
                    OpaquePart(protocol="anthropic", data=document),
                ],
            )
        ],
    )
    assert openai_chat.encode_request(request, "m")["messages"] == [
        {"role": "user", "content": "read"}
    ]


SHOT = ImagePart(data="iVBO", media_type="image/png")
SHOT_URL = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}
LINKED = ImagePart(url="https://x.test/a.jpg", detail="low")
LINKED_URL = {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg", "detail": "low"}}


def _tool(*results: ToolResultPart) -> Message:
    return Message(role="tool", content=list(results))


def _intro(call_id: str) -> dict[str, Any]:
    return {"type": "text", "text": f"Images returned by tool call {call_id}:"}


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        pytest.param(
            [_tool(ToolResultPart(tool_call_id="c1", content=[TextPart(text="ok")]))],
            [{"role": "tool", "tool_call_id": "c1", "content": "ok"}],
            id="text-only-unchanged",
        ),
        pytest.param(
            [_tool(ToolResultPart(tool_call_id="c1", content=[TextPart(text="see"), SHOT]))],
            [
                {"role": "tool", "tool_call_id": "c1", "content": "see"},
                {"role": "user", "content": [_intro("c1"), SHOT_URL]},
            ],
            id="image-after-the-tool-message",
        ),
        pytest.param(
            [
                _tool(ToolResultPart(tool_call_id="c1", content=[SHOT])),
                _tool(ToolResultPart(tool_call_id="c2", content=[TextPart(text="none")])),
                _tool(ToolResultPart(tool_call_id="c3", content=[LINKED, SHOT])),
                Message(role="user", content=[TextPart(text="next")]),
            ],
            [
                {"role": "tool", "tool_call_id": "c1", "content": ""},
                {"role": "tool", "tool_call_id": "c2", "content": "none"},
                {"role": "tool", "tool_call_id": "c3", "content": ""},
                {
                    "role": "user",
                    "content": [_intro("c1"), SHOT_URL, _intro("c3"), LINKED_URL, SHOT_URL],
                },
                {"role": "user", "content": "next"},
            ],
            id="one-user-message-after-the-run",
        ),
        pytest.param(
            [
                _tool(
                    ToolResultPart(tool_call_id="c1", content=[SHOT]),
                    ToolResultPart(tool_call_id="c2", content=[TextPart(text="t"), LINKED]),
                ),
                Message(role="assistant", content=[TextPart(text="seen")]),
                _tool(ToolResultPart(tool_call_id="c3", content=[SHOT])),
            ],
            [
                {"role": "tool", "tool_call_id": "c1", "content": ""},
                {"role": "tool", "tool_call_id": "c2", "content": "t"},
                {"role": "user", "content": [_intro("c1"), SHOT_URL, _intro("c2"), LINKED_URL]},
                {"role": "assistant", "content": "seen"},
                {"role": "tool", "tool_call_id": "c3", "content": ""},
                {"role": "user", "content": [_intro("c3"), SHOT_URL]},
            ],
            id="each-run-its-own-message",
        ),
    ],
)
def test_tool_result_images_follow_in_a_user_message(
    messages: list[Message], expected: list[dict[str, Any]]
) -> None:
    encoded = openai_chat.encode_request(ChatRequest(model="m", messages=messages), "m")
    assert encoded["messages"] == expected


@pytest.mark.parametrize(
    ("reasoning", "expected"),
    [
        pytest.param([ReasoningPart(text="think")], "think", id="unsigned"),
        pytest.param(
            [ReasoningPart(text="a"), ReasoningPart(text="b")], "ab", id="unsigned-joined"
        ),
        pytest.param([ReasoningPart(text="think", signature="sig")], None, id="signed"),
        pytest.param([ReasoningPart(signature="enc", redacted=True)], None, id="redacted"),
        pytest.param(
            [ReasoningPart(text="", signature="gemini:s"), ReasoningPart(text="mine")],
            "mine",
            id="signed-left-out-unsigned-kept",
        ),
        pytest.param([ReasoningPart(text="")], None, id="empty"),
    ],
)
def test_assistant_reasoning_goes_back_as_reasoning_content(
    reasoning: list[ReasoningPart], expected: str | None
) -> None:
    messages = [
        Message(role="user", content=[TextPart(text="hi")]),
        Message(
            role="assistant",
            content=[*reasoning, ToolCallPart(id="c1", name="f")],
        ),
        Message(role="user", content=[ReasoningPart(text="not sent"), TextPart(text="more")]),
    ]
    encoded = openai_chat.encode_request(ChatRequest(model="m", messages=messages), "m")
    reply = encoded["messages"][1]
    assert reply.get("reasoning_content") == expected
    assert reply["tool_calls"][0]["id"] == "c1"
    assert encoded["messages"][2] == {"role": "user", "content": "more"}


@pytest.mark.parametrize(
    ("drop_fields", "top_k"),
    [((), 40), (("top_k",), None)],
)
def test_encode_request_drop_fields(drop_fields: tuple[str, ...], top_k: int | None) -> None:
    request = ChatRequest(model="m", sampling={"top_k": 40, "temperature": 0.5})
    encoded = openai_chat.encode_request(request, "m", drop_fields=drop_fields)
    assert encoded.get("top_k") == top_k
    assert encoded["temperature"] == 0.5


# --- StreamDecoder ---------------------------------------------------------------------------

ARGUMENTS = '{"path": "src/ä.py", "text": "say \\"hi\\"\\n", "n": [1, 2]}'
OTHER = '{"q": "x"}'


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    # Through JSON and back, as the connector would see it on the wire.
    return json.loads(json.dumps({"id": "c", "model": "m", "created": 1, "choices": [choice]}))


def _call(index: int, arguments: str, *, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        call.update(id=f"call_{index}", type="function")
        call["function"]["name"] = name
    return _chunk({"tool_calls": [call]})


def _decode(chunks: list[dict[str, Any]]) -> list[Event]:
    decoder = StreamDecoder()
    events = [event for chunk in chunks for event in decoder.chunk(chunk)]
    return events + list(decoder.end())


def _splits(text: str) -> list[list[str]]:
    """`text` cut into three pieces at every pair of points (pieces may be empty)."""
    return [
        [text[:i], text[i:j], text[j:]]
        for i in range(len(text) + 1)
        for j in range(i, len(text) + 1)
    ]


def test_tool_call_arguments_split_anywhere_reassemble_exactly() -> None:
    for pieces in _splits(ARGUMENTS):
        # The first call's pieces interleave with a second, parallel call.
        chunks = [
            _call(0, pieces[0], name="write"),
            _call(1, "", name="search"),
            _call(0, pieces[1]),
            _call(1, OTHER),
            _call(0, pieces[2]),
            _chunk(finish="tool_calls"),
        ]
        events = _decode(chunks)
        collector = Collector()
        for event in events:
            collector.add(event)
        calls = collector.response.tool_calls
        assert [(c.id, c.name, c.arguments) for c in calls] == [
            ("call_0", "write", ARGUMENTS),
            ("call_1", "search", OTHER),
        ], pieces
        assert sum(isinstance(e, ToolCallStart) for e in events) == 2
        assert [e.index for e in events if isinstance(e, ToolCallEnd)] == [0, 1]
        assert all(e.arguments for e in events if isinstance(e, ToolCallDelta)), pieces
        assert events[-1] == Finish(reason="tool_calls")


def test_stream_decoder_event_order() -> None:
    events = _decode(
        [
            _chunk({"role": "assistant", "content": ""}),
            _chunk({"reasoning": "hmm"}),
            _chunk({"content": "Hi"}),
            _call(0, "{}", name="f"),
            _chunk(finish="tool_calls"),
            {"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
        ]
    )
    assert events == [
        ResponseStart(id="c", model="m", created=1),
        ReasoningDelta(text="hmm"),
        TextDelta(text="Hi"),
        ToolCallStart(index=0, id="call_0", name="f"),
        ToolCallDelta(index=0, arguments="{}"),
        ToolCallEnd(index=0),
        Usage(input_tokens=3, output_tokens=4),
        Finish(reason="tool_calls"),
    ]


def _delta(*calls: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return _chunk({"tool_calls": list(calls)}, finish)


def _wire_call(
    call_id: str | None, name: str | None, arguments: str, **index: int
) -> dict[str, Any]:
    call: dict[str, Any] = {**index, "function": {"arguments": arguments}}
    if call_id is not None:
        call.update(id=call_id, type="function")
    if name is not None:
        call["function"]["name"] = name
    return call


@pytest.mark.parametrize(
    ("chunks", "calls"),
    [
        pytest.param(
            [
                _delta(_wire_call("a", "f", '{"x": 1}')),
                _delta(_wire_call("b", "g", '{"y": 2}')),
                _chunk(finish="stop"),
            ],
            [("a", "f", '{"x": 1}'), ("b", "g", '{"y": 2}')],
            id="no-index-separate-chunks",
        ),
        pytest.param(
            [
                _delta(_wire_call("a", "f", "{}"), _wire_call("b", "g", "{}")),
                _chunk(finish="stop"),
            ],
            [("a", "f", "{}"), ("b", "g", "{}")],
            id="no-index-one-chunk",
        ),
        pytest.param(
            [
                _delta(_wire_call("a", "f", '{"x"', index=0)),
                _delta(_wire_call(None, None, ": 1}", index=0)),
                _delta(_wire_call("b", "g", '{"y"', index=0)),
                _delta(_wire_call(None, None, ": 2}", index=0)),
                _chunk(finish="tool_calls"),
            ],
            [("a", "f", '{"x": 1}'), ("b", "g", '{"y": 2}')],
            id="same-index-new-id-continues-the-new-call",
        ),
        pytest.param(
            [
                _delta(_wire_call("a", "f", "{", index=0)),
                _delta(_wire_call("a", None, "}", index=0)),
                _chunk(finish="tool_calls"),
            ],
            [("a", "f", "{}")],
            id="same-id-repeated-is-one-call",
        ),
        pytest.param(
            [
                _delta(_wire_call("a", "f", "", index=0), _wire_call("b", "g", "", index=1)),
                _delta(_wire_call(None, None, "{}", index=1)),
                _delta(_wire_call("c", "h", "[]", index=0)),
                _delta(_wire_call(None, None, "{}", index=0)),
                _chunk(finish="tool_calls"),
            ],
            [("a", "f", "{}"), ("b", "g", "{}"), ("c", "h", "[]{}")],
            id="reused-index-gets-the-next-free-index",
        ),
        pytest.param(
            [
                _delta(_wire_call("a", "f", "{}", index=3)),
                _delta(_wire_call("b", "g", "{}", index=5)),
                _chunk(finish="tool_calls"),
            ],
            [("a", "f", "{}"), ("b", "g", "{}")],
            id="sparse-wire-indexes",
        ),
    ],
)
def test_parallel_streamed_calls_stay_apart(
    chunks: list[dict[str, Any]], calls: list[tuple[str, str, str]]
) -> None:
    events = _decode(chunks)
    collector = Collector()
    for event in events:
        collector.add(event)
    got = collector.response.tool_calls
    assert [(c.id, c.name, c.arguments) for c in got] == calls
    starts = [e.index for e in events if isinstance(e, ToolCallStart)]
    assert starts == list(range(len(calls)))
    assert sorted(e.index for e in events if isinstance(e, ToolCallEnd)) == starts
    assert events[-1] == Finish(reason="tool_calls")


def test_a_superseded_call_ends_before_the_next_starts() -> None:
    events = _decode(
        [
            _delta(_wire_call("a", "f", "{}")),
            _delta(_wire_call("b", "g", "{}")),
            _chunk(finish="stop"),
        ]
    )
    assert events[1:] == [
        ToolCallStart(index=0, id="a", name="f"),
        ToolCallDelta(index=0, arguments="{}"),
        ToolCallEnd(index=0),
        ToolCallStart(index=1, id="b", name="g"),
        ToolCallDelta(index=1, arguments="{}"),
        ToolCallEnd(index=1),
        Finish(reason="tool_calls"),
    ]


@pytest.mark.parametrize(
    ("finish", "reason"),
    [("stop", "tool_calls"), ("tool_calls", "tool_calls"), ("length", "length")],
)
def test_finish_after_tool_calls(finish: str, reason: str) -> None:
    streamed = _decode([_call(0, "{}", name="f"), _chunk(finish=finish)])
    assert streamed[-1] == Finish(reason=reason)
    message = {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f"}}]}
    whole = openai_chat.decode_response(
        {"choices": [{"message": message, "finish_reason": finish}]}
    )
    assert list(whole)[-1] == Finish(reason=reason)


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([], id="nothing"),
        pytest.param([_chunk({"content": "Once"})], id="text-then-eof"),
        pytest.param([_call(0, '{"a', name="f")], id="open-tool-call"),
    ],
)
def test_stream_ending_without_finish_reason_is_an_error(chunks: list[dict[str, Any]]) -> None:
    last = _decode(chunks)[-1]
    assert isinstance(last, ErrorEvent)
    assert (last.status, last.code) == (502, "upstream_truncated")


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("function_call", "tool_calls"),
        ("content_filter", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_finish_reasons(finish: str, reason: str) -> None:
    assert _decode([_chunk({"content": "x"}, finish)])[-1] == Finish(reason=reason)


def test_error_chunk_becomes_an_error_event() -> None:
    decoder = StreamDecoder()
    events = list(decoder.chunk({"error": {"message": "overloaded", "code": 529, "status": 529}}))
    assert events == [ErrorEvent(status=529, code="529", message="overloaded")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"message": "m", "type": "server_error"}, ErrorEvent(code="server_error", message="m")),
        (
            {"status": 429, "code": "rate"},
            ErrorEvent(status=429, code="rate", message="upstream error"),
        ),
        ("plain text", ErrorEvent(code="upstream_error", message="plain text")),
    ],
)
def test_decode_stream_error(raw: Any, expected: ErrorEvent) -> None:
    assert decode_stream_error(raw) == expected


# --- non-streaming and errors ----------------------------------------------------------------


def test_decode_response_without_choices_is_an_empty_stop() -> None:
    events = list(openai_chat.decode_response({"id": "x", "model": "m"}))
    assert events == [ResponseStart(id="x", model="m"), Finish(reason="stop")]


@pytest.mark.parametrize(
    ("status", "raw", "message", "code", "param"),
    [
        (
            400,
            {
                "error": {
                    "message": "bad temp",
                    "type": "invalid_request_error",
                    "param": "temperature",
                    "code": None,
                }
            },
            "bad temp",
            "invalid_request_error",
            "temperature",
        ),
        (
            429,
            {"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
            "slow down",
            "rate_limit_exceeded",
            None,
        ),
        (500, {"error": {}}, "upstream error 500", "upstream_error", None),
        (502, "<html>Bad Gateway</html>", "<html>Bad Gateway</html>", "upstream_error", None),
        (503, "", "upstream error 503", "upstream_error", None),
        (404, {"detail": "no"}, "upstream error 404", "upstream_error", None),
    ],
)
def test_decode_error(status: int, raw: Any, message: str, code: str, param: str | None) -> None:
    error = openai_chat.decode_error(status, raw)
    assert isinstance(error, UpstreamError)
    assert (error.status, error.message, error.code, error.param) == (status, message, code, param)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "server_error"),
        (504, "server_error"),
    ],
)
def test_error_type(status: int, kind: str) -> None:
    assert error_type(status) == kind
    encoded = openai_chat.encode_error(ProxyError(status, "m", code="c", param="p"))
    assert encoded == {"error": {"message": "m", "type": kind, "param": "p", "code": "c"}}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param([], "", id="empty"),
        pytest.param([ToolCallPart(id="c", name="f")], None, id="tool-calls-only"),
        pytest.param([TextPart(text="a"), TextPart(text="b")], "ab", id="text"),
    ],
)
def test_encode_response_content(content: list[Any], expected: str | None) -> None:
    body = openai_chat.encode_response(ChatResponse(id="r", model="m", created=5, content=content))
    assert body["choices"][0]["message"]["content"] == expected
    assert "usage" not in body


def test_encode_response_maps_error_finish_to_stop() -> None:
    body = openai_chat.encode_response(ChatResponse(id="r", created=5, finish_reason="error"))
    assert body["choices"][0]["finish_reason"] == "stop"


# --- StreamEncoder ---------------------------------------------------------------------------


def _data(wire: bytes) -> list[Any]:
    return [
        line.removeprefix("data: ")
        if line == "data: [DONE]"
        else json.loads(line.removeprefix("data: "))
        for line in wire.decode().split("\n\n")
        if line
    ]


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_encoder_sends_usage_only_when_asked(include_usage: bool) -> None:
    encoder = StreamEncoder(include_usage=include_usage)
    wire = b"".join(
        encoder.event(e)
        for e in [
            ResponseStart(id="r", model="m", created=9),
            Usage(input_tokens=1, output_tokens=2),
            Finish(reason="error"),
        ]
    )
    chunks = _data(wire)
    assert chunks[-1] == "[DONE]"
    assert chunks[1]["choices"][0]["finish_reason"] == "stop"
    assert any("usage" in c for c in chunks[:-1] if isinstance(c, dict)) is include_usage


@pytest.mark.parametrize(
    "event",
    [ToolCallEnd(index=0), ReasoningDelta(signature="sig"), Usage()],
)
def test_stream_encoder_silent_events(event: Event) -> None:
    assert StreamEncoder(include_usage=True).event(event) == b""


def test_stream_encoder_error_frames() -> None:
    encoder = StreamEncoder(include_usage=False)
    from_event = encoder.event(ErrorEvent(status=429, code="rate", message="slow"))
    from_error = encoder.error(ProxyError(429, "slow", code="rate"))
    assert from_event == from_error
    assert _data(from_event) == [
        {"error": {"message": "slow", "type": "rate_limit_error", "param": None, "code": "rate"}}
    ]
