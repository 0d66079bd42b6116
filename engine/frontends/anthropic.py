"""The Anthropic Messages front-end, under `/anthropic` (the SDK's and Claude Code's base URL).

`POST /anthropic/v1/messages`, `POST /anthropic/v1/messages/count_tokens` and
`GET /anthropic/v1/models`. The client's key comes as `x-api-key` or `Authorization:
Bearer` (Claude Code's `ANTHROPIC_AUTH_TOKEN`); its `anthropic-version` and `anthropic-beta`
headers travel with the request to Anthropic backends.

`count_tokens` asks the route's first target when it is an Anthropic backend; for any
other backend it answers an estimate: a token per four characters of the system prompt,
messages (text, tool arguments and results) and tool definitions, plus a flat
`IMAGE_TOKENS` per image. No request stages run for it.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from quart import Response, request

from engine.backends.anthropic import AnthropicBackend
from engine.codecs import anthropic
from engine.codecs.validation import parse_body
from engine.errors import BadRequest, NotFound, ProxyError
from engine.executor import Timings, is_retryable, prepare, targets_for
from engine.frontends.base import Call, Frontend
from engine.model import (
    ChatRequest,
    ImagePart,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from engine.response import ChatResponse

if TYPE_CHECKING:
    from quart import Quart

    from engine.server.app import Server

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
IMAGE_TOKENS = 1600  # about what Anthropic charges for a ~1.15 megapixel image
CREATED_AT = "1970-01-01T00:00:00Z"  # routing files say nothing of when a model appeared

log = logging.getLogger("engine.frontends.anthropic")


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


def _page(models: list[str], args: Any) -> dict[str, Any]:
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


def _forwarded(chat: ChatRequest, headers: Any) -> ChatRequest:
    forward = {name: headers[name] for name in FORWARDED_HEADERS if headers.get(name)}
    return chat.model_copy(update={"forward_headers": forward}) if forward else chat


def mount(app: Quart, server: Server) -> None:
    """Add the Messages, token counting and model-listing endpoints."""

    @app.post("/anthropic/v1/messages")
    async def anthropic_messages() -> Response:
        return await server.handle(FRONTEND)

    @app.post("/anthropic/v1/messages/count_tokens")
    async def anthropic_count_tokens() -> Response:
        try:
            return server.json({"input_tokens": await _count(server)})
        except ProxyError as error:
            return server.refuse(FRONTEND, error)

    @app.get("/anthropic/v1/models")
    async def anthropic_models() -> Response:
        try:
            return server.json(_page(server.model_ids(), request.args))
        except ProxyError as error:
            return server.refuse(FRONTEND, error)

    @app.get("/anthropic/v1/models/<path:model>")
    async def anthropic_model(model: str) -> Response:
        if model not in server.model_ids():
            error = NotFound(f"model: {model}")
            return server.refuse(FRONTEND, error)
        return server.json(_model_object(model))


async def _count(server: Server) -> int:
    payload = parse_body(await request.get_data())
    headers = {name.lower(): value for name, value in request.headers.items()}
    chat = _forwarded(anthropic.decode_request(payload, require_max_tokens=False), headers)
    graph = server.holder.graph
    ctx = server.context(FRONTEND.name, chat, graph, headers)
    ctx.operation = "count_tokens"
    # The stages that run for a count decide the model (aliases, rewrites), as for a
    # message, without a chat's side effects; one that answers leaves nothing to ask.
    route, answer = await prepare(graph, ctx, Timings())
    server.note(route=ctx.route)
    if route is not None and answer is None:
        target = targets_for(graph, route, ctx)[0]
        backend = graph.backends[target.backend]
        server.note(backend=str(target))
        if isinstance(backend, AnthropicBackend):
            assert server.http is not None, "the server has not started"
            try:
                return await backend.count_tokens(ctx.request, target.model, server.http)
            except ProxyError as error:
                if not is_retryable(error):
                    raise
                log.warning("count_tokens: %s failed (%s); estimating", target, error)
    return estimate_tokens(ctx.request)


def _decode(body: Any, call: Call) -> ChatRequest:
    return _forwarded(anthropic.decode_request(body), call.headers)


def _encode(response: ChatResponse, request: ChatRequest) -> dict[str, Any]:
    return anthropic.encode_response(response)


FRONTEND = Frontend(
    name="anthropic",
    decode_request=_decode,
    encode_response=_encode,
    stream_encoder=lambda request: anthropic.StreamEncoder(),
    encode_error=anthropic.encode_error,
    mount=mount,
    path_prefixes=("/anthropic/",),
)
