"""The OpenAI Responses codec: request decoding and validation, and the event sequence."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from engine.codecs import openai_chat, openai_responses
from engine.codecs.openai_responses import upstream
from engine.errors import BadRequest, ProxyError
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    Finish,
    FinishReason,
    HostedTool,
    ImagePart,
    Message,
    Namespace,
    OpaquePart,
    Reasoning,
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
from engine.response import ChatResponse, replay

STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


def decode(**body: Any) -> ChatRequest:
    return openai_responses.decode_request({"model": "m", "input": "hi", **body})


def frames(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The (event name, JSON data) pairs of an SSE body."""
    out = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        name, payload = block.split("\n")
        assert name.startswith("event: ") and payload.startswith("data: ")
        out.append((name[7:], json.loads(payload[6:])))
    return out


def encode(events: list[Event], request: ChatRequest | None = None) -> list[dict[str, Any]]:
    encoder = openai_responses.StreamEncoder(request or decode(), "resp_test")
    sent = frames(b"".join(encoder.event(e) for e in events))
    for name, data in sent:
        assert name == data["type"]
    return [data for _, data in sent]


# --- decoding ------------------------------------------------------------------------------


def test_string_input_and_instructions() -> None:
    request = decode(instructions="Be brief.", input="Hello", max_output_tokens=50)
    assert request.system == [TextPart(text="Be brief.")]
    assert request.messages == [Message(role="user", content=[TextPart(text="Hello")])]
    assert request.sampling.max_tokens == 50
    assert request.include_usage


def test_items_group_into_turns() -> None:
    request = decode(
        input=[
            {"role": "developer", "content": "Rules."},
            {"role": "user", "content": [{"type": "input_text", "text": "Go"}]},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "think"}],
             "encrypted_content": "enc"},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Calling."}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{\"a\":1}"},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {"type": "function_call_output", "call_id": "c2",
             "output": [{"type": "input_text", "text": "two"}]},
        ]
    )  # fmt: skip
    assert request.system == [TextPart(text="Rules.")]
    assert [m.role for m in request.messages] == ["user", "assistant", "tool"]
    assert request.messages[1].content == [
        ReasoningPart(text="think", signature="enc"),
        TextPart(text="Calling."),
        ToolCallPart(id="c1", name="f", arguments="{}"),
        ToolCallPart(id="c2", name="g", arguments='{"a":1}'),
    ]
    assert request.messages[2].content == [
        ToolResultPart(tool_call_id="c1", name="f", content=[TextPart(text="one")]),
        ToolResultPart(tool_call_id="c2", name="g", content=[TextPart(text="two")]),
    ]


def test_settings() -> None:
    request = decode(
        tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
        tool_choice={"type": "function", "name": "f"},
        parallel_tool_calls=False,
        temperature=0.5,
        top_p=0.9,
        reasoning={"effort": "low", "summary": "auto"},
        text={"format": {"type": "json_object"}},
        metadata={"k": "v"},
        store=False,
        previous_response_id="resp_1",
        stream=True,
    )
    assert request.tools[0].name == "f" and request.tools[0].strict is True
    assert request.tool_choice is not None and request.tool_choice.name == "f"
    assert request.parallel_tool_calls is False
    assert (request.sampling.temperature, request.sampling.top_p) == (0.5, 0.9)
    assert request.reasoning is not None and request.reasoning.effort == "low"
    assert request.response_format == {"type": "json_object"}
    assert request.metadata == {"k": "v"}
    assert request.stream
    assert request.extra["openai_responses"] == {
        "store": False,
        "previous_response_id": "resp_1",
        # kept whole for a Responses backend, beside their canonical forms above
        "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "json_object"}},
        "tool_choice": {"type": "function", "name": "f"},
    }
    assert request.client_protocol == "openai_responses" and request.client_only == []


