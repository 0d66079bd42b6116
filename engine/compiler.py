"""From routing files to a Graph: validate, merge the files, resolve names, build instances once.

`engine check`, `engine serve` and the hot reloader all go through :func:`load_graph`, so
what `check` accepts is exactly what the server runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.backends import Backend, kinds
from engine.config import FRONTENDS, RegexPattern, compile_pattern
from engine.diagnostics import Diagnostic, did_you_mean, has_errors
from engine.graph import BoundStage, CompiledRoute, Graph, TargetSpec
from engine.loader import PathKey, Source, read_source, routing_files
from engine.parameters import ParameterError, split_selector
from engine.schema import validate
from engine.stage import Stage, has_hook, registry
from engine.strategies import Strategy
from engine.strategies import registry as strategies


def _route_name(route: Any) -> Any:
    return route.get("name") if isinstance(route, dict) else None


@dataclass
class _Named:
    source: Source
    where: PathKey
    value: Any


@dataclass
class _Compiler:
    sources: list[Source]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    backends: dict[str, _Named] = field(default_factory=dict)
    entries: dict[str, _Named] = field(default_factory=dict)
    routes: list[_Named] = field(default_factory=list)
    pipeline: _Named | None = None
    # Where the schema found problems, per file: the compiler does not report them again.
    schema_paths: dict[str, list[PathKey]] = field(default_factory=dict)
    # A named entry of `stages:` is one instance, shared by every route that uses it.
    entry_stages: dict[str, Stage | None] = field(default_factory=dict)

    def error(self, source: Source, where: PathKey, code: str, message: str, **kw: Any) -> None:
        self.diagnostics.append(source.diagnostic(where, code, message, **kw))

    def reported(self, source: Source, where: PathKey) -> bool:
        """Whether the schema reported a problem at or below `where`."""
        return any(p[: len(where)] == where for p in self.schema_paths.get(source.path, ()))

    def collect(self) -> None:
        """Validate each file against the schema and merge its sections into one graph."""
        for source in self.sources:
            self.diagnostics.extend(source.diagnostics)
            if source.data is None:
                continue
            for section, table in (("backends", self.backends), ("stages", self.entries)):
                declared = source.data.get(section)
                for name, value in (declared if isinstance(declared, dict) else {}).items():
                    if not isinstance(name, str):
                        self.error(
                            source,
                            (section, name),
                            "invalid-name",
                            f"{section[:-1]} name {name!r} must be a string",
                            key=True,
                            hint=f'quote it: "{name}"',
                        )
                        continue
                    if name in table:
                        first = table[name].source.position((section, name), key=True)
                        self.error(
                            source,
                            (section, name),
                            "duplicate-name",
                            f"{section[:-1]} {name!r} is already declared at "
                            f"{table[name].source.path}:{first[0]}",
                            key=True,
                        )
                    else:
                        table[name] = _Named(source, (section, name), value)
                    if section == "backends" and ":" in str(name):
                        self.error(
                            source,
                            (section, name),
                            "invalid-name",
                            f"backend name {name!r} has a ':', so no target can name it",
                            key=True,
                            hint="`BACKEND:MODEL` splits at the first ':'",
                        )
            if "pipeline" in source.data:
                self.collect_pipeline(source)
            routes = source.data.get("routes")
            for i, route in enumerate(routes if isinstance(routes, list) else []):
                named = _Named(source, ("routes", i), route)
                name = _route_name(route)
                earlier = next((r for r in self.routes if _route_name(r.value) == name), None)
                if isinstance(name, str) and earlier is not None:
                    line = earlier.source.position((*earlier.where, "name"))[0]
                    self.error(
                        source,
                        (*named.where, "name"),
                        "duplicate-name",
                        f"route {name!r} is already declared at {earlier.source.path}:{line}",
                    )
                self.routes.append(named)
        # After the merge, so that a hint may name an entry of `stages:` from any file.
        for source in self.sources:
            for p in validate(source.data) if source.data is not None else ():
                hint = p.hint
                if p.code == "unknown-stage" and p.at_key and p.path[-1] in self.entries:
                    hint = f"{p.path[-1]!r} is declared under stages:; use it as a plain step"
                self.error(source, p.path, p.code, p.message, key=p.at_key, hint=hint)
                self.schema_paths.setdefault(source.path, []).append(p.path)

    def collect_pipeline(self, source: Source) -> None:
        """Take a file's `pipeline:`; a second file saying one is an error naming the first."""
        if self.pipeline is None:
            self.pipeline = _Named(source, ("pipeline",), source.data.get("pipeline"))
            return
        line = self.pipeline.source.position(("pipeline",), key=True)[0]
        self.error(
            source,
            ("pipeline",),
            "duplicate-name",
            f"the pipeline is already declared at {self.pipeline.source.path}:{line}",
            key=True,
            hint="one file of the folder says the stages around every route",
        )

    def build_chains(
        self, named: _Named, value: Any
    ) -> tuple[tuple[BoundStage, ...], tuple[BoundStage, ...]]:
        """The request and response stages of a route or of the pipeline."""
        chains = []
        for section, hook in (("request", "on_request"), ("response", "on_events")):
            found = value.get(section) if isinstance(value, dict) else None
            chains.append(
                tuple(
                    bound
                    for i, step in enumerate(found if isinstance(found, list) else [])
                    if (bound := self.build_stage(step, named, (section, i), hook)) is not None
                )
            )
        return chains[0], chains[1]

    @staticmethod
    def way_back(response: tuple[BoundStage, ...]) -> tuple[BoundStage, ...]:
        """The `on_client_events` hooks of a response chain, in the order they run: last
        stage first, so that each undoes its translation around the ones after it."""
        return tuple(
            BoundStage(f"{bound.label}.back", bound.stage, "on_client_events")
            for bound in reversed(response)
            if has_hook(bound.stage, "on_client_events")
        )

    def build_backends(self) -> dict[str, Backend]:
        built: dict[str, Backend] = {}
        for name, named in self.backends.items():
            kind = named.value.get("kind") if isinstance(named.value, dict) else None
            cls = kinds().get(kind) if isinstance(kind, str) else None
            config = self.config(cls.Config, named.value, named) if cls else None
            if cls is not None and config is not None:
                built[name] = cls(name, config)
        return built

    def config(
        self,
        model: type[BaseModel],
        value: Any,
        named: _Named,
        where: PathKey = (),
        label: str = "",
    ) -> Any:
        """`value` validated by `model`; None (with diagnostics) when it does not fit."""
        try:
            return model.model_validate(value if value is not None else {})
        except ValidationError as exc:
            if self.reported(named.source, (*named.where, *where)):
                return None  # the schema has said it already
            for err in exc.errors():
                missing = err["type"] == "missing"
                self.error(
                    named.source,
                    (*named.where, *where, *err["loc"]),
                    "missing-field" if missing else "invalid-value",
                    label + (f"{err['loc'][-1]!r} is required" if missing else err["msg"]),
                )
            return None

    def build_stage(self, step: Any, named: _Named, where: PathKey, hook: str) -> BoundStage | None:
        """The stage instance for one route step."""
        stages = registry()
        if isinstance(step, str):
            label, config, config_where = step, None, where
            if step in self.entries:
                return self.use_entry(step, named, where, hook)
            if step not in stages:
                self.error(
                    named.source,
                    (*named.where, *where),
                    "unknown-stage",
                    f"unknown stage {step!r}",
                    hint=did_you_mean(step, [*stages, *self.entries]),
                )
                return None
            kind = step
        elif isinstance(step, dict) and len(step) == 1:
            ((kind, config),) = step.items()
            label, config_where = kind, (*where, kind)
        else:
            return None
        cls = stages.get(kind) if isinstance(kind, str) else None
        if cls is None or not self.in_section(cls, repr(kind), named, where, hook):
            return None
        instance = self.instantiate(cls, config, named, config_where)
        return BoundStage(label, instance) if instance is not None else None

    def use_entry(self, name: str, named: _Named, where: PathKey, hook: str) -> BoundStage | None:
        """The shared instance of the `stages:` entry `name`, used by a route step."""
        entry = self.entries[name]
        kind = entry.value.get("use") if isinstance(entry.value, dict) else None
        cls = registry().get(kind) if isinstance(kind, str) else None
        if cls is None or not self.in_section(cls, f"{name!r} ({kind})", named, where, hook):
            return None  # an unknown `use:` was reported at the entry
        instance = self.entry_stages.get(name)
        return BoundStage(name, instance) if instance is not None else None

    def build_entries(self) -> None:
        """One instance per `stages:` entry, used or not, so that its config is checked once."""
        stages = registry()
        for name, entry in self.entries.items():
            kind = entry.value.get("use") if isinstance(entry.value, dict) else None
            cls = stages.get(kind) if isinstance(kind, str) else None
            # A misspelt `with:` would otherwise read as a missing config.
            if cls is not None and not self.reported(entry.source, entry.where):
                with_ = entry.value.get("with")
                self.entry_stages[name] = self.instantiate(cls, with_, entry, ("with",))

    def in_section(
        self, cls: type[Stage], shown: str, named: _Named, where: PathKey, hook: str
    ) -> bool:
        """Whether the stage has the section's hook; a `wrong-section` error at the step if not."""
        if has_hook(cls, hook):
            return True
        section = "response" if hook == "on_request" else "request"
        self.error(
            named.source,
            (*named.where, *where),
            "wrong-section",
            f"stage {shown} has no {hook} hook",
            hint=f"put it under {section}:",
        )
        return False

    def instantiate(
        self, cls: type[Stage], config: Any, named: _Named, where: PathKey
    ) -> Stage | None:
        """A stage built from its config; None (with diagnostics) when the config is wrong."""
        kind = cls.name
        cfg = self.config(cls.Config, config, named, where, label=f"stage {kind!r}: ")
        if cfg is None:
            return None
        try:
            return cls(cfg)
        except ValueError as exc:
            if not self.reported(named.source, (*named.where, *where)):
                self.error(
                    named.source,
                    (*named.where, *where),
                    "invalid-config",
                    f"stage {kind!r}: {exc}",
                )
            return None

    def build_route(self, named: _Named, backends: Mapping[str, Backend]) -> CompiledRoute | None:
        route = named.value
        if not (
            isinstance(route, dict)
            and isinstance(route.get("name"), str)
            and isinstance(route.get("backend"), dict)
        ):
            return None  # the schema has reported it
        # Values of the wrong type were reported by the schema. A route with a malformed match
        # is still compiled, for its other problems, but left out of the graph and of the
        # reachability check (where a match read as "everything" would make false reports).
        raw = route.get("match")
        match: dict[str, Any] = raw if isinstance(raw, dict) else {}
        frontend = match.get("frontend")
        frontend_list = [frontend] if isinstance(frontend, str) else frontend or list(FRONTENDS)
        model = match.get("model", "*")
        regex = model.get("regex") if isinstance(model, dict) else None
        matcher: re.Pattern[str] | None = None
        try:
            if (
                isinstance(raw, dict | None)
                and isinstance(frontend_list, list)
                and all(isinstance(f, str) for f in frontend_list)
                and isinstance(model if regex is None else regex, str)
            ):
                matcher = compile_pattern(model if regex is None else RegexPattern(regex=regex))
        except re.error as exc:
            where = (*named.where, "match", "model", "regex")
            if not self.reported(named.source, where):
                self.error(named.source, where, "bad-regex", f"invalid regular expression: {exc}")
        request, response = self.build_chains(named, route)
        backend = route.get("backend") or {}
        strategy = self.build_strategy(backend, named)
        targets = []
        listed = backend.get("targets")
        for i, target in enumerate(listed if isinstance(listed, list) else []):
            if not isinstance(target, str):
                continue  # the schema has reported it
            where = (*named.where, "backend", "targets", i)
            try:
                target, params = split_selector(target)
            except ParameterError as exc:
                self.error(named.source, where, "invalid-target", f"target {target!r}: {exc}")
                continue
            name, sep, target_model = target.partition(":")
            if not name or (sep and not target_model):
                self.error(
                    named.source,
                    where,
                    "invalid-target",
                    f"target {target!r} has an empty {'model' if name else 'backend name'}",
                    hint="write BACKEND (the client's model) or BACKEND:MODEL",
                )
            # A declared name with a colon was reported (invalid-name) where it is declared.
            elif name not in self.backends and target not in self.backends:
                self.error(
                    named.source,
                    where,
                    "unknown-backend",
                    f"unknown backend {name!r}",
                    hint=did_you_mean(name, self.backends)
                    or ("no backends are declared" if not self.backends else None),
                )
            targets.append(TargetSpec(name, target_model if sep else None, params))
        if matcher is None or strategy is None or self.reported(named.source, named.where):
            return None  # e.g. a misspelt `match:` would read as "every model"
        frontends = frozenset(frontend_list)
        return CompiledRoute(
            name=str(route.get("name")),
            frontends=frontends if frontends != frozenset(FRONTENDS) else None,
            model_pattern=(regex and f"/{regex}/") or str(model),
            model_re=matcher,
            request=request,
            response=response,
            strategy=strategy,
            targets=tuple(targets),
            back=self.way_back(response),
        )

    def build_strategy(self, backend: dict[str, Any], named: _Named) -> Strategy | None:
        """The route's strategy instance, its config validated (None when it does not fit:
        the schema or this has reported why)."""
        name = backend.get("strategy", "single")
        cls = strategies().get(name) if isinstance(name, str) else None
        if cls is None:
            return None  # the schema reported the unknown name
        config = self.config(cls.Config, backend, named, ("backend",))
        return cls(config) if config is not None else None

    def check_reachable(self, compiled: list[tuple[_Named, CompiledRoute]]) -> None:
        """Report routes that an earlier route always takes first."""
        for i, (named, route) in enumerate(compiled):
            for _, earlier in compiled[:i]:
                covers_frontends = earlier.frontends is None or (
                    route.frontends is not None and route.frontends <= earlier.frontends
                )
                covers_models = earlier.model_pattern in ("*", "/.*/") or (
                    earlier.model_pattern == route.model_pattern
                )
                if covers_frontends and covers_models:
                    self.error(
                        named.source,
                        named.where,
                        "unreachable-route",
                        f"route {route.name!r} is never used: route {earlier.name!r} "
                        "before it takes all of its requests",
                        hint="move it above, or narrow the earlier match",
                    )
                    break

    def compile(self) -> Graph | None:
        self.collect()
        backends = self.build_backends()
        self.build_entries()
        pipeline = (
            self.build_chains(self.pipeline, self.pipeline.value) if self.pipeline else ((), ())
        )
        compiled = [(n, r) for n in self.routes if (r := self.build_route(n, backends))]
        self.check_reachable(compiled)
        if not self.routes and self.sources and not has_errors(self.diagnostics):
            self.diagnostics.append(
                Diagnostic(
                    self.sources[0].path, 1, 1, "no-routes", "no routes are declared", "warning"
                )
            )
        if has_errors(self.diagnostics):
            return None
        return Graph(
            backends=backends,
            routes=tuple(r for _, r in compiled),
            request=pipeline[0],
            response=pipeline[1],
            back=self.way_back(pipeline[1]),
            named=tuple(s for s in self.entry_stages.values() if s is not None),
        )


def compile_sources(sources: list[Source]) -> tuple[Graph | None, list[Diagnostic]]:
    """Compile parsed files into one graph; None when any diagnostic is an error."""
    compiler = _Compiler(sources)
    graph = compiler.compile()
    return graph, sorted(compiler.diagnostics, key=lambda d: (d.path, d.line, d.col))


def load_graph(paths: Iterable[Path]) -> tuple[Graph | None, list[Diagnostic]]:
    """Read and compile every routing file under `paths` as one graph."""
    files = routing_files(paths)
    if not files:
        shown = ", ".join(str(p) for p in paths) or "."
        return None, [Diagnostic(shown, 1, 1, "no-files", "no routing files (*.yaml) found")]
    return compile_sources([read_source(f) for f in files])
