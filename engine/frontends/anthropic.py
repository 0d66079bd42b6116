"""The Anthropic Messages front-end, under `/anthropic` (the SDK's and Claude Code's base URL).

`POST /anthropic/v1/messages`, `POST /anthropic/v1/messages/count_tokens` and
`GET /anthropic/v1/models`. The client's key comes as `x-api-key` or `Authorization:
Bearer` (Claude Code's `ANTHROPIC_AUTH_TOKEN`); its `anthropic-version` and `anthropic-beta`
headers travel with the request to Anthropic backends.

`count_tokens` runs through the pipeline as a read-only `count_tokens` exchange (only the
stages that say they run for it: aliases and rewrites choose the model, no command runs)
and asks the route's first target when its backend can count (an Anthropic one); for
any other it answers an estimate: a token per four characters of the system prompt,
messages (text, tool arguments and results) and tool definitions, plus a flat
`IMAGE_TOKENS` per image.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine.codecs import anthropic
from engine.codecs.validation import parse_body
from engine.errors import BadRequest, NotFound
from engine.exchange import Call
from engine.frontends.base import Endpoint, Frontend, Host, Reply
from engine.model import (
    ChatRequest,
    ImagePart,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from engine.response import ChatResponse

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
IMAGE_TOKENS = 1600  # about what Anthropic charges for a ~1.15 megapixel image
CREATED_AT = "1970-01-01T00:00:00Z"  # routing files say nothing of when a model appeared


def estimate_tokens(chat: ChatRequest) -> int:
    """A rough input token count: four characters a token, a flat count per image."""
    chars = sum(len(p.text) for p in chat.system)
    images = 0
    for message in chat.messages:
        for part in message.content:
            if isinstance(part, TextPart | ReasoningPart):
                chars += len(part.text)
            elif isinstance(part, ToolCallPart):
                chars += len(part.name) + len(part.arguments)
            elif isinstance(part, ImagePart):
                images += 1
            elif isinstance(part, ToolResultPart):
                chars += sum(len(c.text) for c in part.content if isinstance(c, TextPart))
                images += sum(1 for c in part.content if isinstance(c, ImagePart))
    for tool in chat.tools:
        chars += len(tool.name) + len(tool.description or "") + len(json.dumps(tool.parameters))
    return max(1, (chars + 3) // 4) + images * IMAGE_TOKENS


def _model_object(model: str) -> dict[str, Any]:
    return {"type": "model", "id": model, "display_name": model, "created_at": CREATED_AT}


def _page(models: list[str], args: Mapping[str, str]) -> dict[str, Any]:
    """One page of the model list, with Anthropic's `limit`, `after_id` and `before_id`."""
    try:
        limit = max(1, min(1000, int(args.get("limit", 20))))
    except ValueError:
        raise BadRequest("limit: must be an integer", param="limit") from None
    start, end = 0, len(models)
    if args.get("after_id") in models:
        start = models.index(args["after_id"]) + 1
    if args.get("before_id") in models:
        end = models.index(args["before_id"])
        start = max(start, end - limit)
    page = models[start:end][:limit]
    return {
        "data": [_model_object(m) for m in page],
        "has_more": start + len(page) < end,
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }


def _forwarded(chat: ChatRequest, headers: Mapping[str, str]) -> ChatRequest:
    forward = {name: headers[name] for name in FORWARDED_HEADERS if headers.get(name)}
    return chat.model_copy(update={"forward_headers": forward}) if forward else chat


async def _messages(call: Call, host: Host) -> Reply:
    return await host.chat(FRONTEND, call)


async def _count_tokens(call: Call, host: Host) -> Reply:
    payload = parse_body(call.body)
    chat = _forwarded(anthropic.decode_request(payload, require_max_tokens=False), call.headers)
    return Reply({"input_tokens": await host.count_tokens(FRONTEND, call, chat, estimate_tokens)})


async def _models(call: Call, host: Host) -> Reply:
    return Reply(_page(await host.models(FRONTEND, call), call.query))


async def _model(call: Call, host: Host) -> Reply:
    model = call.path_params["model"]
    if model not in await host.models(FRONTEND, call):
        raise NotFound(f"model: {model}")
    return Reply(_model_object(model))


def _decode(body: Any, call: Call) -> ChatRequest:
    return _forwarded(anthropic.decode_request(body), call.headers)


def _encode(response: ChatResponse, request: ChatRequest) -> dict[str, Any]:
    return anthropic.encode_response(response)


FRONTEND = Frontend(
    name="anthropic",
    decode_request=_decode,
    encode_response=_encode,
    stream_encoder=lambda request, call: anthropic.StreamEncoder(),
    encode_error=anthropic.encode_error,
    endpoints=(
        Endpoint("POST", "/anthropic/v1/messages", _messages),
        Endpoint("POST", "/anthropic/v1/messages/count_tokens", _count_tokens),
        Endpoint("GET", "/anthropic/v1/models", _models),
        Endpoint("GET", "/anthropic/v1/models/<path:model>", _model),
    ),
    path_prefixes=("/anthropic/",),
)
