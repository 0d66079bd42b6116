"""The server's stream path, in process: what a client sees when a stage fails late."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from engine.backends.mock import MockBackend, MockConfig
from engine.compiler import load_graph
from engine.config import StrictModel, compile_pattern
from engine.graph import BoundStage, CompiledRoute, Graph, TargetSpec
from engine.model import Event
from engine.server.app import create_app
from engine.stage import Exchange, Stage, registry, stage
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


# --- a request's hold on its graph --------------------------------------------------------


class Tracker(Stage):
    """Passes events on; records when its stream ended and when it was closed."""

    class Config(StrictModel):
        """Nothing to set."""

    log: ClassVar[list[str]] = []

    async def on_events(self, ctx: Exchange, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        try:
            async for event in events:
                yield event
        finally:
            Tracker.log.append("stream ended")

    async def aclose(self) -> None:
        Tracker.log.append("closed")


TRACKED = """\
version: 1
backends: {mock: {kind: mock, chunk_delay_secs: 0.001}}  # a stream in pieces, as a model sends it
routes: [{name: NAME, backend: {targets: [mock]}, response: [test_app_tracker]}]
"""


@pytest.fixture
def tracked(tmp_path: Path) -> Iterator[Path]:
    stage("test_app_tracker")(Tracker)
    Tracker.log.clear()
    (tmp_path / "routes.yaml").write_text(TRACKED.replace("NAME", "first"))
    yield tmp_path
    registry().pop("test_app_tracker")


def http_scope(body: bytes) -> dict[str, Any]:
    path = "/v1/chat/completions"
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }


@pytest.mark.parametrize("stuck_at", [1, 3], ids=["on-the-headers", "mid-stream"])
async def test_a_client_gone_lets_go_of_its_graph_and_its_stream_ends_before_the_stages_close(
    tracked: Path, stuck_at: int
) -> None:
    graph, _ = load_graph([tracked])
    assert graph is not None
    app = create_app(graph, tracked, watch=False)
    server = app.extensions["engine"]
    chat = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a b c d"}]}
    body = json.dumps(chat).encode()
    stuck, requested, sent = asyncio.Event(), [], []

    async def receive() -> dict[str, Any]:
        if not requested:
            requested.append(True)
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client says nothing more
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        if len(sent) == stuck_at:  # the client reads no more: its socket is full
            stuck.set()
            await asyncio.Event().wait()

    await app.startup()
    try:
        request = asyncio.create_task(app(http_scope(body), receive, send))
        await stuck.wait()
        (tracked / "routes.yaml").write_text(TRACKED.replace("NAME", "second"))
        server.holder.reload()  # the first graph is retired once this request lets go
        await server.holder.retired()
        assert Tracker.log == []  # the request still holds it
        request.cancel()  # what the server does to a request whose client went away
        with pytest.raises(asyncio.CancelledError):
            await request
        await server.holder.retired()
        assert Tracker.log == ["stream ended", "closed"]
        assert sent[0] == "http.response.start" and len(sent) == stuck_at
    finally:
        await app.shutdown()
