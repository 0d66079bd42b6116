"""The OpenAI Chat Completions front-end: `POST /v1/chat/completions`, `GET /v1/models`."""

from __future__ import annotations

from typing import Any

from engine.codecs import openai_chat
from engine.errors import NotFound
from engine.exchange import Call
from engine.frontends.base import Endpoint, Frontend, Host, Reply
from engine.model import ChatRequest
from engine.response import ChatResponse


def _model_object(model: str) -> dict[str, Any]:
    owner = model.partition(":")[0] if ":" in model else "engine"
    return {"id": model, "object": "model", "created": 0, "owned_by": owner}


async def _chat(call: Call, host: Host) -> Reply:
    return await host.chat(FRONTEND, call)


async def _models(call: Call, host: Host) -> Reply:
    data = [_model_object(model) for model in await host.models(FRONTEND, call)]
    return Reply({"object": "list", "data": data})


async def _model(call: Call, host: Host) -> Reply:
    model = call.path_params["model"]
    if model not in await host.models(FRONTEND, call):
        raise NotFound(f"model {model!r} is not listed", code="model_not_found")
    return Reply(_model_object(model))


def _decode(body: Any, call: Call) -> ChatRequest:
    return openai_chat.decode_request(body)


def _encode(response: ChatResponse, request: ChatRequest) -> dict[str, Any]:
    return openai_chat.encode_response(response)


def _stream_encoder(request: ChatRequest, call: Call) -> openai_chat.StreamEncoder:
    return openai_chat.StreamEncoder(include_usage=request.include_usage)


FRONTEND = Frontend(
    name="openai_chat",
    decode_request=_decode,
    encode_response=_encode,
    stream_encoder=_stream_encoder,
    encode_error=openai_chat.encode_error,
    endpoints=(
        Endpoint("POST", "/v1/chat/completions", _chat),
        Endpoint("GET", "/v1/models", _models),
        Endpoint("GET", "/v1/models/", _models),
        Endpoint("GET", "/v1/models/<path:model>", _model),
    ),
    path_prefixes=("/v1/",),
)
