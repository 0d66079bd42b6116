"""The Gemini front-end: `POST /v1beta/models/{model}:generateContent` and friends.

Current google-genai SDKs call `/v1/models/…` and older ones `/v1beta/models/…`; both are
served. Under `/v1/`, `GET /v1/models` is also OpenAI's listing: a request carrying a
Gemini key (`x-goog-api-key` or `?key=`) and no bearer token gets Gemini's shape.
`:streamGenerateContent?alt=sse` streams SSE; without `alt=sse` it streams a JSON array,
as Gemini does.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from quart import Response, request

from engine.codecs import gemini
from engine.codecs.validation import parse_body
from engine.errors import NotFound, ProxyError
from engine.frontends.base import Call, Frontend
from engine.model import ChatRequest, ImagePart, TextPart, ToolCallPart, ToolResultPart
from engine.response import ChatResponse

if TYPE_CHECKING:
    from quart import Quart

    from engine.server.app import Server

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


def _split(target: str) -> tuple[str, str]:
    model, _, action = target.rpartition(":")
    if not model or action not in ACTIONS:
        raise NotFound(
            f"POST {request.path}: expected models/MODEL:ACTION with ACTION one of "
            + ", ".join(ACTIONS),
            code="NOT_FOUND",
        )
    return model.removeprefix("models/"), action


def _is_gemini_client() -> bool:
    headers = request.headers
    bearer = headers.get("authorization", "").lower().startswith("bearer ")
    return not bearer and bool(headers.get("x-goog-api-key") or request.args.get("key"))


def count_tokens(body: Any, model: str) -> dict[str, Any]:
    """An estimate of `countTokens` (about four characters a token)."""
    if isinstance(body, dict) and isinstance(body.get("generateContentRequest"), dict):
        body = body["generateContentRequest"]
    if isinstance(body, dict) and "contents" not in body:
        body = {**body, "contents": []}
    chat = gemini.decode_request(body, model)
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
    return {"totalTokens": -(-chars // CHARS_PER_TOKEN)}


def mount(app: Quart, server: Server) -> None:
    """Add the Gemini endpoints under `/v1beta/models` and `/v1/models`."""

    def error(exc: ProxyError) -> Response:
        return server.refuse(FRONTEND, exc)

    async def generate(target: str) -> Response:
        # Read before answering even an unknown action: a body left unread ends the
        # kept-alive connection, and the client's next request on it would fail.
        raw = await request.get_data()
        try:
            model, action = _split(target)
            if action == "countTokens":
                return server.json(count_tokens(parse_body(raw), model))
        except ProxyError as exc:
            return error(exc)
        response = await server.handle(FRONTEND, model=model, action=action)
        json_array = action == "streamGenerateContent" and request.args.get("alt") != "sse"
        if json_array and response.mimetype == "text/event-stream":
            response.mimetype = "application/json"
        return response

    def listing() -> Response:
        models = [_model_object(m) for m in server.model_ids()]
        return server.json({"models": models})

    def one(model: str) -> Response:
        model = model.removeprefix("models/")
        if model not in server.model_ids():
            return error(NotFound(f"model models/{model} is not listed", code="NOT_FOUND"))
        return server.json(_model_object(model))

    @app.post("/v1beta/models/<path:target>")
    async def generate_beta(target: str) -> Response:
        return await generate(target)

    @app.post("/v1/models/<path:target>")
    async def generate_v1(target: str) -> Response:
        return await generate(target)

    @app.get("/v1beta/models")
    async def list_beta() -> Response:
        return listing()

    @app.get("/v1beta/models/<path:model>")
    async def get_beta(model: str) -> Response:
        return one(model)

    @app.before_request
    async def gemini_models_under_v1() -> Response | None:
        # `GET /v1/models[/…]` belongs to OpenAI's front-end unless a Gemini SDK asks.
        if request.method != "GET" or not request.path.startswith("/v1/models"):
            return None
        if not _is_gemini_client():
            return None
        if request.path.rstrip("/") == "/v1/models":
            return listing()
        return one(request.path[len("/v1/models/") :])


def _decode(body: Any, call: Call) -> ChatRequest:
    return gemini.decode_request(
        body, call.path_params["model"], stream=call.path_params["action"] != "generateContent"
    )


def _encode(response: ChatResponse, request: ChatRequest) -> dict[str, Any]:
    return gemini.encode_response(response)


def _stream_encoder(chat: ChatRequest) -> gemini.StreamEncoder:
    # Built while the request is served: its `alt` picks SSE or Gemini's JSON array.
    return gemini.StreamEncoder(sse=request.args.get("alt") == "sse")


FRONTEND = Frontend(
    name="gemini",
    decode_request=_decode,
    encode_response=_encode,
    stream_encoder=_stream_encoder,
    encode_error=gemini.encode_error,
    mount=mount,
    path_prefixes=("/v1beta/",),
    path_pattern=re.compile(r"/v1/models/[^/]+:\w+"),  # Gemini's actions under OpenAI's /v1
)