def test_images() -> None:
    request = decode(
        input=[
            {"role": "user", "content": [
                {"type": "input_image", "image_url": "https://x/cat.png", "detail": "high"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
            ]}
        ]
    )  # fmt: skip
    assert request.messages[0].content == [
        ImagePart(url="https://x/cat.png", detail="high"),
        ImagePart(data="AAAA", media_type="image/png"),
    ]


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"input": None}, "input", "required"),
        ({"input": 3}, "input", "a string or an array"),
        ({"model": 1}, "model", "a string"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role", "robot"),
        ({"tools": [{"type": "function"}]}, "tools[0].name", "a string"),
        ({"max_output_tokens": "10"}, "max_output_tokens", "an integer"),
        ({"instructions": 5}, "instructions", "a string"),
        (
            {"input": [{"type": "function_call", "name": "f"}]},
            "input[0].call_id",
            "a string",
        ),
    ],
)
def test_bad_requests_name_the_field(body: dict[str, Any], param: str, words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        openai_responses.decode_request({"model": "m", "input": "hi", **body})
    assert caught.value.param == param
    assert words in caught.value.message


def test_a_reasoning_effort_newer_than_the_codec_goes_to_responses_backends_only() -> None:
    request = decode(reasoning={"effort": "enormous", "summary": "auto"})
    assert request.reasoning is None
    assert request.extra["openai_responses"]["reasoning"] == {
        "effort": "enormous",
        "summary": "auto",
    }
    assert decode(reasoning={"effort": "max"}).reasoning == Reasoning(effort="max")


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        pytest.param(
            {"input": [{"type": "web_search_call", "id": "ws_1", "status": "completed"}]},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            id="hosted-tool-call-item",
        ),
        pytest.param(
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            {"type": "input_image", "file_id": "f"},
            id="image-by-file-id",
        ),
        pytest.param(
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            {"type": "input_file", "file_id": "f"},
            id="file",
        ),
    ],
)
def test_items_and_parts_newer_than_the_model_are_kept_verbatim(
    body: dict[str, Any], kept: dict[str, Any]
) -> None:
    request = decode(**body)
    parts = [p for m in request.messages for p in m.content]
    assert parts == [OpaquePart(protocol="openai_responses", data=kept)]


def test_hosted_tools_tool_choices_and_text_formats_newer_than_the_codec_are_kept() -> None:
    search = {"type": "web_search", "external_web_access": False}
    request = decode(
        tools=[search, {"type": "mcp", "server_label": "s"}],
        tool_choice={"type": "web_search"},
        text={"format": {"type": "grammar", "grammar": "x"}, "verbosity": "low"},
    )
    assert request.hosted_tools == [
        HostedTool(kind="web_search", protocol="openai_responses", data=search),
        HostedTool(
            kind="mcp", protocol="openai_responses", data={"type": "mcp", "server_label": "s"}
        ),
    ]
    assert request.tool_choice is None and request.response_format is None
    assert request.extra["openai_responses"]["text"]["verbosity"] == "low"


def test_namespace_tools_are_flat_functions_and_calls_go_back_split() -> None:
    namespace = {
        "type": "namespace",
        "name": "multi_agent_v1",
        "description": "Sub-agents.",
        "tools": [{"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}}],
    }
    request = decode(
        tools=[namespace],
        input=[
            {"role": "user", "content": "go"},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "spawn_agent",
                "namespace": "multi_agent_v1",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        ],
    )
    assert [t.name for t in request.tools] == ["multi_agent_v1__spawn_agent"]
    assert request.tools[0].namespace == Namespace(
        name="multi_agent_v1", description="Sub-agents.", member="spawn_agent"
    )
    call = request.messages[1].content[0]
    assert isinstance(call, ToolCallPart) and call.name == "multi_agent_v1__spawn_agent"

    events = [
        START,
        ToolCallStart(index=0, id="c2", name="multi_agent_v1__spawn_agent"),
        ToolCallDelta(index=0, arguments="{}"),
        ToolCallEnd(index=0),
        Finish(reason="tool_calls"),
    ]
    builder = openai_responses.StreamEncoder(request)
    for event in events:
        builder.event(event)
    assert builder.final is not None
    item = builder.final["output"][0]
    assert (item["name"], item["namespace"], item["call_id"]) == (
        "spawn_agent",
        "multi_agent_v1",
        "c2",
    )


def test_a_function_tools_own_fields_stay_with_it_through_an_edit() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    lookup = {
        "type": "function",
        "name": "lookup",
        "description": "d",
        "parameters": {"type": "object", "properties": {}},
        "output_schema": schema,
    }
    namespace = {"type": "namespace", "name": "ns", "tools": [{**lookup, "name": "inner"}]}
    request = decode(tools=[lookup, namespace])
    assert request.extra.keys() == {"openai_responses"}
    assert [t.vendor for t in request.tools] == [
        {"openai_responses": {"output_schema": schema}}
    ] * 2
    renamed = [t.model_copy(update={"description": "new"}) for t in request.tools]
    edited = request.model_copy(update={"tools": renamed})

    tools = upstream.encode_request(edited, "m")["tools"]
    assert tools[0] == {**lookup, "description": "new"}
    assert tools[1]["tools"] == [{**lookup, "name": "inner", "description": "new"}]
    assert "output_schema" not in json.dumps(openai_chat.encode_request(edited, "m"))


def test_naming_tool_results_leaves_the_messages_it_was_given_alone() -> None:
    call = Message(role="assistant", content=[ToolCallPart(id="c", name="f")])
    result = Message(role="tool", content=[ToolResultPart(tool_call_id="c")])
    stored = [call, result]
    messages = list(stored)
    openai_responses.name_tool_results(messages)

    assert messages[1].content == [ToolResultPart(tool_call_id="c", name="f")]
    assert stored[1] is result and result.content == [ToolResultPart(tool_call_id="c")]
    assert messages[0] is call  # nothing to name: the same message


# --- the event sequence --------------------------------------------------------------------

START = ResponseStart(id="up-1", model="m-up", created=1700000000)


def check_sequence(sent: list[dict[str, Any]], tools: list[Any] | None = None) -> Response:
    """The invariants every stream keeps; what the official SDK's stream state makes of it."""
    assert [e["sequence_number"] for e in sent] == list(range(len(sent)))
    assert [e["type"] for e in sent[:2]] == ["response.created", "response.in_progress"]
    assert [e["type"] in TERMINAL for e in sent].count(True) == 1
    assert sent[-1]["type"] in TERMINAL
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=tools or [], text_format=omit)
    for data in sent:
        state.handle_event(STREAM_EVENT.validate_python(data))
    final = Response.model_validate(sent[-1]["response"])
    added = [e["output_index"] for e in sent if e["type"] == "response.output_item.added"]
    assert added == list(range(len(final.output)))
    return final


def test_text_stream() -> None:
    sent = encode([START, TextDelta(text="Hel"), TextDelta(text="lo"), Usage(input_tokens=3,
                  output_tokens=2, cached_tokens=1), Finish()])  # fmt: skip
    final = check_sequence(sent)
    assert [e["type"] for e in sent] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final.output_text == "Hello"
    assert final.status == "completed"
    assert final.created_at == 1700000000 and final.model == "m-up"
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.total_tokens) == (
        3,
        2,
        5,
    )
    assert final.usage.input_tokens_details.cached_tokens == 1


