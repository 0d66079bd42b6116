"""The Gemini front-end: `POST /v1beta/models/{model}:generateContent` and friends.

Current google-genai SDKs call `/v1/models/…` and older ones `/v1beta/models/…`; both are
served. Under `/v1/`, `GET /v1/models` is also OpenAI's listing: a request carrying a
Gemini key (`x-goog-api-key` or `?key=`) and no bearer token gets Gemini's shape (the
endpoint's `when`), any other OpenAI's. `:countTokens` runs through the pipeline as a
`count_tokens` exchange and is estimated unless the routed backend can count.
`:streamGenerateContent?alt=sse` streams SSE; without `alt=sse` it streams a JSON array,
as Gemini does.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.codecs import gemini
from engine.codecs.validation import parse_body
from engine.errors import NotFound
from engine.exchange import Call
from engine.frontends.base import Endpoint, Frontend, Host, Reply
from engine.model import ChatRequest, ImagePart, TextPart, ToolCallPart, ToolResultPart
from engine.response import ChatResponse

ACTIONS = ("generateContent", "streamGenerateContent", "countTokens")
# Nominal limits for the listing: the proxy does not know each upstream model's own.
INPUT_TOKEN_LIMIT = 1_048_576
OUTPUT_TOKEN_LIMIT = 65_536
CHARS_PER_TOKEN = 4


def _model_object(model: str) -> dict[str, Any]:
    return {
        "name": f"models/{model}",
        "version": "proxy",
        "displayName": model,
        "description": f"{model}, served by the proxy",
        "inputTokenLimit": INPUT_TOKEN_LIMIT,
        "outputTokenLimit": OUTPUT_TOKEN_LIMIT,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    }


def _split(call: Call) -> tuple[str, str]:
    model, _, action = call.path_params["target"].rpartition(":")
    if not model or action not in ACTIONS:
        raise NotFound(
            f"POST {call.path}: expected models/MODEL:ACTION with ACTION one of "
            + ", ".join(ACTIONS),
            code="NOT_FOUND",
        )
    return model.removeprefix("models/"), action


def is_gemini_client(call: Call) -> bool:
    """Whether a call under OpenAI's `/v1/` comes from a Gemini SDK: a Gemini key, no bearer."""
    gemini_key = call.headers.get("x-goog-api-key") or call.query.get("key")
    return call.bearer is None and bool(gemini_key)


def count_request(body: Any, model: str) -> ChatRequest:
    """The request a `countTokens` body counts (bare, or as its `generateContentRequest`)."""
    if isinstance(body, dict) and isinstance(body.get("generateContentRequest"), dict):
        body = body["generateContentRequest"]
    if isinstance(body, dict) and "contents" not in body:
        body = {**body, "contents": []}
    return gemini.decode_request(body, model)


def estimate_tokens(chat: ChatRequest) -> int:
    """An estimate of the input tokens (about four characters a token)."""
    chars = sum(len(p.text) for p in chat.system)
    for message in chat.messages:
        for part in message.content:
            if isinstance(part, TextPart):
                chars += len(part.text)
            elif isinstance(part, ToolCallPart):
                chars += len(part.name) + len(part.arguments)
            elif isinstance(part, ToolResultPart):
                chars += sum(len(c.text) for c in part.content if isinstance(c, TextPart))
            elif isinstance(part, ImagePart):
                chars += 258 * CHARS_PER_TOKEN  # Gemini counts a small image as 258 tokens
    chars += sum(len(json.dumps(t.parameters)) + len(t.name) for t in chat.tools)
    return -(-chars // CHARS_PER_TOKEN)


async def _generate(call: Call, host: Host) -> Reply:
    model, action = _split(call)
    call = call.with_params(model=model, action=action)
    if action == "countTokens":
        chat = count_request(parse_body(call.body), model)
        return Reply(
            {"totalTokens": await host.count_tokens(FRONTEND, call, chat, estimate_tokens)}
        )
    reply = await host.chat(FRONTEND, call)
    json_array = action == "streamGenerateContent" and call.query.get("alt") != "sse"
    if json_array and reply.content_type == "text/event-stream":
        reply.content_type = "application/json"
    return reply


async def _listing(call: Call, host: Host) -> Reply:
    return Reply({"models": [_model_object(m) for m in await host.models(FRONTEND, call)]})


async def _one(call: Call, host: Host) -> Reply:
    model = call.path_params["model"].removeprefix("models/")
    if model not in await host.models(FRONTEND, call):
        raise NotFound(f"model models/{model} is not listed", code="NOT_FOUND")
    return Reply(_model_object(model))


def _decode(body: Any, call: Call) -> ChatRequest:
    return gemini.decode_request(
        body, call.path_params["model"], stream=call.path_params["action"] != "generateContent"
    )


def _encode(response: ChatResponse, request: ChatRequest) -> dict[str, Any]:
    return gemini.encode_response(response)


def _stream_encoder(chat: ChatRequest, call: Call) -> gemini.StreamEncoder:
    return gemini.StreamEncoder(sse=call.query.get("alt") == "sse")  # else a JSON array


FRONTEND = Frontend(
    name="gemini",
    decode_request=_decode,
    encode_response=_encode,
    stream_encoder=_stream_encoder,
    encode_error=gemini.encode_error,
    endpoints=(
        Endpoint("POST", "/v1beta/models/<path:target>", _generate),
        Endpoint("POST", "/v1/models/<path:target>", _generate),
        Endpoint("GET", "/v1beta/models", _listing),
        Endpoint("GET", "/v1beta/models/<path:model>", _one),
        Endpoint("GET", "/v1/models", _listing, when=is_gemini_client),
        Endpoint("GET", "/v1/models/", _listing, when=is_gemini_client),
        Endpoint("GET", "/v1/models/<path:model>", _one, when=is_gemini_client),
    ),
    path_prefixes=("/v1beta/",),
    path_pattern=re.compile(r"/v1/models/[^/]+:\w+"),  # Gemini's actions under OpenAI's /v1
)
