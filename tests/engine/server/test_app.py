"""The server's stream path, in process: what a client sees when a stage fails late."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

from engine.backends.mock import MockBackend, MockConfig
from engine.config import StrictModel
from engine.graph import BoundStage, CompiledRoute, Graph, TargetSpec, model_matcher
from engine.model import Event
from engine.server.app import create_app
from engine.stage import RequestContext, Stage


class FailsAfter(Stage):
    """Passes every event on, then fails: after the finish, or before anything."""

    class Config(StrictModel):
        """Nothing to set."""

    def __init__(self, *, after_finish: bool) -> None:
        super().__init__(self.Config())
        self.after_finish = after_finish

    async def on_events(
        self, ctx: RequestContext, events: AsyncIterator[Event]
    ) -> AsyncIterator[Event]:
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
        model_re=model_matcher("*", None),
        request=(),
        response=(BoundStage("fails_after", stage),),
        strategy="single",
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
