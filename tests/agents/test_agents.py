"""Claude Code, Codex CLI and Gemini CLI, with their defaults, against `engine serve`.

Each agent talks to its own front-end (Anthropic Messages, OpenAI Responses, Gemini) with
the settings the README gives, and each gets a text reply and a tool round trip (the
agent runs a shell command and sends its output back) from three backends: the built-in
mock, a fake Anthropic API and a fake OpenAI Chat Completions API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.agents import runner
from tests.agents.runner import TOOL_COMMAND, TOOL_OUTPUT, Served
from tests.support import fake_anthropic, fake_openai

ROUTES = """\
version: 1
backends:
  mock: {kind: mock}
  claude: {kind: anthropic, base_url: "${AGENTS_ANTHROPIC}", api_key: upstream-key}
  openai: {kind: openai, base_url: "${AGENTS_OPENAI}/v1", api_key: upstream-key}
stages:
  tools-as-xml: {use: vtc, with: {backend_tools: xml}}
routes:
  - name: no-native-tools
    match: {model: "via-xml*"}
    request: [tools-as-xml]
    response: [tools-as-xml, tool_safety]
    backend: {targets: ["openai:gpt-up"]}
  - {name: anthropic, match: {model: "via-anthropic*"}, backend: {targets: ["claude:claude-up"]}}
  - {name: openai, match: {model: "via-openai*"}, backend: {targets: ["openai:gpt-up"]}}
  - {name: default, match: {model: "*"}, request: [commands], backend: {targets: [mock]}}
"""
# The shell tool of each agent, and the arguments that run TOOL_COMMAND with it.
SHELL = {
    "claude": ("Bash", {"command": TOOL_COMMAND, "description": "Multiply"}),
    "codex": ("exec_command", {"cmd": TOOL_COMMAND}),
    "gemini": ("run_shell_command", {"command": TOOL_COMMAND}),
}
RUNS: dict[str, Callable[..., Any]] = {
    "claude": lambda *a, **k: runner.claude(*a, **k)["result"],
    "codex": runner.codex,
    "gemini": runner.gemini,
}
# With the mock, each agent asks for the model it asks for by default (Codex for the one
# the README's config.toml names).
MOCK_MODEL = {"claude": None, "codex": "mock-1", "gemini": None}


@pytest.fixture(scope="module")
def installed() -> None:
    """The pinned agents, installed with npm (once per lockfile)."""
    runner.install_agents()


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[fake_anthropic.FakeAnthropic, fake_openai.FakeProvider]]:
    with fake_anthropic.FakeAnthropic() as claude, fake_openai.FakeProvider() as openai:
        yield claude, openai


@pytest.fixture(scope="module")
def served(
    installed: None,
    fakes: tuple[fake_anthropic.FakeAnthropic, fake_openai.FakeProvider],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    routes = tmp_path_factory.mktemp("agent-routes")
    (routes / "routes.yaml").write_text(ROUTES, encoding="utf-8")
    env = {"AGENTS_ANTHROPIC": fakes[0].url, "AGENTS_OPENAI": fakes[1].url}
    with ExitStack() as stack:
        yield stack.enter_context(runner.engine_serve(routes, env))


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    """A fresh home and workspace for one run."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    return {"home": home, "work": work}


def ask(agent: str, prompt: str, served: Served, model: str | None, places: dict[str, Path]) -> str:
    reply: str = RUNS[agent](prompt, base_url=served.base_url, model=model, **places)
    return reply


@pytest.fixture
def no_errors(served: Served) -> Callable[[], None]:
    """`no_errors()`: no request the agent made in this test was refused or failed."""
    start = len(served.log)

    def check() -> None:
        lines = served.log[start:]
        bad = [line for line in lines if " ERROR " in line or "WARNING engine.server" in line]
        assert not bad, "\n".join(bad)

    return check


AGENTS = pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])


@AGENTS
def test_a_text_reply_from_the_mock(
    agent: str, served: Served, places: dict[str, Path], no_errors: Callable[[], None]
) -> None:
    assert ask(agent, "hi", served, MOCK_MODEL[agent], places) == "You said: hi"
    no_errors()


@AGENTS
def test_a_tool_round_trip_with_the_mock(
    agent: str, served: Served, places: dict[str, Path], no_errors: Callable[[], None]
) -> None:
    name, arguments = SHELL[agent]
    prompt = f"call {name} {json.dumps(arguments)}"

    reply = ask(agent, prompt, served, MOCK_MODEL[agent], places)

    # The mock answers a tool result with `Tool NAME returned: OUTPUT`.
    assert reply.startswith(f"Tool {name} returned:"), reply
    assert TOOL_OUTPUT in reply
    no_errors()


def _scripted_text(upstream: str, fakes: Any, text: str) -> Any:
    claude, openai = fakes
    if upstream == "anthropic":
        return claude.script(fake_anthropic.Reply(fake_anthropic.Text(text)))
    return openai.script(fake_openai.Text(text))


