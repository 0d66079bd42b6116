"""Two `engine serve` processes on one store, as a user runs them: a session's command
given to one applies on the other, and survives a restart of both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai

from tests.agents.runner import Served, engine_serve

ROOT = Path(__file__).resolve().parents[2]
SESSION = {"x-session-id": "shared-session"}


def served(store: str) -> Iterator[Served]:
    return engine_serve(ROOT / "routes", {"ENGINE_STORE": store})


def ask(server: Served, text: str) -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="k", max_retries=0)
    with client:
        return client.chat.completions.create(
            model="mock-1",
            messages=[{"role": "user", "content": text}],
            extra_headers=SESSION,
        )


def test_a_session_is_shared_by_two_processes_and_kept_across_restarts(database: str) -> None:
    store = database
    with served(store) as one, served(store) as two:
        set_model = ask(one, "!/model(mock:picked-model)")
        assert "mock:picked-model" in (set_model.choices[0].message.content or "")
        assert ask(two, "hello").model == "picked-model"
        assert ask(one, "hello").model == "picked-model"
    with served(store) as restarted:
        assert ask(restarted, "hello").model == "picked-model"
        ask(restarted, "!/model()")
        assert ask(restarted, "hello").model == "mock-1"
