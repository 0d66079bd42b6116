"""The stage registry: the rules `@stage` enforces at import, and where the built-ins come from."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from importlib.metadata import entry_points
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

import engine.stage
from engine.config import StrictModel
from engine.model import Event
from engine.stage import (
    ENTRY_POINT_GROUP,
    Answer,
    Exchange,
    RegistryError,
    Stage,
    has_hook,
    registry,
    stage,
)


@pytest.fixture(autouse=True)
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, type[Stage]]:
    """A copy of the registry, so that the classes registered here do not leak out."""
    copy = dict(registry())
    monkeypatch.setattr(engine.stage.STAGES, "entries", copy)
    return copy


class _Config(StrictModel):
    """An empty config."""


async def _on_request(self: Any, ctx: Exchange) -> Answer | None:
    return None


async def _on_events(self: Any, ctx: Exchange, events: AsyncIterator[Event]) -> Any:
    async for event in events:
        yield event


def _make(
    *,
    doc: str | None = "Does something.",
    config: Any = _Config,
    base: type = Stage,
    **hooks: Callable[..., Any],
) -> type:
    """A stage-like class built from parts, for the registry to judge."""
    body: dict[str, Any] = {"__doc__": doc, **hooks}
    if config is not None:
        body["Config"] = config
    if not hooks:
        body["on_request"] = _on_request
    return type("Candidate", (base,), body)


def _plain_on_request(self: Any, ctx: Exchange) -> None:
    return None


async def _coroutine_on_events(self: Any, ctx: Exchange, events: Any) -> Any:
    return events


class _LooseConfig(BaseModel):
    """Takes any key: a misspelt one would be ignored."""


class _MutableConfig(BaseModel):
    """Forbids unknown keys but can be changed in place."""

    model_config = ConfigDict(extra="forbid")


class _NotAStage:
    """Not derived from Stage."""

    Config = _Config

    async def on_request(self, ctx: Exchange) -> None:
        return None


class _NoHooks(Stage):
    """Has a config but no hook."""

    Config = _Config

    def helper(self) -> None:
        """Not a hook."""


@pytest.mark.parametrize(
    ("name", "make", "rule"),
    [
        pytest.param("Model-Rewrite", _make, "the name must be snake_case", id="kebab-case"),
        pytest.param("ModelRewrite", _make, "the name must be snake_case", id="camel-case"),
        pytest.param("two words", _make, "the name must be snake_case", id="space"),
        pytest.param("", _make, "the name must be snake_case", id="empty"),
        pytest.param(
            "commands", _make, "the name is taken by stages.commands.Commands", id="duplicate"
        ),
        pytest.param(
            "not_a_stage",
            lambda: _NotAStage,
            "a stage must subclass engine.stage.Stage",
            id="not-a-subclass",
        ),
        pytest.param(
            "no_doc",
            lambda: _make(doc=None),
            "a stage needs a docstring saying what it does",
            id="no-docstring",
        ),
        pytest.param(
            "blank_doc",
            lambda: _make(doc="   "),
            "a stage needs a docstring saying what it does",
            id="blank-docstring",
        ),
        pytest.param(
            "no_config",
            lambda: _make(config=None),
            "a stage needs a nested pydantic `Config` model",
            id="no-config",
        ),
        pytest.param(
            "dict_config",
            lambda: _make(config=dict),
            "a stage needs a nested pydantic `Config` model",
            id="config-not-a-model",
        ),
        pytest.param(
            "loose_config",
            lambda: _make(config=_LooseConfig),
            "its Config must forbid unknown keys (extra='forbid')",
            id="config-allows-unknown-keys",
        ),
        pytest.param(
            "mutable_config",
            lambda: _make(config=_MutableConfig),
            "its Config must be frozen (frozen=True)",
            id="config-not-frozen",
        ),
        pytest.param(
            "odd_operations",
            lambda: _make(operations=frozenset({"stream"}), on_request=_on_request),
            "unknown operations ['stream'] (known: "
            "('chat', 'count_tokens', 'models', 'stored_response'))",
            id="unknown-operation",
        ),
        pytest.param(
            "no_hooks",
            lambda: _NoHooks,
            "a stage needs an on_request or on_events hook",
            id="no-hooks",
        ),
        pytest.param(
            "sync_request",
            lambda: _make(on_request=_plain_on_request),
            "on_request must be an async def",
            id="sync-on-request",
        ),
        pytest.param(
            "coroutine_events",
            lambda: _make(on_events=_coroutine_on_events),
            "on_events must be an async generator",
            id="on-events-not-a-generator",
        ),
        pytest.param(
            "request_as_generator",
            lambda: _make(on_request=_on_events),
            "on_request must be an async def",
            id="on-request-as-generator",
        ),
        pytest.param(
            "way_back_alone",
            lambda: _make(on_request=_on_request, on_client_events=_on_events),
            "on_client_events needs an on_events hook",
            id="client-events-without-events",
        ),
        pytest.param(
            "way_back_not_a_generator",
            lambda: _make(on_events=_on_events, on_client_events=_coroutine_on_events),
            "on_client_events must be an async generator",
            id="client-events-not-a-generator",
        ),
    ],
)
def test_registry_refuses_a_class_breaking_a_rule(
    name: str, make: Callable[[], type], rule: str, scratch_registry: dict[str, type[Stage]]
) -> None:
    before = dict(scratch_registry)
    cls = make()
    with pytest.raises(RegistryError) as raised:
        stage(name)(cls)
    message = str(raised.value)
    assert message.startswith(f"stage {name!r} ({cls.__module__}.{cls.__qualname__}): ")
    assert message.endswith(rule)
    assert scratch_registry == before, "a refused class must not be registered"


def test_registry_error_is_a_type_error() -> None:
    # Raised at import, where a TypeError is what a broken class definition gives.
    assert issubclass(RegistryError, TypeError)


@pytest.mark.parametrize(
    "hooks",
    [
        {"on_request": _on_request},
        {"on_events": _on_events},
        {"on_request": _on_request, "on_events": _on_events},
    ],
    ids=["request", "events", "both"],
)
def test_registry_accepts_a_stage_with_either_hook(
    hooks: dict[str, Callable[..., Any]], scratch_registry: dict[str, type[Stage]]
) -> None:
    cls = stage("scratch_stage")(_make(**hooks))
    assert scratch_registry["scratch_stage"] is cls
    assert cls.name == "scratch_stage"
    assert {h for h in ("on_request", "on_events") if has_hook(cls, h)} == set(hooks)


def test_registering_the_same_class_again_is_harmless(
    scratch_registry: dict[str, type[Stage]],
) -> None:
    cls = _make()
    stage("scratch_again")(cls)
    assert stage("scratch_again")(cls) is cls
    assert scratch_registry["scratch_again"] is cls


def test_decorator_form_registers_at_class_definition(
    scratch_registry: dict[str, type[Stage]],
) -> None:
    @stage("scratch_decorated")
    class Decorated(Stage):
        """Adds nothing."""

        class Config(StrictModel):
            """Nothing to set."""

        async def on_request(self, ctx: Exchange) -> Answer | None:
            return None

    assert scratch_registry["scratch_decorated"] is Decorated


def test_has_hook_on_classes_and_instances() -> None:
    commands = registry()["commands"]
    instance = commands(commands.Config())
    assert has_hook(commands, "on_request") and has_hook(instance, "on_request")
    assert not has_hook(commands, "on_events") and not has_hook(instance, "on_events")


def test_builtin_stages_are_registered() -> None:
    assert {"commands", "model_rewrite"} <= set(registry())


def test_builtin_stages_come_through_the_entry_point() -> None:
    (builtin,) = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == "builtin"]
    assert builtin.value == "stages"
    # In a fresh interpreter: the engine (compiler, server) does not import `stages` itself;
    # the first registry() call loads it through the entry point.
    script = textwrap.dedent(
        """
        import sys
        import engine.cli, engine.compiler, engine.schema, engine.server.app
        from engine.stage import registry
        before = "stages" in sys.modules
        names = sorted(registry())
        print(before, "stages" in sys.modules, ",".join(names))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    before, after, names = result.stdout.split()
    assert (before, after) == ("False", "True")
    assert {"commands", "model_rewrite"} <= set(names.split(","))


@pytest.mark.parametrize("name", sorted(registry()))
def test_registered_stage_follows_the_stage_rules(name: str) -> None:
    cls = registry()[name]
    config: type[BaseModel] = cls.Config
    assert cls.name == name
    assert config.model_config.get("extra") == "forbid", "Config must forbid unknown keys"
    assert config.model_config.get("frozen") is True, "Config must be frozen"
    undescribed = [f for f, info in config.model_fields.items() if not info.description]
    assert undescribed == [], "every Config field needs a description"
    # A stage's default config is built once per graph load; the defaults must be valid
    # whenever the config has no required field.
    if not any(info.is_required() for info in config.model_fields.values()):
        assert isinstance(cls(config()), cls)


def test_stage_base_lists_no_models() -> None:
    class Plain(Stage):
        """Only here to be built."""

        Config = _Config

    assert Plain(_Config()).models() == []
