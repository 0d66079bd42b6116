"""Requests real coding agents sent by default, through every backend codec.

The bodies in tests/golden/clients were captured from the agents themselves (Claude Code
2.1.332 against the Anthropic front-end, Codex CLI 0.171.0 against the Responses one),
with ids made anonymous. Each decodes, encodes for every backend protocol, and says
exactly what a backend of another protocol leaves out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.codecs import anthropic, gemini, openai_chat, openai_responses
from engine.model import ChatRequest, ToolChoice
from engine.notes import Dropped

CLIENTS = Path(__file__).parents[2] / "golden" / "clients"


def captured(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((CLIENTS / name).read_text(encoding="utf-8"))["body"]
    return body


def claude_code() -> ChatRequest:
    return anthropic.decode_request(captured("claude_code_2.1.332.json"))


def codex() -> ChatRequest:
    return openai_responses.decode_request(captured("codex_0.171.0.json"))


def encoded(request: ChatRequest, backend: str) -> tuple[dict[str, Any], list[str]]:
    dropped = Dropped()
    if backend == "anthropic":
        body = anthropic.encode_request(request, "m", dropped=dropped)
    elif backend == "openai_chat":
        body = openai_chat.encode_request(request, "m", dropped=dropped)
    else:
        body = gemini.encode_request(request, dropped=dropped)
    json.dumps(body, allow_nan=False)  # what travels is JSON
    return body, list(dropped)


def test_claude_code_goes_back_to_anthropic_as_it_came() -> None:
    raw = captured("claude_code_2.1.332.json")
    body, dropped = encoded(claude_code(), "anthropic")

    assert dropped == []
    assert body == {**raw, "model": "m"}


def test_claude_code_decodes_its_system_turn_adaptive_thinking_and_deferred_tools() -> None:
    request = claude_code()

    assert [m.role for m in request.messages] == ["user", "system"]
    assert request.messages[1].text().startswith("# Environment")
    assert request.reasoning is not None and request.reasoning.effort == "medium"
    assert [t.name for t in request.tools if t.deferred] == ["DeferredToolPlaceholder"]
    assert request.client_only == ["context_management", "cache_control"]


@pytest.mark.parametrize("backend", ["openai_chat", "gemini"])
def test_claude_code_to_other_protocols_drops_what_only_anthropic_does(backend: str) -> None:
    body, dropped = encoded(claude_code(), backend)

    # OpenAI takes metadata only with `store: true`; Gemini has no place for it.
    assert dropped == ["deferred tools", "metadata", "context_management", "cache_control"]
    assert "DeferredToolPlaceholder" not in json.dumps(body)
    assert "cache_control" not in json.dumps(body)


def test_claude_code_system_turn_stays_in_place_for_openai() -> None:
    body, _ = encoded(claude_code(), "openai_chat")

    assert [m["role"] for m in body["messages"]] == ["system", "user", "system"]
    assert body["messages"][2]["content"].startswith("# Environment")
    assert body["reasoning_effort"] == "medium"


def test_claude_code_system_turn_joins_geminis_system_instruction() -> None:
    body, _ = encoded(claude_code(), "gemini")

    parts = body["systemInstruction"]["parts"]
    assert parts[-1]["text"].startswith("# Environment")
    assert [c["role"] for c in body["contents"]] == ["user"]


def test_codex_tools_become_flat_functions_and_its_web_search_a_hosted_tool() -> None:
    request = codex()

    names = [t.name for t in request.tools]
    assert "multi_agent_v1__spawn_agent" in names and "exec_command" in names
    assert [(t.kind, t.data) for t in request.hosted_tools] == [
        ("web_search", {"type": "web_search", "external_web_access": False})
    ]
    assert request.client_only == ["prompt_cache_key", "client_metadata"]
    # its developer messages are the system prompt
    assert request.system[0].text.startswith("You are a coding agent running in the Codex CLI")


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("openai_chat", ["web_search tool", "client_metadata"]),
        # Codex's read-only sandbox asks for a search of the cached index only.
        ("anthropic", ["web_search tool", "prompt_cache_key", "client_metadata"]),
        ("gemini", ["web_search tool", "prompt_cache_key", "client_metadata"]),
    ],
)
def test_codex_to_other_protocols_says_what_it_drops(backend: str, expected: list[str]) -> None:
    body, dropped = encoded(codex(), backend)

    assert dropped == expected
    assert "multi_agent_v1__close_agent" in json.dumps(body)


def test_codex_live_web_search_is_anthropics_own_web_search() -> None:
    raw = captured("codex_0.171.0.json")
    raw["tools"][-1]["external_web_access"] = True  # as Codex sends it with full access
    body, _ = encoded(openai_responses.decode_request(raw), "anthropic")

    assert body["tools"][-1] == {"type": "web_search_20250305", "name": "web_search"}


@pytest.mark.parametrize("backend", ["openai_chat", "gemini", "anthropic"])
def test_a_forced_tool_is_always_one_the_backend_is_offered(backend: str) -> None:
    deferred = claude_code().model_copy(
        update={"tool_choice": ToolChoice(mode="tool", name="DeferredToolPlaceholder")}
    )
    unknown = claude_code().model_copy(
        update={"tool_choice": ToolChoice(mode="tool", name="no_such_tool")}
    )

    body, _ = encoded(deferred, backend)
    assert "DeferredToolPlaceholder" in json.dumps(body.get("tools"))  # forced: offered after all
    body, dropped = encoded(unknown, backend)
    assert "tool_choice" in dropped and "no_such_tool" not in json.dumps(body)
