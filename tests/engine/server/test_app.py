"""The server's stream path, in process: what a client sees when a stage fails late."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.backends.mock import MockBackend, MockConfig
from engine.config import StrictModel, compile_pattern
from engine.graph import BoundStage, CompiledRoute, Graph, TargetSpec
from engine.model import Event
from engine.server.app import create_app
from engine.stage import Exchange, Stage
from engine.strategies import create


class FailsAfter(Stage):
    """Passes every event on, then fails: after the finish, or before anything."""

    class Config(StrictModel):
        """Nothing to set."""

    def __init__(self, *, after_finish: bool) -> None:
        super().__init__(self.Config())
        self.after_finish = after_finish

    async def on_events(self, ctx: Exchange, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """Yield the events, then raise."""
        async for event in events:
            if not self.after_finish:
                raise RuntimeError("broken before any output")
            yield event
        raise RuntimeError("broken after the finish")


def graph(stage: Stage) -> Graph:
    route = CompiledRoute(
        name="r",
        frontends=None,
        model_pattern="*",
        model_re=compile_pattern("*"),
        request=(),
        response=(BoundStage("fails_after", stage),),
        strategy=create("single", targets=["mock"]),
        targets=(TargetSpec("mock"),),
    )
    return Graph(backends={"mock": MockBackend("mock", MockConfig())}, routes=(route,))


async def stream(stage: Stage, tmp_path: Path) -> tuple[int, str]:
    app = create_app(graph(stage), tmp_path, watch=False)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with app.test_app() as test_app:
        response = await test_app.test_client().post("/v1/chat/completions", json=body)
        return response.status_code, (await response.get_data()).decode()


async def test_a_failure_after_the_finish_leaves_the_client_stream_whole(tmp_path: Path) -> None:
    status, text = await stream(FailsAfter(after_finish=True), tmp_path)
    assert status == 200
    assert text.endswith("data: [DONE]\n\n")
    assert '"error"' not in text


async def test_a_failure_before_any_output_is_an_http_error(tmp_path: Path) -> None:
    status, text = await stream(FailsAfter(after_finish=False), tmp_path)
    assert status == 500
    assert "broken before any output" in json.loads(text)["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path", "shape"),
    [
        ("DELETE", "/v1/models/mock-1:generateContent", "gemini"),
        ("GET", "/v1beta/nowhere", "gemini"),
        ("DELETE", "/v1/models/ft-model", "openai"),
        ("GET", "/v1/nowhere", "openai"),
        ("GET", "/anthropic/v1/nowhere", "anthropic"),
        ("GET", "/elsewhere", "openai"),
    ],
)
async def test_unrouted_paths_answer_in_the_shape_of_their_api(
    tmp_path: Path, method: str, path: str, shape: str
) -> None:
    app = create_app(graph(FailsAfter(after_finish=True)), tmp_path, watch=False)
    async with app.test_app() as test_app:
        response = await test_app.test_client().open(path, method=method)
        body = json.loads(await response.get_data())
    assert response.status_code in (404, 405)
    if shape == "gemini":
        assert body["error"]["code"] == response.status_code and "status" in body["error"]
    elif shape == "anthropic":
        assert body["type"] == "error" and "type" in body["error"]
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}
