"""model_rewrite: aliases and parameter overrides, as tables through the stage harness."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from engine.model import ChatRequest, Reasoning, Sampling
from engine.stage import registry
from engine.testing import make_context, run_request, user
from stages.model_rewrite import ModelRewrite


def rewrite(*rules: dict[str, Any]) -> ModelRewrite:
    return ModelRewrite(ModelRewrite.Config.model_validate({"rules": list(rules)}))


async def rewritten(stage: ModelRewrite, request: ChatRequest) -> ChatRequest:
    ctx = make_context(request)
    assert await run_request(stage, ctx) is None
    return ctx.request


@pytest.mark.parametrize(
    ("rules", "model", "expected"),
    [
        pytest.param(
            [{"from": "claude-*", "to": "claude:claude-sonnet-4-5"}],
            "claude-3-opus",
            "claude:claude-sonnet-4-5",
            id="glob",
        ),
        pytest.param(
            [{"from": "claude-*", "to": "claude:x"}], "gpt-4o", "gpt-4o", id="glob-no-match"
        ),
        pytest.param(
            [{"from": "claude-*", "to": "claude:x"}],
            "my-claude-3",
            "my-claude-3",
            id="glob-is-anchored",
        ),
        pytest.param(
            [{"from": "Claude-*", "to": "claude:x"}],
            "claude-3",
            "claude-3",
            id="glob-case-sensitive",
        ),
        pytest.param(
            [{"from": "gpt-?", "to": "openai:gpt-5"}], "gpt-4", "openai:gpt-5", id="glob-?"
        ),
        pytest.param(
            [{"from": "o[134]-mini", "to": "openai:o4-mini"}],
            "o3-mini",
            "openai:o4-mini",
            id="glob-set",
        ),
        pytest.param(
            [{"from": "*sonnet*", "to": "claude:claude-sonnet-4-5"}],
            "anthropic/claude-sonnet-4",
            "claude:claude-sonnet-4-5",
            id="glob-two-stars",
        ),
        pytest.param([{"from": "fast", "to": "demo:mock-1"}], "fast", "demo:mock-1", id="alias"),
        pytest.param(
            [{"from": {"regex": r"gpt-(\d+)"}, "to": r"openai:gpt-\1-turbo"}],
            "gpt-4",
            "openai:gpt-4-turbo",
            id="regex-group",
        ),
        pytest.param(
            [
                {
                    "from": {"regex": r"(?P<vendor>\w+)/(?P<name>.+)"},
                    "to": r"openrouter:\g<vendor>/\g<name>",
                }
            ],
            "anthropic/claude-opus-4",
            "openrouter:anthropic/claude-opus-4",
            id="regex-named-groups",
        ),
        pytest.param(
            [{"from": {"regex": r"gpt-4"}, "to": "openai:x"}],
            "gpt-4o",
            "gpt-4o",
            id="regex-full-match",
        ),
        pytest.param(
            [{"from": {"regex": r"a|b"}, "to": "openai:x"}],
            "b",
            "openai:x",
            id="regex-alternation-anchored",
        ),
        pytest.param(
            [{"from": {"regex": r"a|b"}, "to": "openai:x"}],
            "ab",
            "ab",
            id="regex-alternation-no-partial",
        ),
        pytest.param(
            [{"from": "*", "to": "first:m"}, {"from": "claude-*", "to": "second:m"}],
            "claude-3",
            "first:m",
            id="first-rule-wins",
        ),
        pytest.param(
            [{"from": "gpt-*", "to": "first:m"}, {"from": "claude-*", "to": "second:m"}],
            "claude-3",
            "second:m",
            id="later-rule-when-earlier-misses",
        ),
        pytest.param(
            [{"from": "claude-*", "set": {"temperature": 0}}, {"from": "*", "to": "never:m"}],
            "claude-3",
            "claude-3",
            id="rule-without-to-keeps-model-and-stops",
        ),
    ],
)
async def test_model(rules: list[dict[str, Any]], model: str, expected: str) -> None:
    request = await rewritten(rewrite(*rules), ChatRequest(model=model, messages=[user("hi")]))
    assert request.model == expected
    assert request.messages == [user("hi")]


@pytest.mark.parametrize(
    ("overrides", "sampling", "reasoning"),
    [
        pytest.param(
            {"temperature": 0.1, "max_tokens": 100},
            Sampling(temperature=0.1, top_p=0.5, max_tokens=100),
            None,
            id="sampling-merged-with-request",
        ),
        pytest.param(
            {"top_k": 40, "top_p": 0.9}, Sampling(top_p=0.9, top_k=40), None, id="top-k-top-p"
        ),
        pytest.param(
            {"reasoning_effort": "high"},
            Sampling(top_p=0.5),
            Reasoning(effort="high"),
            id="reasoning-effort",
        ),
        pytest.param(
            {"reasoning_effort": "minimal", "temperature": 1},
            Sampling(temperature=1, top_p=0.5),
            Reasoning(effort="minimal"),
            id="both",
        ),
        pytest.param({}, Sampling(top_p=0.5), None, id="nothing-to-set"),
    ],
)
async def test_parameter_overrides(
    overrides: dict[str, Any], sampling: Sampling, reasoning: Reasoning | None
) -> None:
    stage = rewrite({"from": "*", "to": "demo:m", "set": overrides})
    request = await rewritten(stage, ChatRequest(model="x", sampling=Sampling(top_p=0.5)))
    assert (request.model, request.sampling, request.reasoning) == ("demo:m", sampling, reasoning)


async def test_no_match_leaves_the_request_as_it_was() -> None:
    stage = rewrite({"from": "claude-*", "to": "c:m", "set": {"temperature": 0}})
    original = ChatRequest(model="gpt-4o", sampling=Sampling(temperature=1))
    assert await rewritten(stage, original) is original


@pytest.mark.parametrize(
    ("rules", "aliases"),
    [
        ([{"from": "fast", "to": "a:b"}, {"from": "smart", "to": "a:c"}], ["fast", "smart"]),
        (
            [
                {"from": "claude-*", "to": "a:b"},
                {"from": "gpt-?", "to": "a:b"},
                {"from": "o[13]", "to": "a:b"},
                {"from": {"regex": "fast"}, "to": "a:b"},
                {"from": "cheap", "to": "a:b"},
            ],
            ["cheap"],
        ),
    ],
)
def test_literal_names_are_model_aliases(rules: list[dict[str, Any]], aliases: list[str]) -> None:
    assert rewrite(*rules).models() == aliases


@pytest.mark.parametrize("regex", ["gpt-(", "[a-", "(?P<x>a)(?P<x>b)", "*"])
def test_invalid_regex_fails_at_construction(regex: str) -> None:
    with pytest.raises(ValueError, match="invalid regex"):
        rewrite({"from": {"regex": regex}, "to": "a:b"})


@pytest.mark.parametrize(
    ("source", "to"),
    [
        pytest.param({"regex": "gpt-(.*)"}, "m:\\2", id="number-too-high"),
        pytest.param({"regex": "gpt-(?P<size>.*)"}, "m:\\g<name>", id="unknown-name"),
        pytest.param("gpt-*", "m:\\1", id="glob-has-no-groups"),
    ],
)
def test_missing_group_reference_fails_at_construction(source: Any, to: str) -> None:
    with pytest.raises(ValueError, match="refers to group"):
        rewrite({"from": source, "to": to})


@pytest.mark.parametrize(
    ("source", "to", "model", "expected"),
    [
        pytest.param({"regex": "gpt-(.*)"}, "m:\\1", "gpt-4o", "m:4o", id="number"),
        pytest.param({"regex": "gpt-(?P<size>.*)"}, "m:\\g<size>", "gpt-4o", "m:4o", id="name"),
    ],
)
async def test_existing_group_references_expand(
    source: Any, to: str, model: str, expected: str
) -> None:
    request = await rewritten(rewrite({"from": source, "to": to}), ChatRequest(model=model))
    assert request.model == expected


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"rules": []}, id="no-rules"),
        pytest.param({"rules": [{"to": "a:b"}]}, id="rule-without-from"),
        pytest.param({"rules": [{"from": "*", "too": "a:b"}]}, id="unknown-rule-key"),
        pytest.param({"rules": [{"from": "*", "set": {"temprature": 1}}]}, id="unknown-parameter"),
        pytest.param(
            {"rules": [{"from": "*", "set": {"max_tokens": 0}}]}, id="max-tokens-not-positive"
        ),
        pytest.param(
            {"rules": [{"from": "*", "set": {"reasoning_effort": "max"}}]}, id="unknown-effort"
        ),
    ],
)
def test_invalid_config(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ModelRewrite.Config.model_validate(config)


def test_registered() -> None:
    assert registry()["model_rewrite"] is ModelRewrite


async def test_reasoning_effort_keeps_the_clients_budget() -> None:
    stage = rewrite({"from": "*", "set": {"reasoning_effort": "low"}})
    request = ChatRequest(model="x", reasoning=Reasoning(effort="high", budget_tokens=2048))
    rewritten_request = await rewritten(stage, request)
    assert rewritten_request.reasoning == Reasoning(effort="low", budget_tokens=2048)
