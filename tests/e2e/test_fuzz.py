"""Hostile bodies against every front-end: each answer is a 2xx or a 4xx in the front-end's
own error shape, and the server logs no error (no traceback) for any of them.

A valid seed per front-end is mutated at every place (tests/support/hostile.py), some 600
bodies each; the bodies go in turn to the mock backend and to fakes of the OpenAI,
Anthropic and Gemini APIs, so every backend encoder sees hostile canonical requests too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_gemini import FakeGemini
from tests.support.fake_openai import FakeProvider
from tests.support.hostile import Hostile, hostile_bodies
from tests.support.proxy import Proxy

SEED_MODEL = "fuzz-model"
# Each body goes to one of these in turn: the mock and one fake per backend protocol.
MODELS = ("mock-1", "to-openai", "to-anthropic", "to-gemini")
ROUTES = """\
version: 1
backends:
  mock: {kind: mock}
  openai: {kind: openai, base_url: "${FUZZ_OPENAI}/v1", api_key: k}
  anthropic: {kind: anthropic, base_url: "${FUZZ_ANTHROPIC}", api_key: k}
  gemini: {kind: gemini, base_url: "${FUZZ_GEMINI}", api_key: k}
routes:
  - {name: openai, match: {model: to-openai}, backend: {targets: ["openai:gpt-4o"]}}
  - {name: anthropic, match: {model: to-anthropic}, backend: {targets: ["anthropic:claude-x"]}}
  - {name: gemini, match: {model: to-gemini}, backend: {targets: ["gemini:gemini-x"]}}
  - {name: rest, match: {model: "*"}, request: [commands], backend: {targets: [mock]}}
"""

TOOL = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "depth": {"type": "integer"}},
    "required": ["path"],
}
IMAGE = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True)
class Frontend:
    """How to send a body to one front-end and recognise its error shape."""

    name: str
    path: str
    seed: dict[str, Any]
    is_error_shape: Callable[[Any], bool]
    headers: dict[str, str]


def _openai_error(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and isinstance(error.get("message"), str)


def _anthropic_error(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and body.get("type") == "error"
        and isinstance(body.get("error"), dict)
        and isinstance(body["error"].get("message"), str)
    )


def _gemini_error(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and isinstance(error.get("code"), int)


CHAT_SEED: dict[str, Any] = {
    "model": SEED_MODEL,
    "messages": [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE}"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "read", "arguments": '{"path": "a"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "contents"},
        {"role": "user", "content": "and now?"},
    ],
    "tools": [{"type": "function", "function": {"name": "read", "parameters": TOOL}}],
    "tool_choice": "auto",
    "temperature": 0.5,
    "max_tokens": 50,
    "stream": True,
    "stream_options": {"include_usage": True},
}

RESPONSES_SEED: dict[str, Any] = {
    "model": SEED_MODEL,
    "instructions": "Be brief.",
    "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "look"}]},
        {"type": "function_call", "call_id": "call_1", "name": "read", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "contents"},
        {"role": "user", "content": "and now?"},
    ],
    "tools": [{"type": "function", "name": "read", "parameters": TOOL}],
    "reasoning": {"effort": "low"},
    "max_output_tokens": 50,
    "text": {"format": {"type": "text"}},
    "stream": True,
}

ANTHROPIC_SEED: dict[str, Any] = {
    "model": SEED_MODEL,
    "max_tokens": 50,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": IMAGE},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "read", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}],
        },
    ],
    "tools": [{"name": "read", "input_schema": TOOL}],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "stream": True,
}

GEMINI_SEED: dict[str, Any] = {
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "contents": [
        {
            "role": "user",
            "parts": [{"text": "look"}, {"inlineData": {"mimeType": "image/png", "data": IMAGE}}],
        },
        {"role": "model", "parts": [{"functionCall": {"name": "read", "args": {"path": "a"}}}]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "read", "response": {"output": "x"}}}],
        },
    ],
    "tools": [{"functionDeclarations": [{"name": "read", "parametersJsonSchema": TOOL}]}],
    "generationConfig": {"temperature": 0.5, "maxOutputTokens": 50},
}

FRONTENDS = [
    Frontend(
        "openai_chat",
        "/v1/chat/completions",
        CHAT_SEED,
        _openai_error,
        {"authorization": "Bearer k"},
    ),
    Frontend(
        "openai_responses",
        "/v1/responses",
        RESPONSES_SEED,
        _openai_error,
        {"authorization": "Bearer k"},
    ),
    Frontend(
        "anthropic",
        "/anthropic/v1/messages",
        ANTHROPIC_SEED,
        _anthropic_error,
        {"x-api-key": "k", "anthropic-version": "2023-06-01"},
    ),
    Frontend(
        "gemini",
        f"/v1beta/models/{SEED_MODEL}:streamGenerateContent?alt=sse",
        GEMINI_SEED,
        _gemini_error,
        {"x-goog-api-key": "k"},
    ),
]


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def fuzz_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """The proxy on ROUTES, with one fake per backend protocol."""
    with ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        for variable, fake in {
            "FUZZ_OPENAI": FakeProvider(),
            "FUZZ_ANTHROPIC": FakeAnthropic(),
            "FUZZ_GEMINI": FakeGemini(),
        }.items():
            env.setenv(variable, stack.enter_context(fake).url)
        routes: Path = tmp_path_factory.mktemp("fuzz")
        (routes / "routes.yaml").write_text(ROUTES, encoding="utf-8")
        yield stack.enter_context(Proxy(routes, watch=False))


@pytest.fixture
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)


def _send(
    http: httpx.Client, frontend: Frontend, hostile: Hostile, model: str, *, stream: bool
) -> str | None:
    """What is wrong with the proxy's answer to one hostile body, or None."""
    raw = hostile.raw.replace(f'"{SEED_MODEL}"'.encode(), f'"{model}"'.encode())
    path = frontend.path.replace(SEED_MODEL, model)
    if not stream:
        raw = raw.replace(b'"stream": true', b'"stream": false')
        path = path.replace(":streamGenerateContent?alt=sse", ":generateContent")
    headers = {"content-type": "application/json", **frontend.headers}
    response = http.post(path, content=raw, headers=headers)
    status = response.status_code
    if status >= 500 or status not in (200, 400, 404, 413, 422):
        return f"status {status}: {response.text[:300]}"
    if status >= 400:
        try:
            body = response.json()
        except ValueError:
            return f"status {status} with a body that is not JSON: {response.text[:200]}"
        if not frontend.is_error_shape(body):
            return f"status {status} not in {frontend.name}'s error shape: {response.text[:200]}"
    elif "internal error" in response.text or "stage_error" in response.text:
        return f"a 200 carrying an internal error: {response.text[-300:]}"
    return None