def test_reasoning_then_parallel_interleaved_tool_calls() -> None:
    sent = encode(
        [
            START,
            ReasoningDelta(text="Think"),
            ReasoningDelta(text="ing", signature="sig"),
            ToolCallStart(index=0, id="c0", name="f"),
            ToolCallStart(index=1, id="c1", name="g"),
            ToolCallDelta(index=0, arguments='{"a":'),
            ToolCallDelta(index=1, arguments="{}"),
            ToolCallDelta(index=0, arguments="1}"),
            ToolCallEnd(index=0),
            ToolCallEnd(index=1),
            Finish(reason="tool_calls"),
        ]
    )
    final = check_sequence(sent)
    reasoning, first, second = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Thinking"
    assert reasoning.encrypted_content == "sig"
    assert first.type == "function_call" and (first.call_id, first.arguments) == ("c0", '{"a":1}')
    assert second.type == "function_call" and (second.name, second.arguments) == ("g", "{}")
    deltas = [
        (e["output_index"], e["delta"])
        for e in sent
        if e["type"] == "response.function_call_arguments.delta"
    ]
    assert deltas == [(1, '{"a":'), (2, "{}"), (1, "1}")]


def test_length_is_incomplete() -> None:
    sent = encode([START, TextDelta(text="Once"), Finish(reason="length")])
    final = check_sequence(sent)
    assert sent[-1]["type"] == "response.incomplete"
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_output_tokens"
    assert final.output[0].status == "incomplete"


@pytest.mark.parametrize("how", ["event", "exception"])
def test_error_mid_stream_fails_the_response(how: str) -> None:
    encoder = openai_responses.StreamEncoder(decode(), "resp_test")
    data = encoder.event(START) + encoder.event(TextDelta(text="partial"))
    if how == "event":
        data += encoder.event(ErrorEvent(status=502, code="upstream_x", message="it broke"))
    else:
        data += encoder.error(ProxyError(429, "slow down", code="rate_limited"))
    data += encoder.event(Finish())  # nothing after the terminal event
    sent = [d for _, d in frames(data)]
    final = check_sequence(sent)
    assert final.status == "failed"
    assert final.error is not None
    assert final.error.code == ("server_error" if how == "event" else "rate_limit_exceeded")
    assert final.output[0].status == "incomplete"
    assert encoder.final is not None and encoder.final["status"] == "failed"