def _scripted_call(upstream: str, fakes: Any, name: str, arguments: dict[str, Any]) -> None:
    claude, openai = fakes
    if upstream == "anthropic":
        call = fake_anthropic.ToolUse(name, json.dumps(arguments))
        claude.script(
            fake_anthropic.Reply(call), fake_anthropic.Reply(fake_anthropic.Text("Done."))
        )
    else:
        call = fake_openai.ToolCall(name, json.dumps(arguments))
        openai.script(fake_openai.ToolCalls(call), fake_openai.Text("Done."))


def _tool_results(upstream: str, fakes: Any) -> list[str]:
    """The tool results the fake received, as text."""
    claude, openai = fakes
    if upstream == "anthropic":
        found = []
        for recorded in claude.requests:
            for message in recorded.messages:
                for block in message["content"] if isinstance(message["content"], list) else ():
                    if block.get("type") == "tool_result":
                        content = block.get("content")
                        found.append(
                            json.dumps(content) if not isinstance(content, str) else content
                        )
        return found
    return [
        str(message.get("content"))
        for recorded in openai.requests
        for message in recorded.messages
        if message.get("role") == "tool"
    ]


UPSTREAMS = pytest.mark.parametrize("upstream", ["anthropic", "openai"])


@AGENTS
@UPSTREAMS
def test_a_text_reply_from_an_upstream(
    agent: str,
    upstream: str,
    served: Served,
    fakes: Any,
    places: dict[str, Path],
    no_errors: Callable[[], None],
) -> None:
    for fake in fakes:
        fake.reset()
    _scripted_text(upstream, fakes, f"Hello from {upstream}.")

    reply = ask(agent, "hi", served, f"via-{upstream}", places)

    assert reply == f"Hello from {upstream}."
    no_errors()


@AGENTS
@UPSTREAMS
def test_a_tool_round_trip_through_an_upstream(
    agent: str,
    upstream: str,
    served: Served,
    fakes: Any,
    places: dict[str, Path],
    no_errors: Callable[[], None],
) -> None:
    for fake in fakes:
        fake.reset()
    seen = len(_tool_results(upstream, fakes))
    name, arguments = SHELL[agent]
    _scripted_call(upstream, fakes, name, arguments)

    reply = ask(agent, "multiply six by seven with the shell", served, f"via-{upstream}", places)

    assert reply == "Done."
    results = _tool_results(upstream, fakes)[seen:]
    assert results and TOOL_OUTPUT in results[-1], results
    no_errors()


def _xml_call(name: str, arguments: dict[str, Any]) -> str:
    """A call as a model without native tools writes it, after the instructions `vtc` gave."""
    parameters = "".join(
        f'<parameter name="{key}">{value}</parameter>\n' for key, value in arguments.items()
    )
    return (
        f'Running it.\n<function_calls>\n<invoke name="{name}">\n{parameters}</invoke>\n'
        "</function_calls>"
    )


def _writes_xml(fakes: Any, reply: str, *, then: str) -> tuple[fake_openai.FakeProvider, int]:
    """The fake OpenAI upstream scripted to answer `reply`, then `then`; and how many
    requests it had received before (an earlier agent's late ones stay on its record)."""
    _, openai = fakes
    openai.reset()
    openai.script(fake_openai.Text(reply), fake_openai.Text(then))
    return openai, len(openai.requests)


@AGENTS
def test_a_tool_round_trip_through_a_backend_without_tool_calling(
    agent: str,
    served: Served,
    fakes: Any,
    places: dict[str, Path],
    no_errors: Callable[[], None],
) -> None:
    name, arguments = SHELL[agent]
    openai, seen = _writes_xml(fakes, _xml_call(name, arguments), then="Done.")

    reply = ask(agent, "multiply six by seven with the shell", served, "via-xml", places)

    assert reply == "Done."
    first, *rest = openai.requests[seen:]
    assert "tools" not in first.json and f"## {name}" in json.dumps(first.json)
    results = [str(m.get("content")) for r in rest for m in r.messages if m["role"] == "user"]
    assert any("<function_results>" in text and TOOL_OUTPUT in text for text in results), results
    no_errors()


@AGENTS
def test_a_dangerous_xml_call_never_reaches_the_agent(
    agent: str,
    served: Served,
    fakes: Any,
    places: dict[str, Path],
    no_errors: Callable[[], None],
) -> None:
    name, arguments = SHELL[agent]
    key = "cmd" if "cmd" in arguments else "command"
    dangerous = {**arguments, key: "git reset --hard HEAD~5"}
    openai, seen = _writes_xml(fakes, _xml_call(name, dangerous), then="Unexpected.")

    reply = ask(agent, "throw my work away", served, "via-xml", places)

    assert "git reset --hard HEAD~5" in reply and "was stopped" in reply, reply
    sent = [str(m.get("content")) for r in openai.requests[seen:] for m in r.messages]
    assert sent and not any("<function_results>" in text for text in sent)  # it ran nothing
    no_errors()
