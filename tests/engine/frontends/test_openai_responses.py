"""The Responses front-end's hooks: continuing a stored conversation, and storing one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from engine.errors import BadRequest
from engine.frontends.base import Call
from engine.frontends.openai_responses import FRONTEND
from engine.model import Message, TextPart, ToolCallPart, ToolResultPart
from engine.response import ChatResponse
from engine.stored_responses import MemoryResponseStore, StoredResponse


def server() -> Any:
    """What the hooks use of the server: its response store."""
    return SimpleNamespace(responses=MemoryResponseStore())


def decode(**body: Any) -> Any:
    return FRONTEND.decode_request({"model": "m", "input": "hi", **body}, Call())


def test_each_request_gets_its_own_response_id() -> None:
    first, second = decode(), decode()
    ids = {r.extra["openai_responses/frontend"]["id"] for r in (first, second)}
    assert len(ids) == 2 and all(i.startswith("resp_") for i in ids)


async def test_prepare_prepends_the_stored_conversation_and_names_tool_results() -> None:
    srv = server()
    earlier = [
        Message(role="user", content=[TextPart(text="weather?")]),
        Message(role="assistant", content=[ToolCallPart(id="c1", name="get_weather")]),
    ]
    await srv.responses.put(StoredResponse(id="resp_1", body={}, messages=earlier))
    request = decode(
        previous_response_id="resp_1",
        input=[{"type": "function_call_output", "call_id": "c1", "output": "sunny"}],
    )

    assert FRONTEND.prepare is not None
    prepared = await FRONTEND.prepare(request, srv)

    assert prepared.messages[:2] == earlier
    (result,) = prepared.messages[2].content
    assert isinstance(result, ToolResultPart) and result.name == "get_weather"


async def test_prepare_refuses_a_malformed_id() -> None:
    assert FRONTEND.prepare is not None
    with pytest.raises(BadRequest) as caught:
        await FRONTEND.prepare(decode(previous_response_id=7), server())
    assert caught.value.param == "previous_response_id"


async def test_an_id_the_proxy_does_not_hold_is_left_to_the_provider() -> None:
    assert FRONTEND.prepare is not None
    prepared = await FRONTEND.prepare(decode(previous_response_id="resp_upstream"), server())
    assert prepared.continuation == "resp_upstream"
    assert [m.text() for m in prepared.messages] == ["hi"]


@pytest.mark.parametrize(
    ("store", "finish", "kept"),
    [(None, "stop", True), (False, "stop", False), (None, "length", True)],
)
async def test_complete_stores_finished_responses_unless_told_not_to(
    store: bool | None, finish: Any, kept: bool
) -> None:
    srv = server()
    request = decode(**({} if store is None else {"store": store}))
    body = FRONTEND.encode_response(
        ChatResponse(id="u", model="m", content=[TextPart(text="hello")], finish_reason=finish),
        request,
    )

    assert FRONTEND.complete is not None
    await FRONTEND.complete(request, body, srv)

    stored = await srv.responses.get(body["id"])
    assert (stored is not None) is kept
    if stored is not None:
        assert stored.body == body
        assert [m.role for m in stored.messages] == ["user", "assistant"]
        assert stored.messages[1].text() == "hello"


async def test_complete_skips_failed_responses() -> None:
    srv = server()
    request = decode()
    assert FRONTEND.complete is not None
    await FRONTEND.complete(request, {"id": "resp_x", "status": "failed", "output": []}, srv)
    assert len(srv.responses) == 0


def reply(text: str) -> ChatResponse:
    return ChatResponse(id="u", model="m", content=[TextPart(text=text)], finish_reason="stop")


async def turn(srv: Any, **body: Any) -> tuple[Any, dict[str, Any]]:
    """One request through the hooks as the server runs them: prepare, encode, complete."""
    assert FRONTEND.prepare is not None and FRONTEND.complete is not None
    request = await FRONTEND.prepare(decode(**body), srv)
    response = FRONTEND.encode_response(reply("ok"), request)
    await FRONTEND.complete(request, response, srv)
    return request, response


def developer(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "developer", "content": text}


async def test_system_input_items_carry_over_a_chain_and_instructions_do_not() -> None:
    srv = server()
    _, first = await turn(srv, instructions="be brief", input=[developer("rules")])
    second, reply2 = await turn(
        srv,
        instructions="be kind",
        previous_response_id=first["id"],
        input=[developer("more rules"), {"role": "user", "content": "and?"}],
    )

    assert [p.text for p in second.system] == ["be kind", "rules"]
    # The continuation's own system item stays after the earlier turns.
    assert [(m.role, m.text()) for m in second.messages] == [
        ("assistant", "ok"),
        ("system", "more rules"),
        ("user", "and?"),
    ]

    third, _ = await turn(srv, previous_response_id=reply2["id"], input="again")
    assert [p.text for p in third.system] == ["rules"]
    assert [m.role for m in third.messages] == ["assistant", "system", "user", "assistant", "user"]


async def test_a_chain_begun_from_a_provider_held_response_keeps_continuing_it() -> None:
    srv = server()
    first, reply1 = await turn(srv, previous_response_id="resp_upstream", input="one")
    second, _ = await turn(srv, previous_response_id=reply1["id"], input="two")

    assert first.continuation == second.continuation == "resp_upstream"
    assert [m.text() for m in second.messages] == ["one", "ok", "two"]
