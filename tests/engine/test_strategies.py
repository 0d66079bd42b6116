"""Strategies as registered components: the rules, the routing file, a plug-in's own keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

import engine.strategies
from engine import schema
from engine.compiler import load_graph
from engine.model import Event
from engine.stage import Exchange, RegistryError, Target
from engine.strategies import Send, Strategy, StrategyConfig, registry, strategy


@pytest.fixture(autouse=True)
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A copy of the registry, and a schema built from it, so that nothing leaks out."""
    monkeypatch.setattr(engine.strategies.STRATEGIES, "entries", dict(registry()))
    schema._validator.cache_clear()
    yield
    schema._validator.cache_clear()


def register_last() -> type[Strategy]:
    @strategy("last_first")
    class LastFirst(Strategy):
        """Asks the targets from the last one back: a strategy of a plug-in's own."""

        class Config(StrategyConfig):
            """`last_first`, and how many targets it may try."""

            tries: int = Field(default=1, ge=1, description="targets to try at most")

        async def run(
            self, ctx: Exchange, targets: list[Target], send: Send
        ) -> AsyncIterator[Event]:
            return (await send(targets[-1])).events()

    return LastFirst


def compile_route(tmp_path: Path, backend: str) -> tuple[Any, list[Any]]:
    (tmp_path / "routes.yaml").write_text(
        "backends: {a: {kind: mock}, b: {kind: mock}}\n"
        f"routes: [{{name: r, backend: {backend}}}]\n",
        encoding="utf-8",
    )
    return load_graph([tmp_path])


def test_the_built_in_strategies_are_registered() -> None:
    assert {"single", "failover"} <= set(registry())


def test_a_registered_strategy_and_its_own_keys_come_from_the_routing_file(
    tmp_path: Path,
) -> None:
    cls = register_last()
    graph, diagnostics = compile_route(
        tmp_path, "{strategy: last_first, targets: [a, b], tries: 2}"
    )
    assert graph is not None, diagnostics
    route = graph.routes[0]
    assert isinstance(route.strategy, cls) and route.strategy.config.tries == 2


def test_a_strategys_unknown_key_is_named_with_a_did_you_mean(tmp_path: Path) -> None:
    register_last()
    graph, diagnostics = compile_route(tmp_path, "{strategy: last_first, targets: [a], triess: 2}")
    assert graph is None
    (problem,) = diagnostics
    assert (problem.code, problem.hint) == ("unknown-field", "did you mean 'tries'?")


def test_no_strategy_is_single_and_a_misspelt_one_is_named(tmp_path: Path) -> None:
    graph, _ = compile_route(tmp_path, "{targets: [a]}")
    assert graph is not None and graph.routes[0].strategy.name == "single"
    graph, diagnostics = compile_route(tmp_path, "{strategy: failovr, targets: [a]}")
    assert graph is None
    (problem,) = diagnostics
    assert problem.code == "unknown-strategy" and problem.hint == "did you mean 'failover'?"


def test_the_registry_refuses_what_breaks_the_rules() -> None:
    with pytest.raises(RegistryError, match="docstring"):

        @strategy("undocumented")
        class Undocumented(Strategy):
            class Config(StrategyConfig):
                """A config."""

            async def run(self, ctx: Any, targets: Any, send: Any) -> Any:
                return None

    with pytest.raises(RegistryError, match="async def"):

        @strategy("blocking")
        class Blocking(Strategy):
            """Runs without awaiting."""

            class Config(StrategyConfig):
                """A config."""

            def run(self, ctx: Any, targets: Any, send: Any) -> Any:  # type: ignore[override]
                return None

    with pytest.raises(RegistryError, match="taken"):

        @strategy("single")
        class Impostor(Strategy):
            """Claims a built-in's name."""

            class Config(StrategyConfig):
                """A config."""

            async def run(self, ctx: Any, targets: Any, send: Any) -> Any:
                return None
