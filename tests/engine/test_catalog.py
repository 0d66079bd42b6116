"""The model catalog: declared models, else each upstream's own listing, against respx."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from engine.catalog import ModelCatalog
from engine.compiler import load_graph
from engine.graph import Graph

GRAPH = """\
backends:
  oai: {kind: openai, base_url: "https://oai.test/v1", api_key: k}
  claude: {kind: anthropic, base_url: "https://claude.test", api_key: k}
  gem: {kind: gemini, base_url: "https://gem.test", api_key: k}
  pinned: {kind: openai, base_url: "https://pinned.test/v1", models: [declared]}
routes:
  - {name: all, backend: {targets: [oai]}}
"""


def build(tmp_path: Path, text: str = GRAPH) -> Graph:
    (tmp_path / "routes.yaml").write_text(text, encoding="utf-8")
    graph, diagnostics = load_graph([tmp_path])
    assert graph is not None, diagnostics
    return graph


def _anthropic_pages(request: httpx.Request) -> httpx.Response:
    """Two pages of one model each, as Anthropic pages them."""
    assert request.url.params["limit"] == "1000"
    second = request.url.params.get("after_id") == "claude-1"
    model = "claude-2" if second else "claude-1"
    page = {"data": [{"id": model}], "has_more": not second, "first_id": model, "last_id": model}
    return httpx.Response(200, json=page)


@pytest.fixture
def upstreams() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.get("https://oai.test/v1/models").respond(
            json={"object": "list", "data": [{"id": "gpt-x"}, {"id": "gpt-y"}]}
        )
        router.get("https://claude.test/v1/models").mock(side_effect=_anthropic_pages)
        router.get("https://gem.test/v1beta/models").respond(
            json={
                "models": [
                    {"name": "models/gemini-x", "supportedGenerationMethods": ["generateContent"]},
                    {"name": "models/embed", "supportedGenerationMethods": ["embedContent"]},
                ]
            }
        )
        yield router


async def test_undeclared_models_are_asked_of_each_upstream(
    tmp_path: Path, upstreams: respx.MockRouter
) -> None:
    graph = build(tmp_path)
    catalog = ModelCatalog()

    assert catalog.model_ids(graph) == ["pinned:declared"]  # nothing learnt yet
    async with httpx.AsyncClient() as http:
        await catalog.refresh(graph, http)

    assert catalog.model_ids(graph) == [
        "oai:gpt-x",
        "oai:gpt-y",
        "claude:claude-1",
        "claude:claude-2",
        "gem:gemini-x",
        "pinned:declared",
    ]
    assert not any(call.request.url.host == "pinned.test" for call in upstreams.calls)


async def test_an_upstream_that_fails_is_logged_once_and_lists_nothing(
    tmp_path: Path, upstreams: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    upstreams.get("https://oai.test/v1/models").respond(401, json={"error": {"message": "no"}})
    graph = build(tmp_path)
    catalog = ModelCatalog()

    with caplog.at_level(logging.INFO, logger="engine.catalog"):
        async with httpx.AsyncClient() as http:
            await catalog.refresh(graph, http)
            await catalog.refresh(graph, http)

    assert "oai:gpt-x" not in catalog.model_ids(graph)
    failures = [r for r in caplog.records if "could not be listed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].levelno == logging.INFO


async def test_what_was_learnt_is_kept_across_a_reload_that_leaves_the_backend_alone(
    tmp_path: Path, upstreams: respx.MockRouter
) -> None:
    catalog = ModelCatalog()
    async with httpx.AsyncClient() as http:
        await catalog.refresh(build(tmp_path), http)

    same = build(tmp_path, GRAPH.replace("backends:\n", "backends:\n  new: {kind: mock}\n"))
    moved = build(tmp_path, GRAPH.replace("https://oai.test/v1", "https://elsewhere.test/v1"))

    assert "oai:gpt-x" in catalog.model_ids(same)
    assert "oai:gpt-x" not in catalog.model_ids(moved)  # new settings: asked again first


async def test_a_providers_own_endpoint_without_a_key_is_not_asked(
    tmp_path: Path, upstreams: respx.MockRouter
) -> None:
    # Unconfigured (no key, the kind's default base_url): asking would only fail, and
    # would reach out to the provider from a machine that may have no network.
    graph = build(tmp_path, GRAPH.replace("backends:\n", "backends:\n  official: {kind: openai}\n"))

    async with httpx.AsyncClient() as http:
        await ModelCatalog().refresh(graph, http)

    assert not any(call.request.url.host == "api.openai.com" for call in upstreams.calls)


async def test_an_upstream_that_never_finishes_holds_only_its_own_listing(
    tmp_path: Path, upstreams: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    never = asyncio.Event()

    async def trickle(request: httpx.Request) -> httpx.Response:
        await never.wait()  # a server that keeps the connection busy and never answers
        raise AssertionError("unreachable")

    upstreams.get("https://oai.test/v1/models").mock(side_effect=trickle)
    graph = build(tmp_path)
    catalog = ModelCatalog(deadline_secs=0.05)

    with caplog.at_level(logging.INFO, logger="engine.catalog"):
        async with httpx.AsyncClient() as http:
            await catalog.refresh(graph, http)

    assert "claude:claude-2" in catalog.model_ids(graph)
    assert "oai:gpt-x" not in catalog.model_ids(graph)
    assert any("no whole answer within" in r.getMessage() for r in caplog.records)


async def test_a_reload_asks_only_the_backends_it_brings(
    tmp_path: Path, upstreams: respx.MockRouter
) -> None:
    catalog = ModelCatalog()
    async with httpx.AsyncClient() as http:
        await catalog.refresh(build(tmp_path), http)
        asked = len(upstreams.calls)
        more = GRAPH.replace(
            "backends:\n",
            'backends:\n  more: {kind: openai, base_url: "https://more.test/v1", api_key: k}\n',
        )
        upstreams.get("https://more.test/v1/models").respond(json={"data": [{"id": "m-1"}]})
        graph = build(tmp_path, more)
        await catalog.refresh(graph, http, only_new=True)

    assert [c.request.url.host for c in upstreams.calls[asked:]] == ["more.test"]
    assert "more:m-1" in catalog.model_ids(graph) and "oai:gpt-x" in catalog.model_ids(graph)


async def test_a_full_round_forgets_backends_no_longer_configured(
    tmp_path: Path, upstreams: respx.MockRouter
) -> None:
    catalog = ModelCatalog()
    async with httpx.AsyncClient() as http:
        await catalog.refresh(build(tmp_path), http)
        moved = build(tmp_path, GRAPH.replace("https://oai.test/v1", "https://oai.test/v2"))
        upstreams.get("https://oai.test/v2/models").respond(json={"data": [{"id": "gpt-2"}]})
        await catalog.refresh(moved, http)

    assert "oai:gpt-2" in catalog.model_ids(moved)
    # What the old settings listed is gone: going back to them asks again first.
    assert "oai:gpt-x" not in catalog.model_ids(build(tmp_path))
