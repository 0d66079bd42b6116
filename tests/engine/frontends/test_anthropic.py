"""The Anthropic front-end's pure helpers: header forwarding, token estimate, model pages."""

from __future__ import annotations

import pytest

from engine.errors import BadRequest
from engine.frontends.anthropic import FRONTEND, IMAGE_TOKENS, _page, estimate_tokens
from engine.frontends.base import Call
from engine.model import (
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
)

MODELS = ["a:1", "a:2", "b:1", "b:2", "c:1"]


def test_decode_keeps_the_headers_anthropic_backends_forward() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    headers = {
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "b1,b2",
        "x-api-key": "client-secret",
    }
    request = FRONTEND.decode_request(body, Call(headers=headers))
    assert request.forward_headers == {"anthropic-version": "2023-06-01", "anthropic-beta": "b1,b2"}
    assert FRONTEND.decode_request(body, Call()).forward_headers == {}


def test_estimate_counts_four_characters_a_token_and_images_flat() -> None:
    request = ChatRequest(
        model="m",
        system=[TextPart(text="s" * 8)],
        messages=[
            Message(role="user", content=[TextPart(text="u" * 12), ImagePart(url="https://x")]),
            Message(role="assistant", content=[ToolCallPart(id="t", name="ab", arguments="{}")]),
            Message(
                role="tool",
                content=[ToolResultPart(tool_call_id="t", content=[TextPart(text="r" * 4)])],
            ),
        ],
        tools=[Tool(name="ab", description="dd", parameters={})],
    )
    chars = 8 + 12 + 4 + 4 + (2 + 2 + 2)
    assert estimate_tokens(request) == (chars + 3) // 4 + IMAGE_TOKENS
    assert estimate_tokens(ChatRequest(model="m")) == 1


@pytest.mark.parametrize(
    ("args", "ids", "has_more"),
    [
        ({}, MODELS, False),
        ({"limit": "2"}, ["a:1", "a:2"], True),
        ({"limit": "2", "after_id": "a:2"}, ["b:1", "b:2"], True),
        ({"limit": "2", "after_id": "b:2"}, ["c:1"], False),
        ({"limit": "2", "before_id": "c:1"}, ["b:1", "b:2"], False),
        ({"after_id": "c:1"}, [], False),
    ],
)
def test_model_pages(args: dict[str, str], ids: list[str], has_more: bool) -> None:
    page = _page(MODELS, args)
    assert [m["id"] for m in page["data"]] == ids
    assert page["has_more"] is has_more
    assert page["first_id"] == (ids[0] if ids else None)
    assert page["last_id"] == (ids[-1] if ids else None)
    assert all(m["type"] == "model" and m["created_at"] for m in page["data"])


def test_model_page_limit_must_be_a_number() -> None:
    with pytest.raises(BadRequest):
        _page(MODELS, {"limit": "many"})
