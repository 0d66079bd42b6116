"""Two `engine serve` processes on one store, as a user runs them: a session's command
given to one applies on the other, and survives a restart of both; a client key's rate
limit is one limit across both."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from engine.cli import main
from tests.agents.runner import Served, engine_serve
from tests.support.minutes import within_one_minute

ROOT = Path(__file__).resolve().parents[2]
SESSION = {"x-session-id": "shared-session"}


def served(store: str, *options: str) -> Iterator[Served]:
    return engine_serve(ROOT / "routes", {"ENGINE_STORE": store}, *options)


def ask(server: Served, text: str, key: str = "k") -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0)
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


def test_a_keys_rate_limit_is_enforced_across_two_processes(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with served(database, "--require-keys") as one, served(database, "--require-keys") as two:

        def two_then_refused() -> None:
            name = f"k{time.monotonic_ns()}"
            assert main(["keys", "add", name, "--rpm", "2", "--store", database]) == 0
            key = capsys.readouterr().out.strip()
            ask(one, "hello", key)
            ask(two, "hello", key)
            with pytest.raises(openai.RateLimitError) as refused:
                ask(one, "hello", key)
            assert refused.value.response.headers["retry-after"]

        within_one_minute(two_then_refused)
        with pytest.raises(openai.AuthenticationError):
            ask(two, "hello", "ek-AAAAAAAAAAAA-" + "B" * 43)
