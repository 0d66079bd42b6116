"""Prometheus metrics (`GET /metrics`): requests, latency, time to first byte and tokens
by front-end, route, backend and status; what the stages counted (calls stopped, loops,
retries); hot reloads; circuit breakers. Each app has a registry of its own.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from engine.breaker import Breakers
from engine.diagnostics import Diagnostic, has_errors
from engine.graph import Graph

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_BREAKER_STATES = ("closed", "half-open", "open")


class _Histogram:
    """Observations counted into fixed buckets: one C bisect and two adds per value."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(_SECONDS) + 1)  # the last: above every bound
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(_SECONDS, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        """Prometheus's cumulative buckets, `+Inf` last."""
        out, total = [], 0
        for bound, count in zip((*map(str, _SECONDS), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, float(total)))
        return out


class Metrics:
    """The counts the server keeps per request, and what it exports when scraped.

    A request costs a few dictionary lookups and additions here (the event loop is the only
    writer, so nothing is locked); `prometheus-client` turns the counts into its text
    format when `/metrics` is read, with the collectors of the server's state."""

    def __init__(self, graph: Callable[[], Graph], breakers: Breakers) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests: dict[tuple[str, str, str, str], int] = {}
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.first_byte: dict[tuple[str, str], _Histogram] = {}
        self.tokens: dict[tuple[str, str, str, str], int] = {}
        self.reloads = Counter(
            "engine_reloads",
            "hot reloads of the routes, by outcome",
            ("outcome",),
            registry=self.registry,
        )
        self.registry.register(_RequestCollector(self))
        self.registry.register(_StateCollector(graph, breakers))

    def reloaded(self, generation: int, diagnostics: list[Diagnostic]) -> None:
        """A `GraphHolder` listener: count the reload by outcome."""
        self.reloads.labels("rejected" if has_errors(diagnostics) else "accepted").inc()

    def served(
        self, fields: Mapping[str, str], status: int, seconds: float, ttfb: float | None = None
    ) -> None:
        """Count one request from what its access line knows (`ttfb`: a stream's time to
        its first body bytes)."""
        where = (fields.get("frontend", "-"), fields.get("route", "-"))
        backend = fields.get("backend", "-")
        key = (*where, backend, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        latency = self.latency.get(where)
        if latency is None:
            latency = self.latency[where] = _Histogram()
        latency.observe(seconds)
        if ttfb is not None:
            first = self.first_byte.get(where)
            if first is None:
                first = self.first_byte[where] = _Histogram()
            first.observe(ttfb)
        if "output_tokens" in fields:
            for kind in ("input", "output"):
                counted = (*where, backend, kind)
                used = int(fields.get(f"{kind}_tokens", 0))
                self.tokens[counted] = self.tokens.get(counted, 0) + used

    def exposition(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)


class _RequestCollector(Collector):
    """The per-request counts, as Prometheus metric families."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        requests = CounterMetricFamily(
            "engine_requests",
            "HTTP requests served",
            labels=("frontend", "route", "backend", "status"),
        )
        for served, count in metrics.requests.items():
            requests.add_metric(served, count)
        yield requests
        for name, doc, histograms in (
            ("engine_request_seconds", "time from the request to its last byte", metrics.latency),
            (
                "engine_time_to_first_byte_seconds",
                "time from a streamed request to its first body bytes (first token or keep-alive)",
                metrics.first_byte,
            ),
        ):
            family = HistogramMetricFamily(name, doc, labels=("frontend", "route"))
            for where, histogram in histograms.items():
                family.add_metric(where, histogram.buckets(), histogram.sum)
            yield family
        tokens = CounterMetricFamily(
            "engine_tokens",
            "tokens the replies reported",
            labels=("frontend", "route", "backend", "kind"),
        )
        for used, count in metrics.tokens.items():
            tokens.add_metric(used, count)
        yield tokens


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
