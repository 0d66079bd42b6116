"""The Anthropic Messages codec: request validation, stream decoding and block encoding."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from engine import notes
from engine.codecs import anthropic, openai_chat
from engine.codecs.sse import dumps
from engine.errors import BadRequest, ProxyError, UpstreamError
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    Finish,
    Message,
    OpaqueBlock,
    OpaquePart,
    Reasoning,
    ReasoningDelta,
    ReasoningPart,
    ResponseStart,
    Sampling,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolResultPart,
    Usage,
)
from engine.response import Collector, aiter_events, collect
from engine.testing import user


def body(**fields: Any) -> dict[str, Any]:
    return {
        "model": "claude-x",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        **fields,
    }


# --- decoding client requests ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ([], "body"),
        ({"messages": []}, "model"),
        (body(max_tokens=None), "max_tokens"),
        (body(max_tokens="10"), "max_tokens"),
        (body(max_tokens=0), "max_tokens"),
        (body(messages={}), "messages"),
        (body(messages=[{"role": "wizard", "content": "x"}]), "messages.0.role"),
        (body(messages=[{"role": "user", "content": 3}]), "messages.0.content"),
        (
            body(messages=[{"role": "user", "content": [{"type": 3}]}]),
            "messages.0.content.0.type",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "text"}]}]),
            "messages.0.content.0.text",
        ),
        (
            body(
                messages=[
                    {"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}
                ]
            ),
            "messages.0.content.0.source.data",
        ),
        (
            body(
                messages=[
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}],
                    }
                ]
            ),
            "messages.0.content.0.input",
        ),
        (
            body(
                messages=[{"role": "assistant", "content": [{"type": "thinking", "thinking": "x"}]}]
            ),
            "messages.0.content.0.signature",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "tool_result"}]}]),
            "messages.0.content.0.tool_use_id",
        ),
        (
            body(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}],
                    }
                ]
            ),
            "messages.0.content.0.is_error",
        ),
        (body(system=5), "system"),
        (body(system=[{"type": "image"}]), "system.0.type"),
        (body(tools=[{"name": "f"}]), "tools.0.input_schema"),
        (body(tools=[{"input_schema": {}}]), "tools.0.name"),
        (body(tool_choice={"type": "required"}), "tool_choice.type"),
        (body(tool_choice={"type": "tool"}), "tool_choice.name"),
        (body(thinking={"type": "enabled"}), "thinking.budget_tokens"),
        (body(temperature="hot"), "temperature"),
        (body(top_k=1.5), "top_k"),
        (body(stop_sequences="END"), "stop_sequences"),
        (body(stop_sequences=["a", 1]), "stop_sequences.1"),
        (body(stream="yes"), "stream"),
        (body(metadata=[]), "metadata"),
    ],
)
def test_invalid_bodies_name_the_param(raw: Any, param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        anthropic.decode_request(raw)
    assert caught.value.param == param
    assert caught.value.status == 400
    assert anthropic.encode_error(caught.value)["error"]["type"] == "invalid_request_error"


def test_count_tokens_bodies_need_no_max_tokens() -> None:
    request = anthropic.decode_request(body(max_tokens=None), require_max_tokens=False)
    assert request.sampling.max_tokens is None


def test_user_turn_mixing_tool_results_and_text_keeps_them_with_results_first() -> None:
    raw = body(
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "ls", "input": {"d": "/"}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "before"},
                    {"type": "tool_result", "tool_use_id": "t1", "content": "a b"},
                    {"type": "tool_result", "tool_use_id": "t2", "is_error": True},
                    {"type": "text", "text": "after"},
                ],
            },
        ]
    )
    request = anthropic.decode_request(raw)
    assert [m.role for m in request.messages] == ["user", "assistant", "user", "tool", "user"]
    tool = request.messages[3]
    assert tool.content == [
        ToolResultPart(tool_call_id="t1", name="ls", content=[TextPart(text="a b")]),
        ToolResultPart(tool_call_id="t2", is_error=True),
    ]
    assert request.messages[1].content == [ToolCallPart(id="t1", name="ls", arguments='{"d":"/"}')]
    # Encoding merges the tool results and the text around them back into one user turn,
    # the results first: Anthropic refuses a turn where text comes before them.
    turns = anthropic.encode_request(request, "m")["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert [b.get("text", b["type"]) for b in turns[2]["content"]] == [
        "tool_result",
        "tool_result",
        "before",
        "after",
    ]


def test_settings_decode() -> None:
    request = anthropic.decode_request(
        body(
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
            tools=[{"name": "f", "input_schema": {"type": "object"}}],
            thinking={"type": "enabled", "budget_tokens": 2048},
            metadata={"user_id": "u1"},
            top_k=5,
            stop_sequences=["X"],
        )
    )
    assert request.tool_choice == ToolChoice(mode="required")
    assert request.parallel_tool_calls is False
    assert request.reasoning == Reasoning(budget_tokens=2048)
    assert request.metadata == {"user_id": "u1"}
    assert request.sampling == Sampling(max_tokens=100, top_k=5, stop=["X"])


def test_unmodelled_thinking_kinds_pass_to_anthropic_only() -> None:
    request = anthropic.decode_request(body(thinking={"type": "adaptive"}))
    assert request.reasoning is None
    assert anthropic.encode_request(request, "m")["thinking"] == {"type": "adaptive"}


# --- encoding upstream requests --------------------------------------------------------------


def chat(**fields: Any) -> ChatRequest:
    fields.setdefault("messages", [user("hi")])
    return ChatRequest(model="client", **fields)


@pytest.mark.parametrize(
    ("reasoning", "max_tokens", "expected"),
    [
        (None, None, (None, 4096)),
        (None, 50, (None, 50)),
        (Reasoning(effort="minimal"), None, (1024, 4096)),
        (Reasoning(effort="medium"), None, (8192, 8192 + 4096)),
        (Reasoning(effort="high"), 20000, (16384, 20000)),
        (Reasoning(effort="high"), 8000, (7999, 8000)),
        (Reasoning(effort="none"), None, (None, 4096)),
        (Reasoning(budget_tokens=500), None, (1024, 4096)),
        (Reasoning(budget_tokens=3000), 1000, (None, 1000)),
    ],
)
def test_thinking_budget(
    reasoning: Reasoning | None, max_tokens: int | None, expected: tuple[int | None, int]
) -> None:
    request = chat(reasoning=reasoning, sampling=Sampling(max_tokens=max_tokens))
    assert anthropic.thinking_budget(request) == expected
    encoded = anthropic.encode_request(request, "m")
    assert encoded["max_tokens"] == expected[1]
    assert encoded.get("thinking", {}).get("budget_tokens") == expected[0]


def test_default_max_tokens_is_configurable() -> None:
    assert anthropic.encode_request(chat(), "m", default_max_tokens=99)["max_tokens"] == 99


@pytest.mark.parametrize(
    "reasoning",
    [
        pytest.param(ReasoningPart(text="other provider's thoughts"), id="unsigned"),
        pytest.param(ReasoningPart(text="t", signature="gemini:c2ln"), id="gemini-signed"),
        pytest.param(
            ReasoningPart(signature="gemini:c2ln", redacted=True), id="gemini-signed-redacted"
        ),
    ],
)
def test_reasoning_anthropic_did_not_sign_is_not_sent_to_anthropic(
    reasoning: ReasoningPart,
) -> None:
    request = chat(
        messages=[
            user("q"),
            Message(role="assistant", content=[reasoning, TextPart(text="A")]),
        ]
    )
    assert anthropic.encode_request(request, "m")["messages"][1] == {
        "role": "assistant",
        "content": "A",
    }


def test_consecutive_same_role_turns_merge_and_another_clients_late_system_is_a_note() -> None:
    request = chat(
        messages=[
            user("a"),
            user("b"),
            Message(role="system", content=[TextPart(text="note")]),
            Message(role="assistant", content=[TextPart(text="")]),  # empty: dropped
        ]
    )
    assert anthropic.encode_request(request, "m")["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "text", "text": "b"},
                {"type": "text", "text": "<system-reminder>\nnote\n</system-reminder>"},
            ],
        }
    ]


def test_an_anthropic_clients_system_turns_stay_in_place_with_their_fields() -> None:
    raw = body(
        messages=[
            {"role": "user", "content": "hi"},
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "# Env", "cache_control": {"type": "ephemeral"}}
                ],
                "output_config": {"effort": "medium"},
            },
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "go on"},
        ]
    )
    request = anthropic.decode_request(raw)

    assert [m.role for m in request.messages] == ["user", "system", "assistant", "user"]
    assert request.messages[1].text() == "# Env"
    assert anthropic.encode_request(request, "m")["messages"] == raw["messages"]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, None, None),
        (ToolChoice(mode="auto"), None, {"type": "auto"}),
        (ToolChoice(mode="required"), False, {"type": "any", "disable_parallel_tool_use": True}),
        (ToolChoice(mode="tool", name="f"), None, {"type": "tool", "name": "f"}),
        (ToolChoice(mode="none"), False, {"type": "none"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tool_choice(choice: ToolChoice | None, parallel: bool | None, expected: Any) -> None:
    from engine.model import Tool

    request = chat(tools=[Tool(name="f")], tool_choice=choice, parallel_tool_calls=parallel)
    assert anthropic.encode_request(request, "m").get("tool_choice") == expected


def test_invalid_tool_arguments_become_an_empty_object() -> None:
    request = chat(
        messages=[
            user("q"),
            Message(role="assistant", content=[ToolCallPart(id="t", name="f", arguments='{"a')]),
        ]
    )
    [block] = anthropic.encode_request(request, "m")["messages"][1]["content"]
    assert block["input"] == {}


def test_metadata_sends_only_user_id() -> None:
    request = chat(metadata={"user_id": "u", "team": "x"})
    assert anthropic.encode_request(request, "m")["metadata"] == {"user_id": "u"}


# --- decoding upstream streams -----------------------------------------------------------------


def stream_events(arguments: str, cuts: list[int]) -> list[dict[str, Any]]:
    bounds = [0, *sorted(set(cuts)), len(arguments)]
    pieces = [arguments[a:b] for a, b in itertools.pairwise(bounds)]
    return [
        {
            "type": "message_start",
            "message": {"id": "msg_1", "model": "m", "usage": {"input_tokens": 3}},
        },
        {"type": "ping"},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
        },
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            }
            for piece in pieces
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]


ARGUMENTS = json.dumps({"path": 'C:\\"q".txt', "text": "naïve ☕ 𝄞", "n": [1, None]})


@pytest.mark.parametrize("cuts", [[], [1], [5, 6, 7], list(range(1, len(ARGUMENTS)))])
def test_input_json_delta_split_anywhere_is_reassembled(cuts: list[int]) -> None:
    decoder = anthropic.StreamDecoder()
    collector = Collector()
    for data in stream_events(ARGUMENTS, cuts):
        for event in decoder.chunk(data):
            collector.add(event)
    assert list(decoder.end()) == []
    response = collector.response
    assert [c.arguments for c in response.tool_calls] == [ARGUMENTS]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(input_tokens=3, output_tokens=9)


def test_stream_error_event_maps_type_to_status() -> None:
    decoder = anthropic.StreamDecoder()
    [event] = decoder.chunk(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    assert event == ErrorEvent(status=529, code="overloaded_error", message="Overloaded")


def test_truncated_stream_is_an_error() -> None:
    decoder = anthropic.StreamDecoder()
    list(decoder.chunk({"type": "message_start", "message": {"id": "m", "model": "x"}}))
    [event] = decoder.end()
    assert isinstance(event, ErrorEvent) and event.code == "upstream_truncated"


def test_unknown_events_and_blocks_are_ignored() -> None:
    decoder = anthropic.StreamDecoder()
    assert list(decoder.chunk({"type": "future_event"})) == []
    assert (
        list(
            decoder.chunk(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "server_tool_use"},
                }
            )
        )
        == []
    )


def test_usage_counts_cache_reads_and_writes_in_the_input() -> None:
    usage = anthropic.response.decode_usage(
        {
            "input_tokens": 10,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 7,
            "output_tokens": 3,
        }
    )
    assert usage == Usage(
        input_tokens=117, output_tokens=3, cached_tokens=100, cache_creation_tokens=7
    )
    assert anthropic.response.encode_usage(usage)["input_tokens"] == 10


@pytest.mark.parametrize(
    ("stop", "reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "pause"),
        ("something_new", "stop"),
    ],
)
def test_stop_reasons(stop: str, reason: str) -> None:
    events = list(
        anthropic.decode_response({"id": "m", "model": "x", "content": [], "stop_reason": stop})
    )
    assert events[-1] == Finish(reason=reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("encode", "shown"),
    [
        (lambda r: anthropic.encode_response(r)["stop_reason"], "pause_turn"),
        (lambda r: openai_chat.encode_response(r)["choices"][0]["finish_reason"], "stop"),
    ],
    ids=["anthropic", "openai_chat"],
)
async def test_a_paused_turn_resumes_for_anthropic_clients_and_stops_for_others(
    encode: Any, shown: str
) -> None:
    body = {"id": "m", "model": "x", "content": [], "stop_reason": "pause_turn"}
    response = await collect(aiter_events(anthropic.decode_response(body)))
    assert encode(response) == shown


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_shape(status: int, kind: str) -> None:
    assert anthropic.encode_error(ProxyError(status, "boom", code="whatever")) == {
        "type": "error",
        "error": {"type": kind, "message": "boom"},
    }


def test_upstream_error_decoding() -> None:
    error = anthropic.decode_error(
        529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    assert isinstance(error, UpstreamError)
    assert (error.status, error.code, error.message) == (529, "overloaded_error", "Overloaded")
    assert (
        anthropic.decode_error(502, "<html>bad gateway</html>").message
        == "<html>bad gateway</html>"
    )


# --- encoding client streams ---------------------------------------------------------------


def encode(events: list[Event]) -> list[dict[str, Any]]:
    encoder = anthropic.StreamEncoder()
    raw = b"".join(encoder.event(e) for e in events).decode()
    out = []
    for message in raw.strip().split("\n\n"):
        name, data = message.split("\n")
        payload = json.loads(data.removeprefix("data: "))
        assert name == f"event: {payload['type']}"
        out.append(payload)
    return out


def blocks(frames: list[dict[str, Any]]) -> list[tuple[str, int, Any]]:
    """(kind, index, detail) of every block frame, for compact assertions."""
    out = []
    for f in frames:
        if f["type"] == "content_block_start":
            out.append(("start", f["index"], f["content_block"]["type"]))
        elif f["type"] == "content_block_delta":
            delta = f["delta"]
            value = next(v for k, v in delta.items() if k != "type")
            out.append(("delta", f["index"], value))
        elif f["type"] == "content_block_stop":
            out.append(("stop", f["index"], None))
    return out


def test_interleaved_tool_calls_become_sequential_blocks() -> None:
    # An OpenAI upstream: two calls open at once, their arguments interleaved, ended at finish.
    frames = encode(
        [
            ResponseStart(id="r", model="m"),
            TextDelta(text="Two calls."),
            ToolCallStart(index=0, id="a", name="f"),
            ToolCallDelta(index=0, arguments='{"x":'),
            ToolCallStart(index=1, id="b", name="g"),
            ToolCallDelta(index=1, arguments='{"y":'),
            ToolCallDelta(index=0, arguments="1}"),
            ToolCallDelta(index=1, arguments="2}"),
            ToolCallEnd(index=0),
            ToolCallEnd(index=1),
            Finish(reason="tool_calls"),
        ]
    )
    assert [f["type"] for f in frames[:2]] == ["message_start", "ping"]
    assert blocks(frames) == [
        ("start", 0, "text"),
        ("delta", 0, "Two calls."),
        ("stop", 0, None),
        ("start", 1, "tool_use"),
        ("delta", 1, '{"x":'),
        ("delta", 1, "1}"),
        ("stop", 1, None),
        ("start", 2, "tool_use"),
        ("delta", 2, '{"y":2}'),
        ("stop", 2, None),
    ]
    assert frames[-2]["delta"]["stop_reason"] == "tool_use"
    assert frames[-1] == {"type": "message_stop"}


def test_thinking_text_and_tools_interleave_with_increasing_indices() -> None:
    frames = encode(
        [
            ResponseStart(id="r", model="m"),
            ReasoningDelta(text="hmm"),
            ReasoningDelta(signature="sig1"),
            ReasoningDelta(text="more"),  # a new block: the last one was signed
            ReasoningDelta(signature="sig2"),
            ReasoningDelta(signature="secret", redacted=True),
            TextDelta(text="A"),
            ToolCallStart(index=0, id="t", name="f"),
            ToolCallDelta(index=0, arguments="{}"),
            ToolCallEnd(index=0),
            TextDelta(text="B"),
            Usage(input_tokens=5, output_tokens=2),
            Finish(reason="stop"),
        ]
    )
    assert blocks(frames) == [
        ("start", 0, "thinking"),
        ("delta", 0, "hmm"),
        ("delta", 0, "sig1"),
        ("stop", 0, None),
        ("start", 1, "thinking"),
        ("delta", 1, "more"),
        ("delta", 1, "sig2"),
        ("stop", 1, None),
        ("start", 2, "redacted_thinking"),
        ("stop", 2, None),
        ("start", 3, "text"),
        ("delta", 3, "A"),
        ("stop", 3, None),
        ("start", 4, "tool_use"),
        ("delta", 4, "{}"),
        ("stop", 4, None),
        ("start", 5, "text"),
        ("delta", 5, "B"),
        ("stop", 5, None),
    ]
    assert frames[-2]["usage"]["input_tokens"] == 5
    assert frames[-2]["usage"]["output_tokens"] == 2


def test_error_after_start_is_an_error_event() -> None:
    frames = encode(
        [
            ResponseStart(id="r", model="m"),
            TextDelta(text="x"),
            ErrorEvent(status=429, message="slow down"),
        ]
    )
    assert frames[-1] == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }


def test_stream_encoder_error_method() -> None:
    encoder = anthropic.StreamEncoder()
    data = encoder.error(ProxyError(500, "internal"))
    assert (
        data
        == b"event: error\ndata: "
        + dumps({"type": "error", "error": {"type": "api_error", "message": "internal"}}).encode()
        + b"\n\n"
    )


def test_output_config_effort_is_a_reasoning_effort_for_other_backends() -> None:
    request = anthropic.decode_request(body(output_config={"effort": "max"}))
    assert request.reasoning == Reasoning(effort="max")
    # An Anthropic upstream gets the client's own output_config, not a derived budget.
    encoded = anthropic.encode_request(request, "m")
    assert encoded["output_config"] == {"effort": "max"}
    assert "thinking" not in encoded


def test_an_effort_newer_than_the_codec_goes_to_anthropic_only() -> None:
    request = anthropic.decode_request(body(output_config={"effort": "extreme"}))
    assert request.reasoning is None
    assert anthropic.encode_request(request, "m")["output_config"] == {"effort": "extreme"}


def test_cache_control_positions_survive_the_round_trip() -> None:
    raw = body(
        system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}],
            },
        ],
        tools=[{"name": "f", "input_schema": {}, "cache_control": {"type": "ephemeral"}}],
        cache_control={"type": "ephemeral"},
    )
    encoded = anthropic.encode_request(anthropic.decode_request(raw), "claude-x")
    assert {k: encoded[k] for k in raw} == raw


def test_unmodelled_block_and_tool_fields_go_back_to_anthropic() -> None:
    citation = {"type": "char_location", "cited_text": "x", "document_index": 0}
    raw = body(
        messages=[
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "a", "citations": [citation]},
                    {"type": "tool_use", "id": "t", "name": "f", "input": {}, "caller": {"x": 1}},
                ],
            },
        ],
        tools=[
            {
                "name": "f",
                "input_schema": {"type": "object"},
                "strict": True,
                "input_examples": [{"a": 1}],
                "defer_loading": True,
            }
        ],
    )
    request = anthropic.decode_request(raw)
    assert request.tools[0].strict is True
    encoded = anthropic.encode_request(request, "claude-x")
    assert encoded["messages"] == raw["messages"]
    assert encoded["tools"] == raw["tools"]


DOCUMENT = {
    "type": "document",
    "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
    "cache_control": {"type": "ephemeral"},
}
SEARCH = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}


def test_blocks_the_model_does_not_carry_go_back_to_anthropic_verbatim() -> None:
    request = anthropic.decode_request(
        body(
            messages=[
                {"role": "user", "content": [DOCUMENT, {"type": "text", "text": "Sum it up"}]},
                {"role": "assistant", "content": [SEARCH, {"type": "text", "text": "Done"}]},
                {"role": "user", "content": "Thanks"},
            ]
        )
    )
    assert request.messages[0].content[0] == OpaquePart(protocol="anthropic", data=DOCUMENT)
    sent = anthropic.encode_request(request, "m")["messages"]
    assert sent[0]["content"][0] == DOCUMENT
    assert sent[1]["content"][0] == SEARCH


def test_other_protocols_leave_anthropic_only_blocks_out() -> None:
    from engine.codecs import gemini

    request = anthropic.decode_request(
        body(messages=[{"role": "user", "content": [DOCUMENT, {"type": "text", "text": "Hi"}]}])
    )
    assert openai_chat.encode_request(request, "m")["messages"][-1]["content"] == "Hi"
    assert gemini.encode_request(request)["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]}
    ]


CALL = ToolCallPart(id="toolu_1", name="f", arguments="{}")
RESULT = Message(role="tool", content=[ToolResultPart(tool_call_id="toolu_1")])


@pytest.mark.parametrize(
    ("fields", "thinks"),
    [
        pytest.param({"reasoning": Reasoning(effort="high")}, True, id="effort"),
        pytest.param({"reasoning": Reasoning(effort="none")}, False, id="effort-none"),
        pytest.param({"reasoning": Reasoning(budget_tokens=0)}, False, id="gemini-budget-0"),
        pytest.param(
            {"reasoning": Reasoning(effort="high"), "tool_choice": ToolChoice(mode="required")},
            False,
            id="forced-tool",
        ),
        pytest.param(
            {
                "reasoning": Reasoning(effort="high"),
                "messages": [user("q"), Message(role="assistant", content=[CALL]), RESULT],
            },
            False,
            id="tool-turn-without-its-thinking",
        ),
        pytest.param(
            {
                "reasoning": Reasoning(effort="high"),
                "messages": [
                    user("q"),
                    Message(
                        role="assistant",
                        content=[ReasoningPart(text="t", signature="gemini:c2ln"), CALL],
                    ),
                    RESULT,
                ],
            },
            False,
            id="tool-turn-with-another-providers-thinking",
        ),
        pytest.param(
            {
                "reasoning": Reasoning(effort="high"),
                "messages": [
                    user("q"),
                    Message(
                        role="assistant", content=[ReasoningPart(text="t", signature="s"), CALL]
                    ),
                    RESULT,
                ],
            },
            True,
            id="tool-turn-with-its-signed-thinking",
        ),
    ],
)
def test_thinking_only_where_anthropic_takes_it(fields: dict[str, Any], thinks: bool) -> None:
    assert ("thinking" in anthropic.encode_request(chat(**fields), "m")) is thinks


@pytest.mark.parametrize(
    ("sampling", "sent"),
    [
        pytest.param(Sampling(temperature=0.2, top_k=40), {}, id="temperature-top-k-dropped"),
        pytest.param(Sampling(top_p=0.9), {}, id="low-top-p-dropped"),
        pytest.param(Sampling(top_p=0.97), {"top_p": 0.97}, id="high-top-p-kept"),
    ],
)
def test_thinking_drops_the_sampling_it_refuses(sampling: Sampling, sent: dict[str, Any]) -> None:
    encoded = anthropic.encode_request(
        chat(reasoning=Reasoning(effort="low"), sampling=sampling), "m"
    )
    assert "thinking" in encoded
    assert {k: encoded[k] for k in ("temperature", "top_p", "top_k") if k in encoded} == sent


def test_without_thinking_sampling_goes_as_asked() -> None:
    encoded = anthropic.encode_request(chat(sampling=Sampling(temperature=0.2, top_k=40)), "m")
    assert (encoded["temperature"], encoded["top_k"]) == (0.2, 40)


MARK = {"cache_control": {"type": "ephemeral"}}


def _blocks_with_marks(encoded: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (turn["role"], block.get("text") or block.get("id") or block.get("tool_use_id"))
        for turn in encoded["messages"]
        if isinstance(turn["content"], list)
        for block in turn["content"]
        if "cache_control" in block
    ]


def test_block_fields_stay_on_their_blocks_when_turns_merge() -> None:
    request = anthropic.decode_request(
        body(
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "one"}]},
                {"role": "user", "content": [{"text": "two", "type": "text", **MARK}]},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "three"},
            ]
        )
    )
    assert _blocks_with_marks(anthropic.encode_request(request, "m")) == [("user", "two")]


def test_block_fields_follow_their_blocks_when_a_stage_removes_turns() -> None:
    request = anthropic.decode_request(
        body(
            messages=[
                {"role": "user", "content": "!/model(x:y)"},
                {"role": "assistant", "content": "Model set."},
                {"role": "user", "content": [{"type": "text", "text": "go", **MARK}]},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", **MARK}],
                },
            ]
        )
    )
    trimmed = request.model_copy(update={"messages": request.messages[2:]})
    assert _blocks_with_marks(anthropic.encode_request(trimmed, "m")) == [
        ("user", "go"),
        ("user", "toolu_1"),
    ]


def test_identical_blocks_get_no_more_marks_than_they_had() -> None:
    request = anthropic.decode_request(
        body(
            messages=[
                {"role": "user", "content": "continue"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "continue", **MARK}]},
            ]
        )
    )
    assert len(_blocks_with_marks(anthropic.encode_request(request, "m"))) == 1


# A stage edits a part by copying it (`model_copy`), which keeps the part's `vendor` fields.


def _redact(part: TextPart) -> TextPart:
    """What a redaction stage makes of a text part."""
    return part.model_copy(update={"text": part.text.replace("secret", "[REDACTED]")})


def test_an_edited_text_block_keeps_its_cache_control() -> None:
    block = {"type": "text", "text": "my secret", **MARK}
    request = anthropic.decode_request(body(messages=[{"role": "user", "content": [block]}]))
    assert request.extra == {"anthropic": {}}  # nothing kept beside the parts
    (message,) = request.messages
    edited = message.model_copy(update={"content": [_redact(p) for p in message.content]})
    redacted = request.model_copy(update={"messages": [edited]})

    sent = anthropic.encode_request(redacted, "m")["messages"]
    assert sent == [
        {"role": "user", "content": [{"type": "text", "text": "my [REDACTED]", **MARK}]}
    ]
    dropped = notes.Dropped()
    assert "cache_control" not in json.dumps(
        openai_chat.encode_request(redacted, "m", dropped=dropped)
    )
    assert list(dropped) == ["cache_control"]


def test_an_edited_system_block_keeps_its_cache_control() -> None:
    system = [{"type": "text", "text": "be brief"}, {"type": "text", "text": "secret", **MARK}]
    request = anthropic.decode_request(body(system=system))
    redacted = request.model_copy(update={"system": [_redact(p) for p in request.system]})

    assert anthropic.encode_request(redacted, "m")["system"] == [
        {"type": "text", "text": "be brief"},
        {"type": "text", "text": "[REDACTED]", **MARK},
    ]


def test_an_edited_system_turn_keeps_its_settings_and_blocks_their_fields() -> None:
    turn = {
        "role": "system",
        "content": [{"type": "text", "text": "the secret", **MARK}],
        "output_config": {"effort": "low"},
    }
    request = anthropic.decode_request(body(messages=[{"role": "user", "content": "hi"}, turn]))
    first, system_turn = request.messages
    edited = system_turn.model_copy(update={"content": [_redact(p) for p in system_turn.content]})
    redacted = request.model_copy(update={"messages": [first, edited]})

    assert anthropic.encode_request(redacted, "m")["messages"][1] == {
        "role": "system",
        "content": [{"type": "text", "text": "the [REDACTED]", **MARK}],
        "output_config": {"effort": "low"},
    }


def test_an_edited_tool_keeps_its_own_fields() -> None:
    tool = {
        "name": "lookup",
        "description": "finds the secret",
        "input_schema": {"type": "object"},
        "input_examples": [{"q": "x"}],
        **MARK,
    }
    request = anthropic.decode_request(body(tools=[tool]))
    (decoded,) = request.tools
    description = (decoded.description or "").replace("secret", "answer")
    edited = request.model_copy(
        update={"tools": [decoded.model_copy(update={"description": description})]}
    )

    assert anthropic.encode_request(edited, "m")["tools"] == [
        {**tool, "description": "finds the answer"}
    ]


def test_a_moved_tool_result_keeps_its_cache_control() -> None:
    calls = [{"type": "tool_use", "id": f"toolu_{n}", "name": "f", "input": {}} for n in (1, 2)]
    results = [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "one"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "two", **MARK},
    ]
    request = anthropic.decode_request(
        body(
            messages=[
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": calls},
                {"role": "user", "content": results},
            ]
        )
    )
    *earlier, answers = request.messages
    swapped = answers.model_copy(update={"content": answers.content[::-1]})
    moved = request.model_copy(update={"messages": [*earlier, swapped]})

    sent = anthropic.encode_request(moved, "m")["messages"]
    assert sent[-1] == {"role": "user", "content": results[::-1]}


def test_a_block_inside_a_tool_result_keeps_its_cache_control() -> None:
    call = {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {}}
    inner = [{"type": "text", "text": "the file", **MARK}, {"type": "text", "text": "more"}]
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": inner}
    request = anthropic.decode_request(
        body(
            messages=[
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [call]},
                {"role": "user", "content": [result]},
            ]
        )
    )
    assert anthropic.encode_request(request, "m")["messages"][-1] == {
        "role": "user",
        "content": [result],
    }
    assert "cache_control" in request.client_only  # other backends say they left it out


SEARCH_CALL = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
SEARCH_RESULT = {
    "type": "web_search_tool_result",
    "tool_use_id": "srvtoolu_1",
    "content": [{"type": "web_search_result", "url": "https://example.invalid", "title": "E"}],
}


def test_server_tool_blocks_stream_through_whole() -> None:
    decoder = anthropic.StreamDecoder()
    frames = [
        {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x"}},
        {"type": "content_block_start", "index": 0, "content_block": SEARCH_CALL},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"query": "we'},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": 'ather"}'},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": SEARCH_RESULT},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}},
        {"type": "message_stop"},
    ]
    events = [event for frame in frames for event in decoder.chunk(frame)]
    opaque = [e for e in events if isinstance(e, OpaqueBlock)]
    assert opaque == [
        OpaqueBlock(protocol="anthropic", data={**SEARCH_CALL, "input": {"query": "weather"}}),
        OpaqueBlock(protocol="anthropic", data=SEARCH_RESULT),
    ]
    encoder = anthropic.StreamEncoder()
    out = b"".join(encoder.event(e) for e in events).decode()
    starts = [
        json.loads(line[6:])["content_block"]["type"]
        for line in out.splitlines()
        if line.startswith("data: ") and '"content_block_start"' in line
    ]
    assert starts == ["server_tool_use", "web_search_tool_result", "text"]


async def test_server_tool_blocks_in_whole_responses_reach_anthropic_clients_only() -> None:
    body = {
        "id": "msg_1",
        "model": "claude-x",
        "content": [SEARCH_CALL, SEARCH_RESULT, {"type": "text", "text": "Sunny"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    response = await collect(aiter_events(anthropic.decode_response(body)))
    assert anthropic.encode_response(response)["content"] == body["content"]
    assert openai_chat.encode_response(response)["choices"][0]["message"]["content"] == "Sunny"
