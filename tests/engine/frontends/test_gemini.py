"""The Gemini front-end's pure helpers: token estimates and the model listing shape."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import BadRequest
from engine.frontends.base import Call
from engine.frontends.gemini import FRONTEND, _model_object, count_request, estimate_tokens


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


@pytest.mark.parametrize(
    ("body", "tokens"),
    [
        ({"contents": [user("a" * 40)]}, 10),
        ({"contents": [user("a" * 41)]}, 11),
        ({"generateContentRequest": {"contents": [user("abcd")], "model": "models/x"}}, 1),
        ({"contents": [user("abcd")], "systemInstruction": {"parts": [{"text": "abcd"}]}}, 2),
        ({}, 0),
    ],
)
def test_count_tokens_estimates_four_characters_a_token(body: dict[str, Any], tokens: int) -> None:
    assert estimate_tokens(count_request(body, "m")) == tokens


def test_count_tokens_validates_like_generate_content() -> None:
    with pytest.raises(BadRequest) as caught:
        count_request({"contents": [{"role": "robot", "parts": []}]}, "m")
    assert caught.value.param == "contents[0].role"


def test_model_object_has_gemini_listing_fields() -> None:
    model = _model_object("gem:gemini-up")
    assert model["name"] == "models/gem:gemini-up"
    assert model["displayName"] == "gem:gemini-up"
    assert model["supportedGenerationMethods"] == ["generateContent", "countTokens"]
    assert model["inputTokenLimit"] > 0 and model["outputTokenLimit"] > 0


@pytest.mark.parametrize(
    ("action", "stream"), [("generateContent", False), ("streamGenerateContent", True)]
)
def test_decode_takes_model_and_stream_from_the_path(action: str, stream: bool) -> None:
    request = FRONTEND.decode_request(
        {"contents": [user("hi")]}, Call(path_params={"model": "m-1", "action": action})
    )
    assert (request.model, request.stream, request.include_usage) == ("m-1", stream, True)
