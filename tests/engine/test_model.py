"""The canonical model: parts by discriminator, strictness, helpers, JSON round trips."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    Finish,
    ImagePart,
    Message,
    OpaquePart,
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

FULL_REQUEST = ChatRequest(
    model="m",
    system=[TextPart(text="be brief")],
    messages=[
        Message(
            role="user",
            content=[TextPart(text="look"), ImagePart(data="AAA", media_type="image/png")],
        ),
        Message(
            role="assistant",
            content=[ReasoningPart(text="hm", signature="s"), ToolCallPart(id="c", name="f")],
        ),
        Message(
            role="tool", content=[ToolResultPart(tool_call_id="c", content=[TextPart(text="1")])]
        ),
    ],
    tools=[Tool(name="f", description="d", strict=True)],
    tool_choice=ToolChoice(mode="tool", name="f"),
    parallel_tool_calls=False,
    sampling=Sampling(temperature=0.5, stop=["x"]),
    reasoning=Reasoning(effort="low", budget_tokens=1024),
    response_format={"type": "json_object"},
    stream=True,
    include_usage=True,
    metadata={"k": "v"},
    extra={"openai_chat": {"user": "u"}},
)


def test_request_json_round_trip() -> None:
    assert ChatRequest.model_validate_json(FULL_REQUEST.model_dump_json()) == FULL_REQUEST


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({"type": "text", "text": "a"}, TextPart),
        ({"type": "image", "url": "https://x"}, ImagePart),
        ({"type": "tool_call", "id": "c", "name": "f"}, ToolCallPart),
        ({"type": "tool_result", "tool_call_id": "c"}, ToolResultPart),
        ({"type": "reasoning", "text": "r"}, ReasoningPart),
    ],
)
def test_parts_by_discriminator(raw: dict[str, Any], kind: type) -> None:
    message = Message.model_validate({"role": "user", "content": [raw]})
    assert type(message.content[0]) is kind


@pytest.mark.parametrize(
    ("model", "raw"),
    [
        pytest.param(Message, {"role": "user", "extra_field": 1}, id="unknown-field"),
        pytest.param(Message, {"role": "robot"}, id="unknown-role"),
        pytest.param(Message, {"role": "user", "content": [{"type": "audio"}]}, id="unknown-part"),
        pytest.param(Reasoning, {"effort": "extreme"}, id="unknown-effort"),
        pytest.param(ToolChoice, {"mode": "sometimes"}, id="unknown-tool-choice"),
        pytest.param(Finish, {"reason": "bored"}, id="unknown-finish"),
    ],
)
def test_strict_validation(model: type, raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(raw)


@pytest.mark.parametrize(
    ("obj", "field", "value"),
    [
        pytest.param(TextPart(text="a"), "text", "b", id="text"),
        pytest.param(ImagePart(url="https://x"), "url", "https://y", id="image"),
        pytest.param(ToolCallPart(id="c", name="f"), "arguments", "{}", id="tool-call"),
        pytest.param(ToolResultPart(tool_call_id="c"), "name", "f", id="tool-result"),
        pytest.param(ReasoningPart(text="r"), "signature", "s", id="reasoning"),
        pytest.param(OpaquePart(protocol="p", data={}), "text", "t", id="opaque"),
        pytest.param(Message(role="user"), "content", [], id="message"),
        pytest.param(Tool(name="f"), "description", "d", id="tool"),
        pytest.param(TextPart(text="a"), "vendor", {}, id="vendor"),
    ],
)
def test_parts_messages_and_tools_are_immutable(obj: Any, field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        setattr(obj, field, value)


def test_an_edited_copy_keeps_the_vendor_fields() -> None:
    part = TextPart(text="a", vendor={"anthropic": {"cache_control": {"type": "ephemeral"}}})
    edited = part.model_copy(update={"text": "b"})
    assert (edited.text, edited.vendor, part.text) == ("b", part.vendor, "a")


def test_vendor_fields_are_dumped_only_when_there_are_some() -> None:
    plain = Tool(name="f")
    marked = Tool(name="f", vendor={"anthropic": {"input_examples": [{}]}})
    assert "vendor" not in plain.model_dump() and "vendor" not in plain.model_dump_json()
    assert marked.model_dump()["vendor"] == {"anthropic": {"input_examples": [{}]}}
    assert Tool.model_validate_json(marked.model_dump_json()) == marked


def test_message_text_joins_only_text_parts() -> None:
    message = Message(
        role="assistant",
        content=[TextPart(text="a"), ToolCallPart(id="c", name="f"), TextPart(text="b")],
    )
    assert message.text() == "ab"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [(["user", "assistant", "user", "tool"], 2), (["assistant"], None), ([], None)],
)
def test_last_user_message(roles: list[str], expected: int | None) -> None:
    messages = [Message(role=r, content=[TextPart(text=str(i))]) for i, r in enumerate(roles)]  # type: ignore[arg-type]
    found = ChatRequest(model="m", messages=messages).last_user_message()
    assert (found.text() if found else None) == (str(expected) if expected is not None else None)


def test_defaults() -> None:
    request = ChatRequest(model="m")
    assert (request.stream, request.include_usage, request.tool_choice) == (False, False, None)
    assert request.sampling == Sampling()
    assert Tool(name="f").parameters == {"type": "object", "properties": {}}
    assert ToolCallPart(id="c", name="f").arguments == "{}"


EVENTS: list[Event] = [
    ResponseStart(id="r", model="m", created=1),
    TextDelta(text="t"),
    ReasoningDelta(text="r", signature="s"),
    ToolCallStart(index=0, id="c", name="f"),
    ToolCallDelta(index=0, arguments="{}"),
    ToolCallEnd(index=0),
    Usage(input_tokens=1, output_tokens=2, cached_tokens=3, reasoning_tokens=4),
    Finish(reason="length"),
    ErrorEvent(status=503, code="c", message="m"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_events_round_trip_through_json(event: Event) -> None:
    adapter: TypeAdapter[Event] = TypeAdapter(Event)
    assert adapter.validate_json(adapter.dump_json(event)) == event
    assert type(adapter.validate_python(event.model_dump())) is type(event)


@pytest.mark.parametrize(
    ("url", "data", "media_type", "inline"),
    [
        ("data:image/png;base64,iVBO", "iVBO", "image/png", ("image/png", "iVBO")),
        ("data:;base64,iVBO", "iVBO", None, (None, "iVBO")),
        ("https://example.invalid/cat.jpg", None, None, None),
    ],
)
def test_images_from_urls(
    url: str, data: str | None, media_type: str | None, inline: tuple[str | None, str] | None
) -> None:
    image = ImagePart.from_url(url, "high")
    assert (image.data, image.media_type, image.detail) == (data, media_type, "high")
    assert image.inline() == inline
    assert ImagePart(url=url).inline() == inline  # a data: URL built directly is inline too