def test_error_before_start_still_opens_the_stream() -> None:
    encoder = openai_responses.StreamEncoder(decode(), "resp_test")
    sent = [d for _, d in frames(encoder.error(ProxyError(500, "down")))]
    check_sequence(sent)
    assert sent[-1]["type"] == "response.failed"


def test_response_echoes_the_request() -> None:
    request = decode(
        instructions="Sys",
        tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        tool_choice="required",
        temperature=0.1,
        text={"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}},
        store=False,
        metadata={"a": "b"},
    )
    body = openai_responses.encode_response(
        ChatResponse(id="x", model="m", content=[TextPart(text="{}")]), request, "resp_e"
    )
    response = Response.model_validate(body)
    assert response.id == "resp_e" and response.instructions == "Sys"
    assert response.tool_choice == "required" and response.temperature == 0.1
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}
    }
    assert body["store"] is False and body["metadata"] == {"a": "b"}


# --- property: any response streams as a valid sequence, and whole equals streamed --------

_text = st.text(min_size=1, max_size=8)
_part = st.one_of(
    _text.map(lambda t: TextPart(text=t)),
    st.builds(ReasoningPart, text=_text, signature=st.none() | _text),
    st.builds(ReasoningPart, text=st.just(""), signature=_text, redacted=st.just(True)),
    st.builds(
        ToolCallPart,
        id=st.just("call"),
        name=st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
        arguments=st.just('{"x": 1}'),
    ),
)
_finish: st.SearchStrategy[FinishReason] = st.sampled_from(["stop", "length", "tool_calls"])


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(_part, max_size=6), finish=_finish, usage=st.booleans())
def test_any_response_is_a_valid_stream(
    parts: list[TextPart | ReasoningPart | ToolCallPart], finish: FinishReason, usage: bool
) -> None:
    for i, part in enumerate(parts):
        if isinstance(part, ToolCallPart):
            parts[i] = part.model_copy(update={"id": f"call_{i}"})  # unique within a response
    response = ChatResponse(
        id="up",
        model="m",
        created=1,
        content=parts,
        finish_reason=finish,
        usage=Usage(input_tokens=1, output_tokens=2) if usage else None,
    )
    request = decode()
    encoder = openai_responses.StreamEncoder(request, "resp_p")
    sent = [d for _, d in frames(b"".join(encoder.event(e) for e in replay(response)))]
    final = check_sequence(sent)
    whole = openai_responses.encode_response(response, request, "resp_p")
    assert whole == sent[-1]["response"] == encoder.final
    calls = [p for p in parts if isinstance(p, ToolCallPart)]
    assert [o.call_id for o in final.output if o.type == "function_call"] == [c.id for c in calls]
    # What a client sends back as input decodes to the same conversation turn.
    turn = openai_responses.decode_items(whole["output"], "output")
    assert [_without_id(p) for m in turn for p in m.content] == _merged(parts)


def _without_id(part: Any) -> Any:
    """A part without the item id it came back with (the encoder made those up)."""
    return part.model_copy(update={"id": None}) if isinstance(part, ReasoningPart) else part


def _merged(parts: list[TextPart | ReasoningPart | ToolCallPart]) -> list[Any]:
    """`parts` with adjacent text parts joined, as one message item carries them."""
    out: list[Any] = []
    for part in parts:
        if isinstance(part, TextPart) and out and isinstance(out[-1], TextPart):
            out[-1] = TextPart(text=out[-1].text + part.text)
        elif (
            isinstance(part, ReasoningPart)
            and out
            and isinstance(out[-1], ReasoningPart)
            and not out[-1].signature
            and not part.redacted
        ):
            out[-1] = ReasoningPart(text=out[-1].text + part.text, signature=part.signature)
        else:
            out.append(part.model_copy())
    return out


def test_signatures_travel_verbatim_in_encrypted_content() -> None:
    sent = encode(
        [
            START,
            ReasoningDelta(text="Think.", signature="anthropic-sig"),
            ReasoningDelta(signature="opaque-blob", redacted=True),
            TextDelta(text="Done"),
            Finish(),
        ]
    )
    output = sent[-1]["response"]["output"]
    assert [o.get("encrypted_content") for o in output] == [
        "anthropic-sig",
        "redacted:opaque-blob",
        None,
    ]
    (turn,) = openai_responses.decode_items(output, "output")
    assert turn.content[:2] == [
        ReasoningPart(text="Think.", signature="anthropic-sig", id=output[0]["id"]),
        ReasoningPart(signature="opaque-blob", redacted=True, id=output[1]["id"]),
    ]
