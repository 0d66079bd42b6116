"""The OpenAI Chat Completions front-end: `POST /v1/chat/completions`, `GET /v1/models`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Response

from engine.codecs import openai_chat
from engine.errors import NotFound
from engine.frontends.base import Call, Frontend
from engine.model import ChatRequest
from engine.response import ChatResponse

if TYPE_CHECKING:
    from quart import Quart

    from engine.server.app import Server


def _model_object(model: str) -> dict[str, Any]:
    owner = model.partition(":")[0] if ":" in model else "engine"
    return {"id": model, "object": "model", "created": 0, "owned_by": owner}


def mount(app: Quart, server: Server) -> None:
    """Add the Chat Completions and model-listing endpoints."""

    @app.post("/v1/chat/completions")
    async def chat_completions() -> Response:
        return await server.handle(FRONTEND)

    @app.get("/v1/models")
    async def models() -> Response:
        data = [_model_object(model) for model in server.model_ids()]
        return server.json({"object": "list", "data": data})

    @app.get("/v1/models/<path:model>")
    async def model(model: str) -> Response:
        if model not in server.model_ids():
            error = NotFound(f"model {model!r} is not listed", code="model_not_found")
            return server.refuse(FRONTEND, error)
        return server.json(_model_object(model))


def _decode(body: Any, call: Call) -> ChatRequest:
    return openai_chat.decode_request(body)


def _encode(response: ChatResponse, request: ChatRequest) -> dict[str, Any]:
    return openai_chat.encode_response(response)


FRONTEND = Frontend(
    name="openai_chat",
    decode_request=_decode,
    encode_response=_encode,
    stream_encoder=lambda request: openai_chat.StreamEncoder(include_usage=request.include_usage),
    encode_error=openai_chat.encode_error,
    mount=mount,
    path_prefixes=("/v1/",),
)
