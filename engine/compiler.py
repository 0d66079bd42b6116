"""From routing files to a Graph: validate, merge the files, resolve names, build instances once.

`engine check`, `engine serve` and the hot reloader all go through :func:`load_graph`, so
what `check` accepts is exactly what the server runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.backends import KINDS, Backend
from engine.config import FRONTENDS
from engine.diagnostics import Diagnostic, did_you_mean, has_errors
from engine.graph import BoundStage, CompiledRoute, Graph, TargetSpec, model_matcher
from engine.loader import PathKey, Source, read_source, routing_files
from engine.schema import validate
from engine.stage import has_hook, registry


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

    def error(self, source: Source, where: PathKey, code: str, message: str, **kw: Any) -> None:
        self.diagnostics.append(source.diagnostic(where, code, message, **kw))

    def collect(self) -> None:
        """Validate each file against the schema and merge its sections into one graph."""
        for source in self.sources:
            self.diagnostics.extend(source.diagnostics)
            if source.data is None:
                continue
            for p in validate(source.data):
                self.error(source, p.path, p.code, p.message, key=p.at_key, hint=p.hint)
            for section, table in (("backends", self.backends), ("stages", self.entries)):
                for name, value in (source.data.get(section) or {}).items():
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
            for i, route in enumerate(source.data.get("routes") or []):
                self.routes.append(_Named(source, ("routes", i), route))

    def build_backends(self) -> dict[str, Backend]:
        built: dict[str, Backend] = {}
        for name, named in self.backends.items():
            kind = named.value.get("kind") if isinstance(named.value, dict) else None
            cls = KINDS.get(kind) if isinstance(kind, str) else None
            config = self.config(cls.Config, named.value, named) if cls else None
            if cls is not None and config is not None:
                built[name] = cls(name, config)
        return built

    def config(self, model: type[BaseModel], value: Any, named: _Named, where: PathKey = ()) -> Any:
        """`value` validated by `model`; None (with diagnostics) when it does not fit."""
        try:
            return model.model_validate(value if value is not None else {})
        except ValidationError as exc:
            if not has_errors(self.diagnostics):  # the schema usually said it already
                for err in exc.errors():
                    self.error(
                        named.source,
                        (*named.where, *where, *err["loc"]),
                        "invalid-value",
                        err["msg"],
                    )
            return None

    def build_stage(self, step: Any, named: _Named, where: PathKey, hook: str) -> BoundStage | None:
        """The stage instance for one route step."""
        stages = registry()
        if isinstance(step, str):
            label, config, config_where = step, None, where
            if step in self.entries:
                entry = self.entries[step]
                if not isinstance(entry.value, dict):
                    return None
                kind, config, named, config_where = (
                    entry.value.get("use"),
                    entry.value.get("with"),
                    entry,
                    ("with",),
                )
            elif step in stages:
                kind = step
            else:
                self.error(
                    named.source,
                    (*named.where, *where),
                    "unknown-stage",
                    f"unknown stage {step!r}",
                    hint=did_you_mean(step, [*stages, *self.entries]),
                )
                return None
        elif isinstance(step, dict) and len(step) == 1:
            ((kind, config),) = step.items()
            label, config_where = kind, (*where, kind)
        else:
            return None
        cls = stages.get(kind) if isinstance(kind, str) else None
        if cls is None:
            return None
        if not has_hook(cls, hook):
            section = "response" if hook == "on_request" else "request"
            self.error(
                named.source,
                (*named.where, *where),
                "wrong-section",
                f"stage {kind!r} has no {hook} hook",
                hint=f"put it under {section}:",
            )
            return None
        cfg = self.config(cls.Config, config, named, config_where)
        if cfg is None:
            return None
        try:
            return BoundStage(label, cls(cfg))
        except ValueError as exc:
            self.error(
                named.source,
                (*named.where, *config_where),
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
        match = route.get("match") or {}
        frontend = match.get("frontend")
        frontends = frozenset([frontend] if isinstance(frontend, str) else frontend or FRONTENDS)
        model = match.get("model", "*")
        regex = model.get("regex") if isinstance(model, dict) else None
        try:
            matcher = model_matcher(model if isinstance(model, str) else None, regex)
        except Exception as exc:
            self.error(
                named.source,
                (*named.where, "match", "model", "regex"),
                "bad-regex",
                f"invalid regular expression: {exc}",
            )
            return None
        steps = {}
        for section, hook in (("request", "on_request"), ("response", "on_events")):
            steps[section] = tuple(
                bound
                for i, step in enumerate(route.get(section) or [])
                if (bound := self.build_stage(step, named, (section, i), hook)) is not None
            )
        backend = route.get("backend") or {}
        targets = []
        for i, target in enumerate(backend.get("targets") or []):
            name, sep, target_model = str(target).partition(":")
            if name not in self.backends:
                hint = did_you_mean(name, self.backends)
                self.error(
                    named.source,
                    (*named.where, "backend", "targets", i),
                    "unknown-backend",
                    f"unknown backend {name!r}",
                    hint=hint,
                )
            targets.append(TargetSpec(name, target_model if sep else None))
        return CompiledRoute(
            name=str(route.get("name")),
            frontends=frontends if frontends != frozenset(FRONTENDS) else None,
            model_pattern=(regex and f"/{regex}/") or str(model),
            model_re=matcher,
            request=steps["request"],
            response=steps["response"],
            strategy=backend.get("strategy", "single"),
            targets=tuple(targets),
        )

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
        return Graph(backends=backends, routes=tuple(r for _, r in compiled))


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