@pytest.mark.parametrize("frontend", FRONTENDS, ids=lambda f: f.name)
def test_hostile_bodies_get_an_answer_or_a_4xx_in_the_frontends_shape(
    fuzz_proxy: Proxy, error_log: ErrorLog, frontend: Frontend
) -> None:
    bodies = hostile_bodies(frontend.seed)
    assert len(bodies) > 300, "the seed is too small to fuzz much"
    problems: list[str] = []
    with httpx.Client(base_url=fuzz_proxy.base_url, timeout=30) as http:
        for i, hostile in enumerate(bodies):
            # Each body to the next backend; every other round of backends streams.
            model, stream = MODELS[i % len(MODELS)], (i // len(MODELS)) % 2 == 0
            problem = _send(http, frontend, hostile, model, stream=stream)
            if problem is not None:
                problems.append(f"{hostile.name} -> {model} (stream={stream}): {problem}")

    logged = [f"{r.name}: {r.getMessage()[:200]}" for r in error_log.records]
    assert not problems, f"{len(problems)} of {len(bodies)} bodies:\n" + "\n".join(problems[:40])
    assert not logged, "errors logged:\n" + "\n".join(logged[:20])


# Values of the right JSON shape that each provider still refuses, in its front-end.
INVALID = [
    ("openai_chat", {"stream": "false"}, "stream"),
    ("openai_chat", {"max_tokens": -5}, "max_tokens"),
    ("openai_chat", {"max_completion_tokens": 0}, "max_completion_tokens"),
    ("openai_chat", {"temperature": 2.5}, "temperature"),
    ("openai_chat", {"top_p": True}, "top_p"),
    ("openai_chat", {"stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
    ("openai_chat", {"parallel_tool_calls": "no"}, "parallel_tool_calls"),
    ("openai_responses", {"stream": "false"}, "stream"),
    ("openai_responses", {"max_output_tokens": -1}, "max_output_tokens"),
    ("openai_responses", {"temperature": -0.1}, "temperature"),
    ("openai_responses", {"metadata": ["a"]}, "metadata"),
    ("anthropic", {"stream": "false"}, "stream"),
    ("anthropic", {"max_tokens": -1}, "max_tokens"),
    ("anthropic", {"temperature": 1.5}, "temperature"),
    ("anthropic", {"top_k": -1}, "top_k"),
    ("anthropic", {"thinking": {"type": "enabled", "budget_tokens": 10}}, "thinking.budget_tokens"),
    ("gemini", {"generationConfig": {"maxOutputTokens": -1}}, "generationConfig.maxOutputTokens"),
    ("gemini", {"generationConfig": {"temperature": 3}}, "generationConfig.temperature"),
    ("gemini", {"generationConfig": {"topK": 1.5}}, "generationConfig.topK"),
]


@pytest.mark.parametrize(
    ("name", "override", "param"), INVALID, ids=[f"{n}-{p}" for n, _, p in INVALID]
)
def test_values_a_provider_refuses_are_a_400_naming_the_field(
    fuzz_proxy: Proxy, name: str, override: dict[str, Any], param: str
) -> None:
    frontend = next(f for f in FRONTENDS if f.name == name)
    body = {**frontend.seed, **override}
    path = frontend.path.replace(SEED_MODEL, "mock-1")
    response = httpx.post(
        fuzz_proxy.base_url + path, json=body, headers=frontend.headers, timeout=30
    )

    assert response.status_code == 400, response.text
    assert frontend.is_error_shape(response.json())
    assert param in response.text
