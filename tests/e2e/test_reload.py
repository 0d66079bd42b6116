"""Hot reload of the routes folder while the server runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import openai
import pytest

from tests.support.fake_openai import FakeProvider, Hang, HttpError
from tests.support.proxy import Proxy
from tests.support.sdk import ask

ROUTES = """\
version: 1
backends:
  fake: {kind: openai, base_url: "${FAKE_URL}/v1"}
  other: {kind: openai, base_url: "${FAKE_URL}/other/v1"}
routes:
  - name: main
    request: [commands]
    backend: {targets: [TARGET]}
"""


def routes(target: str) -> str:
    return ROUTES.replace("TARGET", target)


def test_an_edit_takes_effect_without_restart(
    proxy: Callable[..., Proxy], connect: Callable[..., openai.OpenAI], fake: FakeProvider
) -> None:
    server = proxy(routes("fake"))
    client = connect(server)
    client.chat.completions.create(model="m", messages=ask("before"))
    assert fake.last.path == "/v1/chat/completions"
    first_graph = server.server.holder.graph

    reload = server.edit(routes('"other:edited-model"'))

    assert reload.ok, reload.diagnostics
    assert reload.generation == 1
    assert server.server.holder.graph is not first_graph
    client.chat.completions.create(model="m", messages=ask("after"))
    assert (fake.last.path, fake.last.model) == ("/other/v1/chat/completions", "edited-model")


def test_a_new_file_joins_the_graph(
    proxy: Callable[..., Proxy], connect: Callable[..., openai.OpenAI], fake: FakeProvider
) -> None:
    server = proxy(routes("fake"))
    client = connect(server)
    assert "extra:added-model" not in [m.id for m in client.models.list()]

    reload = server.edit(
        'version: 1\nbackends:\n  extra: {kind: openai, base_url: "${FAKE_URL}/extra/v1",'
        " models: [added-model]}\n",
        name="extra.yaml",
    )

    assert reload.ok, reload.diagnostics
    assert "extra:added-model" in [m.id for m in client.models.list()]
    client.chat.completions.create(model="extra:added-model", messages=ask("hi"))
    assert (fake.last.path, fake.last.model) == ("/extra/v1/chat/completions", "added-model")


def test_a_broken_edit_keeps_the_last_good_graph(
    proxy: Callable[..., Proxy], connect: Callable[..., openai.OpenAI], fake: FakeProvider
) -> None:
    server = proxy(routes('"other:good-model"'))
    client = connect(server)
    good_graph = server.server.holder.graph
    broken = routes("fake").replace("request: [commands]", "request: [comands]")
    typo_line = broken.splitlines().index("    request: [comands]") + 1

    reload = server.edit(broken)

    assert not reload.ok
    assert reload.generation == 0
    assert server.server.holder.graph is good_graph
    [error] = [d for d in reload.diagnostics if d.level == "error"]
    assert error.code == "unknown-stage"
    assert error.path.endswith("routes.yaml")
    assert error.line == typo_line
    assert "comands" in error.message
    assert error.hint is not None and "commands" in error.hint
    client.chat.completions.create(model="m", messages=ask("still served"))
    assert (fake.last.path, fake.last.model) == ("/other/v1/chat/completions", "good-model")

    fixed = server.edit(routes("fake"))

    assert fixed.ok and fixed.generation == 1
    client.chat.completions.create(model="m", messages=ask("fixed"))
    assert (fake.last.path, fake.last.model) == ("/v1/chat/completions", "m")


def test_a_yaml_syntax_error_is_reported_with_its_line(
    proxy: Callable[..., Proxy], connect: Callable[..., openai.OpenAI], fake: FakeProvider
) -> None:
    server = proxy(routes("fake"))
    client = connect(server)
    broken = routes("fake").replace("  - name: main", "  - name: main\n   bad: [unclosed")

    reload = server.edit(broken)

    assert not reload.ok
    assert server.server.holder.generation == 0
    assert any(d.code == "yaml-syntax" and d.line > 1 for d in reload.diagnostics)
    answer = client.chat.completions.create(model="m", messages=ask("hi"))
    assert answer.choices[0].message.content == "m heard: hi"


@pytest.mark.parametrize("emptied", ["", "version: 1\n"], ids=["empty-file", "no-routes"])
def test_an_emptied_file_keeps_the_last_good_graph(
    proxy: Callable[..., Proxy],
    connect: Callable[..., openai.OpenAI],
    fake: FakeProvider,
    emptied: str,
) -> None:
    server = proxy(routes("fake"))
    client = connect(server)
    good_graph = server.server.holder.graph

    server.edit(emptied)

    assert server.server.holder.graph is good_graph
    assert server.server.holder.generation == 0
    answer = client.chat.completions.create(model="m", messages=ask("still here?"))
    assert answer.choices[0].message.content == "m heard: still here?"


INFLIGHT = """\
version: 1
backends:
  slow: {kind: openai, base_url: "${FAKE_URL}/slow/v1"}
  backup: {kind: openai, base_url: "${FAKE_URL}/backup/v1", headers: {x-graph: GRAPH}}
routes:
  - name: main
    backend: {strategy: failover, targets: [TARGETS]}
"""


async def test_a_request_in_flight_finishes_on_the_graph_it_started_with(
    proxy: Callable[..., Proxy],
    aconnect: Callable[..., openai.AsyncOpenAI],
    fake: FakeProvider,
) -> None:
    server = proxy(INFLIGHT.replace("GRAPH", "old").replace("TARGETS", "slow, backup"))
    client = aconnect(server)
    # The old graph's first target hangs, then fails over to the old graph's backup.
    hang = fake.script(Hang(then=HttpError(503, "slow is overloaded")))
    in_flight = asyncio.create_task(
        client.chat.completions.create(model="m", messages=ask("started on the old graph"))
    )
    await hang.reached.wait_async()

    new_routes = INFLIGHT.replace("GRAPH", "new").replace("TARGETS", "backup")
    reload = await asyncio.to_thread(server.edit, new_routes)
    assert reload.ok and reload.generation == 1
    fresh = await client.chat.completions.create(model="m", messages=ask("on the new graph"))
    hang.release()
    finished = await in_flight

    assert fresh.choices[0].message.content == "m heard: on the new graph"
    assert finished.choices[0].message.content == "m heard: started on the old graph"
    sent = [(r.path, r.headers.get("x-graph"), r.messages[-1]["content"]) for r in fake.requests]
    assert sent == [
        ("/slow/v1/chat/completions", None, "started on the old graph"),
        ("/backup/v1/chat/completions", "new", "on the new graph"),
        ("/backup/v1/chat/completions", "old", "started on the old graph"),
    ]


async def test_a_stream_in_flight_survives_a_reload(
    proxy: Callable[..., Proxy],
    aconnect: Callable[..., openai.AsyncOpenAI],
    fake: FakeProvider,
) -> None:
    server = proxy(routes("fake"))
    client = aconnect(server)
    hang = fake.script(Hang(prefix="Streaming across ", rest="a reload"))
    stream = await client.chat.completions.create(model="m", messages=ask("go"), stream=True)
    await hang.reached.wait_async()

    reload = await asyncio.to_thread(server.edit, routes('"other:next-model"'))
    hang.release()
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert reload.ok
    assert text == "Streaming across a reload"
    await client.chat.completions.create(model="m", messages=ask("next"))
    assert (fake.last.path, fake.last.model) == ("/other/v1/chat/completions", "next-model")
