"""Every example is checked, and every client snippet runs against a live `engine serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cli import main as engine_cli

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "examples" / "clients"

# What each snippet must print: the mock backend's deterministic answers to it.
EXPECTED_OUTPUT = {
    "anthropic_sdk.py": [
        "plain: You said: Hello, Claude proxy!",
        "streamed: You said: Stream this back",
        "tool call: get_weather {'city': 'Paris'}",
        "after tool: Tool get_weather returned: 18°C and sunny",
        "tokens: True",
        "models: ['mock:mock-1'",
    ],
    "openai_chat.py": [
        "plain: You said: Hello, proxy!",
        "streamed: You said: Stream this back to me",
        "tool call: get_weather {'city': 'Paris'}",
        "after tool: Tool ",
        "returned: 18°C and sunny",
    ],
    "openai_async_commands.py": [
        "'!/help' -> gpt-4o-mini: Commands:",
        "'!/model(mock:mock-1)' -> gpt-4o-mini: Model set to mock:mock-1 for this session.",
        "'!/model' -> gpt-4o-mini: Model override: mock:mock-1.",
        "'Which model is this?' -> mock-1: You said: Which model is this?",
    ],
    "curl.sh": ['"content":"You said: Hello from curl"', "data: [DONE]", '"id":"mock:mock-1"'],
    "gemini_sdk.py": [
        "plain: You said: Hello, Gemini proxy!",
        "streamed: You said: Stream this back",
        "tool call: get_weather {'city': 'Paris'}",
        'after tool: Tool get_weather returned: {"result":"18°C and sunny in Paris"}',
        "models: ['models/mock:mock-1'",
    ],
    "openai_responses.py": [
        "plain: You said: Hello, responses!",
        "streamed: You said: Stream this response (",
        "tool call: get_weather {'city': 'Paris'}",
        "after tool: Tool get_weather returned: 18°C and sunny",
        "stored: True",
    ],
}


def test_every_snippet_has_expectations() -> None:
    assert sorted(p.name for p in CLIENTS.iterdir() if p.is_file()) == sorted(EXPECTED_OUTPUT)


def test_routes_and_examples_check_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert engine_cli(["check", str(ROOT / "routes"), str(ROOT / "examples")]) == 0
    assert capsys.readouterr().out.strip() == "ok"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`engine serve` on routes/, as a user starts it; the base URL once it listens."""
    port = _free_port()
    store = tmp_path_factory.mktemp("store") / "engine.db"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "serve",
            "--routes",
            "routes",
            "--port",
            str(port),
            "--no-reload",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENAI_API_KEY": "", "ENGINE_STORE": f"sqlite:///{store}"},
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # hypercorn logs "Running on …" once it listens
        seen.append(line)
        if "Running on" in line:
            break
    else:
        pytest.fail("engine serve exited before listening:\n" + "".join(seen))
    # Keep reading its log so that the server never blocks on a full pipe.
    drain = threading.Thread(target=process.stderr.read, daemon=True)
    drain.start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)
        drain.join(timeout=10)
        process.stderr.close()


@pytest.mark.parametrize("snippet", sorted(EXPECTED_OUTPUT))
def test_client_snippet_runs(served: str, snippet: str) -> None:
    path = CLIENTS / snippet
    command = ["bash", str(path)] if path.suffix == ".sh" else [sys.executable, str(path)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ENGINE_BASE_URL": served},
    )
    assert result.returncode == 0, result.stderr
    for expected in EXPECTED_OUTPUT[snippet]:
        assert expected in result.stdout
