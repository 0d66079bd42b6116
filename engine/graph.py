"""The compiled, immutable route table that serves requests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from urllib.parse import urlencode

from engine.backends import Backend
from engine.diagnostics import did_you_mean
from engine.errors import BadRequest, NotFound
from engine.parameters import ParameterError, Parameters, split_selector
from engine.stage import Stage, Target
from engine.strategies import Strategy

_MATCH_CACHE_LIMIT = 4096


@dataclass(frozen=True)
class BoundStage:
    """A stage instance in a route, with the label the graph gives it."""

    label: str
    stage: Stage
    hook: str = "on_events"  # in a response chain: `on_client_events` for the way back


@dataclass(frozen=True)
class TargetSpec:
    """A route target: a backend and a fixed model, or the request's model when None."""

    backend: str
    model: str | None = None
    params: Parameters = ()  # the target's `?key=value&…`

    def __str__(self) -> str:
        name = self.backend if self.model is None else f"{self.backend}:{self.model}"
        return name + (f"?{urlencode(self.params)}" if self.params else "")


@dataclass(frozen=True, eq=False)  # one route is one object: hashed by identity
class CompiledRoute:
    """One route, ready to serve."""

    name: str
    frontends: frozenset[str] | None
    model_pattern: str
    model_re: re.Pattern[str]
    request: tuple[BoundStage, ...]
    response: tuple[BoundStage, ...]
    strategy: Strategy
    targets: tuple[TargetSpec, ...]
    back: tuple[BoundStage, ...] = ()  # `on_client_events` hooks, after every response stage

    def matches(self, frontend: str, model: str) -> bool:
        """Whether this route takes a request from `frontend` for `model`."""
        return (self.frontends is None or frontend in self.frontends) and bool(
            self.model_re.match(model)
        )


@dataclass(frozen=True)
class Graph:
    """Backends and routes of one load of the routes folder. Never mutated once built."""

    backends: Mapping[str, Backend]
    routes: tuple[CompiledRoute, ...]
    # The `pipeline:` stages: request ones before the route is matched, response ones last.
    request: tuple[BoundStage, ...] = ()
    response: tuple[BoundStage, ...] = ()
    back: tuple[BoundStage, ...] = ()  # their `on_client_events` hooks, before the route's
    named: tuple[Stage, ...] = ()  # the `stages:` entries' instances, used or not
    # Every response hook a reply goes through, in order, when no route matched, and by route:
    # the route's stages, the pipeline's, then the way back (the pipeline's, the route's).
    chain: tuple[BoundStage, ...] = field(init=False, compare=False, repr=False)
    chains: Mapping[CompiledRoute, tuple[BoundStage, ...]] = field(
        init=False, compare=False, repr=False
    )
    _cache: dict[tuple[str, str], CompiledRoute | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    backend_names: frozenset[str] = field(init=False, compare=False, repr=False)
    _by_name: Mapping[str, CompiledRoute] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "backends", MappingProxyType(dict(self.backends)))
        object.__setattr__(self, "backend_names", frozenset(self.backends))
        # The first route of each name (two of one name is an `engine check` error).
        first: dict[str, CompiledRoute] = {}
        for route in self.routes:
            first.setdefault(route.name, route)
        object.__setattr__(self, "_by_name", MappingProxyType(first))
        object.__setattr__(self, "chain", self.response + self.back)
        chains = {r: r.response + self.response + self.back + r.back for r in self.routes}
        object.__setattr__(self, "chains", chains)

    def match(self, frontend: str, model: str) -> CompiledRoute:
        """The first route taking this request (its model read without a selector's
        `?key=value&…`); NotFound naming what was asked otherwise."""
        key = (frontend, model)
        try:
            route = self._cache[key]
        except KeyError:
            name = model.partition("?")[0]
            route = next((r for r in self.routes if r.matches(frontend, name)), None)
            if len(self._cache) < _MATCH_CACHE_LIMIT:
                self._cache[key] = route
        if route is None:
            raise NotFound(
                f"no route matches model {model!r} on the {frontend} front-end",
                code="no_route",
                param="model",
            )
        return route

    def route_named(self, name: str) -> CompiledRoute | None:
        """The route called `name`, if there is one."""
        return self._by_name.get(name)

    def resolve(self, route: CompiledRoute, model: str) -> list[Target]:
        """The targets for `model` on `route`; a `BACKEND:MODEL` model overrides the route's,
        and the parameters of a `…?key=value&…` model go over the route's own."""
        try:
            model, params = split_selector(model)
        except ParameterError as exc:
            raise BadRequest(
                f"model {model!r}: {exc}", code="invalid_model", param="model"
            ) from None
        backend, sep, rest = model.partition(":")
        if sep:
            if backend not in self.backends:
                hint = did_you_mean(backend, self.backends)
                raise NotFound(
                    f"model {model!r} names backend {backend!r}, which is not declared"
                    + (f"; {hint}" if hint else f" (declared: {', '.join(self.backends)})"),
                    code="unknown_backend",
                    param="model",
                )
            if not rest:
                raise BadRequest(
                    f"model {model!r} names backend {backend!r} but no model",
                    code="missing_model",
                    param="model",
                )
            return [Target(backend, rest, params)]
        return [Target(t.backend, t.model or model, t.params + params) for t in route.targets]

    def stages(self) -> list[Stage]:
        """Every stage instance of the graph, each once (a named stage may serve several
        routes)."""
        chains = [self.request, self.response]
        chains += [chain for route in self.routes for chain in (route.request, route.response)]
        found = {id(bound.stage): bound.stage for chain in chains for bound in chain}
        found.update((id(stage), stage) for stage in self.named)
        return list(found.values())

    def model_ids(self, discovered: Mapping[str, list[str]] | None = None) -> list[str]:
        """Every model name the graph advertises: each backend's declared models (else
        those `discovered` from its upstream), as `BACKEND:MODEL`, and stage aliases."""
        ids: dict[str, None] = {}
        for name, backend in self.backends.items():
            models = backend.models() or (discovered or {}).get(name, [])
            ids.update({f"{name}:{model}": None for model in models})
        for bound in (*self.request, *(b for route in self.routes for b in route.request)):
            ids.update(dict.fromkeys(bound.stage.models()))
        return list(ids)


def guarded(
    graph: Graph, request: tuple[BoundStage, ...], response: tuple[BoundStage, ...]
) -> Graph:
    """`graph` with `request` stages run first in its pipeline and `response` ones last
    (what `engine serve --require-keys` adds), those of a kind it declares already left out."""
    declared = {type(bound.stage) for bound in (*graph.request, *graph.response)}
    before = tuple(b for b in request if type(b.stage) not in declared)
    after = tuple(b for b in response if type(b.stage) not in declared)
    if not before and not after:
        return graph
    return replace(graph, request=before + graph.request, response=graph.response + after)
