"""Prometheus metrics (`GET /metrics`): requests, latency, time to first byte and tokens
by front-end, route, backend and status; what the stages counted (calls stopped, loops,
retries); hot reloads; circuit breakers. Each app has a registry of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.breaker import Breakers
from engine.diagnostics import Diagnostic, has_errors
from engine.graph import Graph

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_BREAKER_STATES = ("closed", "half-open", "open")


class Metrics:
    """The counters the server updates, and the collectors that read its state."""

    def __init__(self, graph: Callable[[], Graph], breakers: Breakers) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("frontend", "route", "backend", "status")
        self.requests = Counter(
            "engine_requests", "HTTP requests served", labels, registry=self.registry
        )
        self.latency = Histogram(
            "engine_request_seconds",
            "time from the request to its last byte",
            ("frontend", "route"),
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.first_byte = Histogram(
            "engine_time_to_first_byte_seconds",
            "time from a streamed request to its first body bytes (first token or keep-alive)",
            ("frontend", "route"),
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "engine_tokens",
            "tokens the replies reported",
            ("frontend", "route", "backend", "kind"),
            registry=self.registry,
        )
        self.reloads = Counter(
            "engine_reloads",
            "hot reloads of the routes, by outcome",
            ("outcome",),
            registry=self.registry,
        )
        self.registry.register(_StateCollector(graph, breakers))

    def reloaded(self, generation: int, diagnostics: list[Diagnostic]) -> None:
        """A `GraphHolder` listener: count the reload by outcome."""
        self.reloads.labels("rejected" if has_errors(diagnostics) else "accepted").inc()

    def served(self, fields: Mapping[str, str], status: int, seconds: float) -> None:
        """Count one request from what its access line knows."""
        frontend, route = fields.get("frontend", "-"), fields.get("route", "-")
        backend = fields.get("backend", "-")
        self.requests.labels(frontend, route, backend, str(status or 0)).inc()
        self.latency.labels(frontend, route).observe(seconds)
        if "ttfb" in fields:
            self.first_byte.labels(frontend, route).observe(float(fields["ttfb"]))
        for kind in ("input", "output"):
            if f"{kind}_tokens" in fields:
                self.tokens.labels(frontend, route, backend, kind).inc(
                    int(fields[f"{kind}_tokens"])
                )

    def exposition(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)


class _StateCollector(Collector):
    """What the current graph's stages counted, and the breakers' states, read when
    scraped (a reload starts the stages' counts again, as a restart would)."""

    def __init__(self, graph: Callable[[], Graph], breakers: Breakers) -> None:
        self._graph = graph
        self._breakers = breakers

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "engine_stage_events",
            "what the stages counted since the routes were loaded (calls stopped, loops, …)",
            labels=("stage", "event", "reason"),
        )
        for stage in self._graph().stages():
            for event, reasons in stage.counters().items():
                for reason, count in reasons.items():
                    events.add_metric([stage.name, event, reason], count)
        yield events
        breakers = GaugeMetricFamily(
            "engine_circuit_breaker_state",
            "1 for the state each backend's breaker is in (this process)",
            labels=("backend", "state"),
        )
        for backend, breaker in self._breakers.by_backend.items():
            for state in _BREAKER_STATES:
                breakers.add_metric([backend, state], 1.0 if breaker.state == state else 0.0)
        yield breakers


__all__ = ["CONTENT_TYPE", "Metrics"]
