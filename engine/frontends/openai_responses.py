"""The OpenAI Responses front-end: `POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`.

Completed responses are kept in the server's response store (unless the request says
`store: false`) with the conversation that led to them; a request naming one as
`previous_response_id` continues that conversation. As with OpenAI, the earlier request's
`instructions` are not carried over, but its system and developer input items are; a
continuation's own system items stay where they are, after the earlier turns.
"""

from __future__ import annotations

from typing import Any

from engine.codecs import openai_responses
from engine.codecs.openai_responses import PROTOCOL
from engine.errors import BadRequest, NotFound
from engine.exchange import Call
from engine.frontends.base import Endpoint, Frontend, Host, Reply
from engine.model import ChatRequest, Message, TextPart
from engine.response import ChatResponse
from engine.stored_responses import StoredResponse

# The front-end's own state in `ChatRequest.extra` (outside the codec's key, whose fields a
# Responses backend is sent): the id this request's response will carry, and how many of
# `request.system`'s parts come from `instructions` (those after them are input items).
_STATE = "openai_responses/frontend"


async def _create(call: Call, host: Host) -> Reply:
    return await host.chat(FRONTEND, call)


def _not_found(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id}' not found.", code="not_found")


async def _retrieve(call: Call, host: Host) -> Reply:
    await host.admit(FRONTEND, call, "stored_response")
    response_id = call.path_params["response_id"]
    stored = await host.responses.get(response_id)
    if stored is None:
        raise _not_found(response_id)
    return Reply(stored.body)


async def _delete(call: Call, host: Host) -> Reply:
    await host.admit(FRONTEND, call, "stored_response")
    response_id = call.path_params["response_id"]
    if not await host.responses.delete(response_id):
        raise _not_found(response_id)
    return Reply({"id": response_id, "object": "response.deleted", "deleted": True})


def _decode(body: Any, call: Call) -> ChatRequest:
    request = openai_responses.decode_request(body)
    instructions = body.get("instructions")
    request.extra[_STATE] = {
        "id": openai_responses.new_response_id(),
        "instructions": 1 if instructions else 0,  # the decoder checked it is a string
    }
    return request


async def _prepare(request: ChatRequest, host: Host) -> ChatRequest:
    """Prepend the conversation `previous_response_id` names. One the proxy does not
    hold may be held by the provider: a Responses backend is asked to continue it, any
    other backend refuses it (404)."""
    previous = request.extra[PROTOCOL].get("previous_response_id")
    if previous is None:
        return request
    if not isinstance(previous, str):
        raise BadRequest("'previous_response_id' must be a string", param="previous_response_id")
    stored = await host.responses.get(previous)
    if stored is None:
        return request.model_copy(update={"continuation": previous})
    instructions, new_system = _split_system(request)
    earlier = stored.messages
    earlier_system: list[TextPart] = []  # the first request's system items, stored as a turn
    if earlier and earlier[0].role == "system":
        parts = earlier[0].content
        if all(isinstance(p, TextPart) for p in parts):
            earlier_system, earlier = [p for p in parts if isinstance(p, TextPart)], earlier[1:]
    messages = [*earlier, *_system_turn(new_system), *request.messages]
    openai_responses.name_tool_results(messages)
    return request.model_copy(
        update={
            "system": [*instructions, *earlier_system],
            "messages": messages,
            "continuation": stored.continuation,
        }
    )


async def _complete(request: ChatRequest, body: dict[str, Any], host: Host) -> None:
    """Store a finished response with its conversation, unless the client said not to."""
    if body.get("status") not in ("completed", "incomplete") or not body.get("store", True):
        return
    output = openai_responses.decode_items(body.get("output") or [], "output")
    _, system_items = _split_system(request)
    await host.responses.put(
        StoredResponse(
            id=body["id"],
            body=body,
            messages=[*_system_turn(system_items), *request.messages, *output],
            continuation=request.continuation,
        )
    )


def _split_system(request: ChatRequest) -> tuple[list[TextPart], list[TextPart]]:
    """`request.system` as the parts from `instructions` and those from input items."""
    count = request.extra[_STATE]["instructions"]
    return request.system[:count], request.system[count:]


def _system_turn(parts: list[TextPart]) -> list[Message]:
    return [Message(role="system", content=[*parts])] if parts else []


def _encode(response: ChatResponse, request: ChatRequest) -> dict[str, Any]:
    return openai_responses.encode_response(response, request, request.extra[_STATE]["id"])


def _stream_encoder(request: ChatRequest, call: Call) -> openai_responses.StreamEncoder:
    return openai_responses.StreamEncoder(request, request.extra[_STATE]["id"])


FRONTEND = Frontend(
    name="openai_responses",
    decode_request=_decode,
    encode_response=_encode,
    stream_encoder=_stream_encoder,
    encode_error=openai_responses.encode_error,
    endpoints=(
        Endpoint("POST", "/v1/responses", _create),
        Endpoint("GET", "/v1/responses/<response_id>", _retrieve),
        Endpoint("DELETE", "/v1/responses/<response_id>", _delete),
    ),
    path_prefixes=("/v1/",),
    prepare=_prepare,
    complete=_complete,
)
