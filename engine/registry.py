"""The pattern the stage and strategy registries share: a registered name, a docstring, a
strict pydantic `Config`, checked when the class is defined, plug-ins loaded through an
entry-point group on first use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

C = TypeVar("C", bound=type[Any])


class RegistryError(TypeError):
    """A class breaks a registration rule."""


def check_config_model(where: str, config: type[BaseModel]) -> None:
    """Refuse a config model that would accept misspelt keys or let a request change the
    graph's settings: it must forbid unknown keys and be frozen (`StrictModel` is both)."""
    if config.model_config.get("extra") != "forbid":
        raise RegistryError(f"{where}: its Config must forbid unknown keys (extra='forbid')")
    if not config.model_config.get("frozen"):
        raise RegistryError(f"{where}: its Config must be frozen (frozen=True)")


@dataclass
class Registry(Generic[C]):
    """Classes of one kind (stages, strategies) by registered name."""

    noun: str  # what the classes are, for messages: "stage"
    base: type  # the class they subclass
    config_base: type[BaseModel]  # what their nested `Config` subclasses
    group: str  # the entry-point group of plug-ins
    check: Callable[[str, type], None]  # the kind's own rules, given "where" and the class
    builtins: Callable[[], object] | None = None  # imports the built-in ones
    entries: dict[str, C] = field(default_factory=dict)
    _loaded: bool = False

    def register(self, name: str) -> Callable[[C], C]:
        """A class decorator: register the class under `name`, or raise RegistryError."""

        def register(cls: C) -> C:
            where = f"{self.noun} {name!r} ({cls.__module__}.{cls.__qualname__})"
            self._check(where, name, cls)
            self.check(where, cls)
            cls.name = name
            self.entries[name] = cls
            return cls

        return register

    def all(self) -> dict[str, C]:
        """Every registered class by name, the built-in and plug-in ones loaded first."""
        if not self._loaded:
            self._loaded = True
            if self.builtins is not None:
                self.builtins()
            for entry in entry_points(group=self.group):
                entry.load()
        return self.entries

    def _check(self, where: str, name: str, cls: type) -> None:
        if not name.isidentifier() or name != name.lower():
            raise RegistryError(f"{where}: the name must be snake_case")
        other = self.entries.get(name)
        if other is not None and other is not cls:
            raise RegistryError(
                f"{where}: the name is taken by {other.__module__}.{other.__qualname__}"
            )
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            base = f"{self.base.__module__}.{self.base.__qualname__}"
            raise RegistryError(f"{where}: a {self.noun} must subclass {base}")
        if not (cls.__doc__ or "").strip():
            raise RegistryError(f"{where}: a {self.noun} needs a docstring saying what it does")
        config = cls.__dict__.get("Config")
        if not (isinstance(config, type) and issubclass(config, self.config_base)):
            subclassing = (
                "" if self.config_base is BaseModel else f" subclassing {self.config_base.__name__}"
            )
            raise RegistryError(
                f"{where}: a {self.noun} needs a nested pydantic `Config` model{subclassing}"
            )
        check_config_model(where, config)
