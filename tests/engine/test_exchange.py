"""The exchange: the client's key from each SDK's header, typed per-call state, targets."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from engine.exchange import Call, Target
from engine.testing import make_context, request


@pytest.mark.parametrize(
    ("headers", "query", "key"),
    [
        ({"authorization": "Bearer sk-openai"}, {}, "sk-openai"),
        ({"authorization": "bearer  sk-lower "}, {}, "sk-lower"),
        ({"x-api-key": "sk-ant"}, {}, "sk-ant"),
        ({"x-goog-api-key": "AIza-header"}, {}, "AIza-header"),
        ({}, {"key": "AIza-query"}, "AIza-query"),
        ({"authorization": "Basic dXNlcg=="}, {}, None),
        ({}, {}, None),
    ],
)
def test_the_client_key_comes_from_whichever_place_its_sdk_uses(
    headers: dict[str, str], query: dict[str, str], key: str | None
) -> None:
    assert Call(headers=headers, query=query).client_key == key


def test_path_parameters_are_added_to_a_copy() -> None:
    call = Call(path="/v1beta/models/m:generateContent", path_params={"target": "m:x"})
    more = call.with_params(model="m", action="x")
    assert more.path_params == {"target": "m:x", "model": "m", "action": "x"}
    assert call.path_params == {"target": "m:x"} and more.path == call.path


@dataclass
class Seen:
    """A stage's per-call state."""

    texts: list[str] = field(default_factory=list)


def test_local_state_is_one_instance_of_its_kind_per_exchange() -> None:
    first, second = make_context(request("hi")), make_context(request("hi"))
    first.local(Seen).texts.append("a")
    assert first.local(Seen).texts == ["a"]
    assert second.local(Seen).texts == []


def test_one_target_is_a_list_of_one() -> None:
    ctx = make_context(request("hi"))
    assert ctx.target is None and ctx.targets is None
    ctx.target = Target("a", "m")
    assert ctx.targets == [Target("a", "m")]
    ctx.targets = [Target("b", "x"), Target("c", "y")]
    assert ctx.target == Target("b", "x")
    ctx.target = None
    assert ctx.targets is None
