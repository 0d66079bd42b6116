"""The Gemini codec: request validation, call ids, signatures, stream coding, error shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.codecs import anthropic, gemini
from engine.codecs.gemini import StreamDecoder, StreamEncoder
from engine.codecs.gemini.request import SKIP_SIGNATURE, tag, untag
from engine.codecs.gemini.response import call_id, decode_stream_error, status_name
from engine.errors import BadRequest, ProxyError, UpstreamError
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Finish,
    ImagePart,
    Message,
    Reasoning,
    ReasoningDelta,
    ReasoningPart,
    ResponseStart,
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
from engine.notes import Dropped

MODEL = "gemini-2.5-flash"


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def model(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "model", "parts": list(parts)}


def body(**fields: Any) -> dict[str, Any]:
    return {"contents": [user({"text": "hi"})], **fields}


def call(name: str, **args: Any) -> dict[str, Any]:
    return {"functionCall": {"name": name, "args": args}}


def result(name: str, **response: Any) -> dict[str, Any]:
    return {"functionResponse": {"name": name, "response": response}}


# --- decode_request: validation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        pytest.param([], "body", id="body-not-object"),
        pytest.param({}, "contents", id="missing-contents"),
        pytest.param({"contents": "hi"}, "contents", id="contents-not-list"),
        pytest.param({"contents": ["hi"]}, "contents[0]", id="content-not-object"),
        pytest.param({"contents": [{"role": "bot", "parts": []}]}, "contents[0].role", id="role"),
        pytest.param({"contents": [{"parts": "x"}]}, "contents[0].parts", id="parts-not-list"),
        pytest.param({"contents": [user(5)]}, "contents[0].parts[0]", id="part-not-object"),
        pytest.param(
            {"contents": [user({"text": 5})]}, "contents[0].parts[0].text", id="text-not-string"
        ),
        pytest.param(
            {"contents": [user({"inlineData": {"mimeType": "image/png"}})]},
            "contents[0].parts[0].inlineData.data",
            id="inline-without-data",
        ),
        pytest.param(
            {"contents": [user({"fileData": {"mimeType": "image/png"}})]},
            "contents[0].parts[0].fileData.fileUri",
            id="file-without-uri",
        ),
        pytest.param(
            {"contents": [model({"functionCall": {"args": {}}})]},
            "contents[0].parts[0].functionCall.name",
            id="call-without-name",
        ),
        pytest.param(
            {"contents": [model({"functionCall": {"name": "f", "args": [1]}})]},
            "contents[0].parts[0].functionCall.args",
            id="call-args-not-object",
        ),
        pytest.param(
            {"contents": [user({"functionResponse": {"name": "f", "response": "ok"}})]},
            "contents[0].parts[0].functionResponse.response",
            id="response-not-object",
        ),
        pytest.param(
            {"contents": [user(call("f"))]}, "contents[0].parts[0]", id="call-in-user-turn"
        ),
        pytest.param(
            body(systemInstruction={"parts": [{"text": 1}]}),
            "systemInstruction.parts[0].text",
            id="system-text",
        ),
        pytest.param(body(tools={"x": 1}), "tools", id="tools-not-list"),
        pytest.param(
            body(tools=[{"functionDeclarations": [{"description": "no name"}]}]),
            "tools[0].functionDeclarations[0].name",
            id="declaration-without-name",
        ),
        pytest.param(
            body(toolConfig={"functionCallingConfig": {"mode": "SOMETIMES"}}),
            "toolConfig.functionCallingConfig.mode",
            id="bad-mode",
        ),
        pytest.param(
            body(generationConfig={"temperature": "hot"}),
            "generationConfig.temperature",
            id="temperature",
        ),
        pytest.param(
            body(generationConfig={"maxOutputTokens": 1.5}),
            "generationConfig.maxOutputTokens",
            id="max-tokens",
        ),
        pytest.param(
            body(generationConfig={"topK": True}), "generationConfig.topK", id="top-k-bool"
        ),
        pytest.param(
            body(generationConfig={"stopSequences": "END"}),
            "generationConfig.stopSequences",
            id="stop-not-list",
        ),
        pytest.param(
            body(generationConfig={"thinkingConfig": {"thinkingBudget": "lots"}}),
            "generationConfig.thinkingConfig.thinkingBudget",
            id="thinking-budget",
        ),
    ],
)
def test_invalid_bodies_name_the_param(raw: Any, param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        gemini.decode_request(raw, MODEL)
    assert caught.value.param == param
    assert caught.value.status == 400


def test_model_comes_from_the_path_without_its_prefix() -> None:
    assert gemini.decode_request(body(), "models/gemini-x").model == "gemini-x"
    assert gemini.decode_request(body(), "gemini:gemini-x").model == "gemini:gemini-x"


def test_snake_case_fields_are_accepted_too() -> None:
    request = gemini.decode_request(
        {
            "contents": [user({"inline_data": {"mime_type": "image/png", "data": "AAAA"}})],
            "system_instruction": {"parts": [{"text": "be brief"}]},
            "generation_config": {"max_output_tokens": 5, "stop_sequences": ["x"]},
        },
        MODEL,
    )
    assert request.system == [TextPart(text="be brief")]
    assert request.sampling.max_tokens == 5
    assert request.sampling.stop == ["x"]
    assert request.messages[0].content[0].model_dump(exclude_none=True)["media_type"] == "image/png"


def test_generation_config_maps_to_sampling_reasoning_and_format() -> None:
    request = gemini.decode_request(
        body(
            generationConfig={
                "temperature": 0.5,
                "topP": 0.9,
                "topK": 20,
                "maxOutputTokens": 100,
                "stopSequences": ["END"],
                "seed": 3,
                "presencePenalty": 0.2,
                "frequencyPenalty": 0.1,
                "responseMimeType": "application/json",
                "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}},
                "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
            }
        ),
        MODEL,
    )
    assert request.sampling.model_dump(exclude_none=True) == {
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 20,
        "max_tokens": 100,
        "stop": ["END"],
        "seed": 3,
        "presence_penalty": 0.2,
        "frequency_penalty": 0.1,
    }
    assert request.response_format == {
        "type": "json_schema",
        "json_schema": {
            "name": "response",
            "schema": {"type": "object", "properties": {"a": {"type": "integer"}}},
        },
    }
    assert request.reasoning == Reasoning(budget_tokens=1024)
    assert request.extra["gemini"]["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": True}
    }


@pytest.mark.parametrize(
    ("config", "choice"),
    [
        ({"mode": "AUTO"}, ToolChoice(mode="auto")),
        ({"mode": "NONE"}, ToolChoice(mode="none")),
        ({"mode": "ANY"}, ToolChoice(mode="required")),
        ({"mode": "ANY", "allowedFunctionNames": ["f"]}, ToolChoice(mode="tool", name="f")),
        ({"mode": "ANY", "allowedFunctionNames": ["f", "g"]}, ToolChoice(mode="required")),
    ],
)
def test_function_calling_modes(config: dict[str, Any], choice: ToolChoice) -> None:
    request = gemini.decode_request(body(toolConfig={"functionCallingConfig": config}), MODEL)
    assert request.tool_choice == choice


def test_declarations_with_openapi_or_json_schema_parameters() -> None:
    request = gemini.decode_request(
        body(
            tools=[
                {
                    "functionDeclarations": [
                        {"name": "a", "parameters": {"type": "OBJECT", "properties": {}}},
                        {"name": "b", "parametersJsonSchema": {"type": "object", "x-k": 1}},
                        {"name": "c"},
                    ]
                }
            ]
        ),
        MODEL,
    )
    assert [(t.name, t.parameters) for t in request.tools] == [
        ("a", {"type": "object", "properties": {}}),
        ("b", {"type": "object", "x-k": 1}),
        ("c", {"type": "object", "properties": {}}),
    ]


# --- call ids --------------------------------------------------------------------------------


def _ids(messages: list[Message]) -> tuple[list[str], list[tuple[str, str | None]]]:
    calls = [p.id for m in messages for p in m.content if isinstance(p, ToolCallPart)]
    results = [
        (p.tool_call_id, p.name)
        for m in messages
        for p in m.content
        if isinstance(p, ToolResultPart)
    ]
    return calls, results


def test_calls_get_stable_ids_and_responses_pair_by_name_and_order() -> None:
    contents = [
        user({"text": "weather in two cities, time in one"}),
        model(call("weather", city="A"), call("time"), call("weather", city="B")),
        user(
            result("weather", output="a"), result("time", output="t"), result("weather", output="b")
        ),
    ]
    first = gemini.decode_request({"contents": contents}, MODEL)
    again = gemini.decode_request({"contents": contents}, MODEL)
    calls, results = _ids(first.messages)
    assert calls == ["call_1_0", "call_1_1", "call_1_2"]
    assert results == [("call_1_0", "weather"), ("call_1_1", "time"), ("call_1_2", "weather")]
    assert _ids(again.messages) == (calls, results)
    assert [m.role for m in first.messages] == ["user", "assistant", "tool", "tool", "tool"]


def test_responses_in_another_order_still_match_by_name() -> None:
    contents = [
        model(call("weather", city="A"), call("time")),
        user(result("time", output="t"), result("weather", output="a")),
    ]
    _, results = _ids(gemini.decode_request({"contents": contents}, MODEL).messages)
    assert results == [("call_0_1", "time"), ("call_0_0", "weather")]


def test_explicit_ids_are_kept() -> None:
    contents = [
        model({"functionCall": {"id": "abc", "name": "f", "args": {}}}),
        user({"functionResponse": {"id": "abc", "name": "f", "response": {"output": "x"}}}),
    ]
    assert _ids(gemini.decode_request({"contents": contents}, MODEL).messages) == (
        ["abc"],
        [("abc", "f")],
    )


def test_a_response_to_no_call_still_gets_an_id() -> None:
    contents = [user(result("f", output="x"), result("f", output="y"))]
    _, results = _ids(gemini.decode_request({"contents": contents}, MODEL).messages)
    assert results == [("call_f_1", "f"), ("call_f_2", "f")]


def test_function_responses_decode_to_tool_results() -> None:
    contents = [
        model(call("f"), call("g"), call("h")),
        user(
            result("f", output="plain"),
            result("g", error="boom"),
            result("h", a=1),
            {"text": "and?"},
        ),
    ]
    messages = gemini.decode_request({"contents": contents}, MODEL).messages
    parts = [m.content[0] for m in messages[1:4]]
    assert [(p.content[0].text, p.is_error) for p in parts if isinstance(p, ToolResultPart)] == [
        ("plain", False),
        ("boom", True),
        ('{"a":1}', False),
    ]
    assert messages[4] == Message(role="user", content=[TextPart(text="and?")])


# --- encode_request -------------------------------------------------------------------------


def test_tool_results_are_named_from_their_call_ids() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message(
                role="assistant",
                content=[
                    ToolCallPart(id="call_x", name="get_weather", arguments='{"city":"Rome"}'),
                    ToolCallPart(id="call_y", name="get_time", arguments="{}"),
                ],
            ),
            Message(
                role="tool",
                content=[ToolResultPart(tool_call_id="call_x", content=[TextPart(text="sunny")])],
            ),
            Message(
                role="tool",
                content=[
                    ToolResultPart(
                        tool_call_id="call_y", content=[TextPart(text="no clock")], is_error=True
                    )
                ],
            ),
            Message(
                role="tool",
                content=[
                    ToolResultPart(
                        tool_call_id="call_z", name="other", content=[TextPart(text='{"n": 2}')]
                    )
                ],
            ),
        ],
    )
    contents = gemini.encode_request(request)["contents"]
    assert contents[0]["parts"] == [
        {
            "functionCall": {"name": "get_weather", "args": {"city": "Rome"}},
            "thoughtSignature": SKIP_SIGNATURE,
        },
        {"functionCall": {"name": "get_time", "args": {}}},
    ]
    assert contents[1] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
            {"functionResponse": {"name": "get_time", "response": {"error": "no clock"}}},
            {"functionResponse": {"name": "other", "response": {"n": 2}}},
        ],
    }


def test_only_gemini_signatures_go_back_to_gemini() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message(
                role="assistant",
                content=[
                    ReasoningPart(text="thinking", signature="anthropic-signature"),
                    TextPart(text="a"),
                    ReasoningPart(signature=tag("g-sig")),
                    ToolCallPart(id="c1", name="f", arguments="{}"),
                    ReasoningPart(text="more", signature=tag("trailing")),
                ],
            )
        ],
    )
    assert gemini.encode_request(request)["contents"][0]["parts"] == [
        {"text": "thinking", "thought": True},
        {"text": "a"},
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "g-sig"},
        {"text": "more", "thought": True, "thoughtSignature": "trailing"},
    ]


def test_client_signatures_round_trip_to_the_part_they_sign() -> None:
    contents = [
        user({"text": "q"}),
        model(
            {"text": "hmm", "thought": True},
            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "s1"},
            {"functionCall": {"name": "f", "args": {"x": 1}}},
        ),
        user(result("f", output="1"), result("f", output="2")),
        model({"text": "done", "thoughtSignature": "s2"}, {"text": "", "thoughtSignature": "s3"}),
    ]
    request = gemini.decode_request({"contents": contents}, MODEL)
    assert gemini.encode_request(request)["contents"] == contents


@pytest.mark.parametrize(
    ("reasoning", "thinking"),
    [
        (Reasoning(budget_tokens=2048), {"thinkingBudget": 2048, "includeThoughts": True}),
        (Reasoning(effort="none"), {"thinkingBudget": 0}),
        (Reasoning(effort="low"), {"thinkingBudget": 1024, "includeThoughts": True}),
        (Reasoning(effort="xhigh"), {"thinkingBudget": -1, "includeThoughts": True}),
    ],
)
def test_reasoning_settings_become_a_thinking_config(
    reasoning: Reasoning, thinking: dict[str, Any]
) -> None:
    request = ChatRequest(model="m", reasoning=reasoning)
    assert gemini.encode_request(request)["generationConfig"]["thinkingConfig"] == thinking


def test_a_dynamic_thinking_budget_goes_back_to_gemini_only() -> None:
    config = {"thinkingConfig": {"thinkingBudget": -1, "includeThoughts": True}}
    request = gemini.decode_request(body(generationConfig=config), MODEL)
    assert request.reasoning is None
    assert gemini.encode_request(request)["generationConfig"] == config


def test_a_clients_thinking_level_goes_back_to_gemini_as_is() -> None:
    config = {"thinkingConfig": {"thinkingLevel": "low", "includeThoughts": True}}
    request = gemini.decode_request(body(generationConfig=config), MODEL)
    assert request.reasoning == Reasoning(effort="low")
    assert gemini.encode_request(request)["generationConfig"] == config


def test_tool_choice_and_images_encode() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message(
                role="user",
                content=[
                    ImagePart(url="data:image/webp;base64,UklG"),
                    ImagePart(url="https://x.test/cat.png"),
                ],
            )
        ],
        tools=[Tool(name="f")],
        tool_choice=ToolChoice(mode="tool", name="f"),
        response_format={"type": "json_object"},
    )
    out = gemini.encode_request(request)
    assert out["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/webp", "data": "UklG"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/cat.png"}},
    ]
    assert out["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}
    }
    assert out["generationConfig"] == {"responseMimeType": "application/json"}


def _results(*results: ToolResultPart) -> list[Message]:
    return [Message(role="tool", content=[r]) for r in results]


PNG = ImagePart(data="iVBO", media_type="image/png")
URL_IMAGE = ImagePart(url="https://x.test/shot.jpg")


@pytest.mark.parametrize(
    ("messages", "parts"),
    [
        pytest.param(
            _results(ToolResultPart(tool_call_id="c1", content=[TextPart(text="done")])),
            [{"functionResponse": {"name": "shot", "response": {"output": "done"}}}],
            id="text-only-unchanged",
        ),
        pytest.param(
            _results(
                ToolResultPart(tool_call_id="c1", content=[TextPart(text="see"), PNG, URL_IMAGE])
            ),
            [
                {"functionResponse": {"name": "shot", "response": {"output": "see"}}},
                {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/shot.jpg"}},
            ],
            id="images-after-the-response",
        ),
        pytest.param(
            _results(
                ToolResultPart(tool_call_id="c1", content=[PNG]),
                ToolResultPart(tool_call_id="c2", content=[TextPart(text="{}")]),
            ),
            [
                {"functionResponse": {"name": "shot", "response": {"output": ""}}},
                {"functionResponse": {"name": "scan", "response": {}}},
                {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
            ],
            id="images-after-every-response-of-the-turn",
        ),
        pytest.param(
            [
                Message(
                    role="tool",
                    content=[
                        ToolResultPart(tool_call_id="c1", content=[URL_IMAGE]),
                        ToolResultPart(tool_call_id="c2", content=[PNG]),
                    ],
                )
            ],
            [
                {"functionResponse": {"name": "shot", "response": {"output": ""}}},
                {"functionResponse": {"name": "scan", "response": {"output": ""}}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/shot.jpg"}},
                {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
            ],
            id="several-results-in-one-message",
        ),
    ],
)
def test_tool_result_images_follow_the_function_responses(
    messages: list[Message], parts: list[dict[str, Any]]
) -> None:
    calls = Message(
        role="assistant",
        content=[ToolCallPart(id="c1", name="shot"), ToolCallPart(id="c2", name="scan")],
    )
    contents = gemini.encode_request(ChatRequest(model="m", messages=[calls, *messages]))[
        "contents"
    ]
    assert contents[1:] == [{"role": "user", "parts": parts}]


def test_signature_tags() -> None:
    assert untag(tag("abc")) == "abc"
    assert untag("abc") is None
    assert untag(None) is None


# --- responses: decoding ----------------------------------------------------------------------


def chunk(
    *parts: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}}
    if finish:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gm", "responseId": "r1"}
    if usage:
        out["usageMetadata"] = usage
    return out


def test_stream_decoder_sends_usage_once_before_finish() -> None:
    decoder = StreamDecoder()
    events = [
        *decoder.chunk(chunk({"text": "a"}, usage={"promptTokenCount": 5})),
        *decoder.chunk(
            chunk(
                {"text": "b"},
                finish="STOP",
                usage={
                    "promptTokenCount": 5,
                    "candidatesTokenCount": 2,
                    "thoughtsTokenCount": 3,
                    "cachedContentTokenCount": 1,
                },
            )
        ),
        *decoder.end(),
    ]
    assert events == [
        ResponseStart(id="r1", model="gm"),
        TextDelta(text="a"),
        TextDelta(text="b"),
        Usage(input_tokens=5, output_tokens=5, cached_tokens=1, reasoning_tokens=3),
        Finish(reason="stop"),
    ]


def test_function_calls_get_stable_ids_and_finish_as_tool_calls() -> None:
    decoder = StreamDecoder()
    events = [
        *decoder.chunk(chunk(call("f", a=1), {**call("g"), "thoughtSignature": "sig"})),
        *decoder.chunk(chunk(finish="STOP")),
        *decoder.end(),
    ]
    first = call_id("r1", 0, "f", '{"a":1}')
    assert events[1:] == [
        ToolCallStart(index=0, id=first, name="f"),
        ToolCallDelta(index=0, arguments='{"a":1}'),
        ToolCallEnd(index=0),
        ReasoningDelta(signature=tag("sig")),
        ToolCallStart(index=1, id=call_id("r1", 1, "g", "{}"), name="g"),
        ToolCallDelta(index=1, arguments="{}"),
        ToolCallEnd(index=1),
        Finish(reason="tool_calls"),
    ]
    assert first == call_id("r1", 0, "f", '{"a":1}') != call_id("r2", 0, "f", '{"a":1}')


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "error"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reasons(reason: str, finish: str) -> None:
    events = list(gemini.decode_response(chunk({"text": "x"}, finish=reason)))
    assert events[-1] == Finish(reason=finish)  # type: ignore[arg-type]


def test_a_blocked_prompt_is_a_content_filter_finish() -> None:
    events = list(gemini.decode_response({"promptFeedback": {"blockReason": "OTHER"}}))
    assert events[-1] == Finish(reason="content_filter")


def test_errors_in_a_stream_and_upstream_errors_keep_their_status() -> None:
    assert decode_stream_error(
        {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}
    ) == ErrorEvent(status=429, code="RESOURCE_EXHAUSTED", message="slow down")
    error = gemini.decode_error(
        403, [{"error": {"code": 403, "message": "no key", "status": "PERMISSION_DENIED"}}]
    )
    assert isinstance(error, UpstreamError)
    assert (error.status, error.code, error.message) == (403, "PERMISSION_DENIED", "no key")
    assert (
        gemini.decode_error(502, "<html>bad gateway</html>").message == "<html>bad gateway</html>"
    )


# --- responses: encoding ----------------------------------------------------------------------


def _chunks(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in data.decode().split("\n\n") if line]


def test_tool_arguments_are_held_until_the_call_ends() -> None:
    encoder = StreamEncoder()
    assert encoder.event(ResponseStart(id="r", model="m")) == b""
    assert encoder.event(ToolCallStart(index=0, id="c", name="f")) == b""
    assert encoder.event(ToolCallDelta(index=0, arguments='{"pa')) == b""
    assert encoder.event(ToolCallDelta(index=0, arguments='th": "a\\"b"}')) == b""
    [out] = _chunks(encoder.event(ToolCallEnd(index=0)))
    assert out["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "c", "name": "f", "args": {"path": 'a"b'}}}
    ]


def test_interleaved_calls_and_unclosed_calls_at_finish() -> None:
    encoder = StreamEncoder()
    encoder.event(ToolCallStart(index=0, id="a", name="f"))
    encoder.event(ToolCallStart(index=1, id="b", name="g"))
    encoder.event(ToolCallDelta(index=1, arguments='{"y":'))
    encoder.event(ToolCallDelta(index=0, arguments='{"x":1}'))
    [first] = _chunks(encoder.event(ToolCallEnd(index=0)))
    encoder.event(ToolCallDelta(index=1, arguments="2}"))
    encoder.event(Usage(input_tokens=3, output_tokens=4, reasoning_tokens=1))
    [last] = _chunks(encoder.event(Finish(reason="tool_calls")))
    assert first["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "a", "name": "f", "args": {"x": 1}}}
    ]
    assert last["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "b", "name": "g", "args": {"y": 2}}}
    ]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == {
        "promptTokenCount": 3,
        "candidatesTokenCount": 3,
        "totalTokenCount": 7,
        "thoughtsTokenCount": 1,
    }


def test_signatures_sign_the_next_part_and_foreign_ones_are_dropped() -> None:
    encoder = StreamEncoder()
    assert encoder.event(ReasoningDelta(signature="anthropic")) == b""
    assert encoder.event(ReasoningDelta(signature=tag("g"))) == b""
    [text] = _chunks(encoder.event(TextDelta(text="hi")))
    assert text["candidates"][0]["content"]["parts"] == [{"text": "hi", "thoughtSignature": "g"}]
    encoder.event(ReasoningDelta(signature=tag("end")))
    [last] = _chunks(encoder.event(Finish()))
    assert last["candidates"][0]["content"]["parts"] == [{"text": "", "thoughtSignature": "end"}]


def test_json_array_stream() -> None:
    encoder = StreamEncoder(sse=False)
    encoder.event(ResponseStart(id="r", model="m"))
    data = encoder.event(TextDelta(text="a")) + encoder.event(TextDelta(text="b"))
    data += encoder.event(Finish())
    chunks = json.loads(data)
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks] == ["a", "b", ""]
    failed = StreamEncoder(sse=False)
    out = failed.event(TextDelta(text="a")) + failed.error(ProxyError(503, "gone"))
    assert json.loads(out)[-1] == {
        "error": {"code": 503, "message": "gone", "status": "UNAVAILABLE"}
    }


@pytest.mark.parametrize(
    ("error", "name"),
    [
        (ProxyError(400, "x"), "INVALID_ARGUMENT"),
        (ProxyError(401, "x"), "UNAUTHENTICATED"),
        (ProxyError(403, "x"), "PERMISSION_DENIED"),
        (ProxyError(404, "x"), "NOT_FOUND"),
        (ProxyError(429, "x"), "RESOURCE_EXHAUSTED"),
        (ProxyError(500, "x"), "INTERNAL"),
        (ProxyError(503, "x"), "UNAVAILABLE"),
        (ProxyError(504, "x"), "DEADLINE_EXCEEDED"),
        (ProxyError(422, "x"), "INVALID_ARGUMENT"),
        (ProxyError(400, "x", code="FAILED_PRECONDITION"), "FAILED_PRECONDITION"),
    ],
)
def test_error_status_names(error: ProxyError, name: str) -> None:
    assert status_name(error) == name
    assert gemini.encode_error(error)["error"]["status"] == name
    assert gemini.encode_error(error)["error"]["code"] == error.status


def test_bad_request_errors_carry_the_field() -> None:
    body = gemini.encode_error(BadRequest("bad", param="contents[0].role"))
    assert body["error"]["details"][0]["fieldViolations"] == [
        {"field": "contents[0].role", "description": "bad"}
    ]


def test_turns_with_nothing_gemini_can_say_are_left_out() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message(role="user", content=[TextPart(text="hi")]),
            Message(
                role="assistant", content=[ReasoningPart(signature="anthropic", redacted=True)]
            ),
            Message(role="user", content=[TextPart(text="again")]),
        ],
    )
    assert gemini.encode_request(request)["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "user", "parts": [{"text": "again"}]},
    ]


def test_parts_and_settings_newer_than_the_codec_go_to_gemini_only() -> None:
    code = {"executableCode": {"language": "PYTHON", "code": "print(1)"}}
    pdf = {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
    raw = body(
        contents=[user({"text": "run"}, code, pdf)],
        generationConfig={"thinkingConfig": {"thinkingLevel": "extreme"}},
        tools=[{"codeExecution": {}}, {"googleSearch": {}}],
    )
    request = gemini.decode_request(raw, "m")

    assert request.reasoning is None
    assert gemini.encode_request(request) == raw
    dropped = Dropped()
    encoded = anthropic.encode_request(request, "m", dropped=dropped)
    assert encoded["messages"] == [{"role": "user", "content": "run"}]
    assert encoded["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]
    assert list(dropped) == [
        "executableCode block",
        "inlineData block",
        "codeExecution tool",
        "thinkingConfig.thinkingLevel",
    ]
