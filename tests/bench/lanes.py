"""What the benchmark measures: its lanes, the requests they send and how a reply is checked.

A lane is one server in front of the fake upstream (or none, for `direct`), asked in one
protocol. `null*` lanes are null proxies (`tests.bench.null_proxy`); `empty`, `default` and
`anthropic` are the engine on generated routing files; `litellm` is the LiteLLM proxy, when
installed in a venv of its own (`make bench-litellm`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
CLIENT_MODEL = "fast"  # what the benchmark client asks for
UPSTREAM_MODEL = "bench-model"
STORE = os.environ.get("BENCH_STORE")  # the engine lanes' --store, else a new SQLite file
LITELLM_VENV = Path(os.environ.get("LITELLM_VENV", ROOT / ".venv-litellm"))
CLIENT_KEY = "sk-bench-5f0c9a7e31d24b6c8e0f1a2b3c4d5e6f"  # LiteLLM wants its master key

EMPTY_ROUTES = """\
# Benchmark: the proxy with nothing in its pipeline.
version: 1
backends:
  upstream: {{kind: openai, base_url: "{base_url}", api_key: bench}}
routes:
  - name: empty
    match: {{model: "*"}}
    request: []
    response: []
    backend: {{targets: [upstream]}}
"""

DEFAULT_ROUTES = """\
# Benchmark: the pipeline of routes/default.yaml, its backend replaced by the fake upstream.
version: 1
backends:
  upstream: {{kind: openai, base_url: "{base_url}", api_key: bench, models: [{model}]}}
routes:
  - name: default
    match: {{model: "*"}}
    request:
      - commands
      - model_rewrite:
          rules:
            - {{from: "{client_model}", to: "upstream:{model}"}}
    backend: {{targets: [upstream]}}
"""

LITELLM_CONFIG = """\
model_list:
  - model_name: {client_model}
    litellm_params: {{model: "openai/{model}", api_base: "{base_url}", api_key: bench}}
general_settings: {{master_key: "{key}", disable_spend_logs: true}}
litellm_settings: {{drop_params: true, telemetry: false}}
"""

SYSTEM = (
    "You are a careful coding assistant. Answer briefly, cite the files you change, and "
    "never run destructive commands without asking. "
).strip()
TURNS = [
    {"role": "user", "content": "Where is the retry logic for upstream calls?"},
    {"role": "assistant", "content": "In engine/executor.py, where the strategy runs."},
    {"role": "user", "content": "Which statuses count as retryable? Answer in a list."},
]


@dataclass(frozen=True)
class Lane:
    """One server the benchmark loads, and how."""

    name: str
    title: str
    kind: str  # direct | null | engine | litellm
    protocol: str = "openai"  # what the client speaks: openai | anthropic
    server: str = "quart"  # null proxies: quart | aiohttp
    client: str = "engine"  # null proxies on Quart: see tests.bench.null_proxy
    routes: str = ""  # engine lanes: the routing file's template

    @property
    def path(self) -> str:
        """The endpoint the load goes to."""
        return "/anthropic/v1/messages" if self.protocol == "anthropic" else "/v1/chat/completions"

    def available(self) -> str | None:
        """Why this lane cannot run here, or None."""
        if self.kind == "litellm" and not (LITELLM_VENV / "bin" / "litellm").exists():
            return f"LiteLLM is not installed in {LITELLM_VENV} (make bench-litellm)"
        needs = {"httpx-aiohttp": "httpx_aiohttp", "httpx2": "httpx2"}.get(self.client)
        if self.server == "aiohttp":
            needs = "aiohttp"
        if needs and importlib.util.find_spec(needs) is None:
            return f"{needs} is not installed"
        return None

    def command(self, port: int, base_url: str, work: Path, log_level: str) -> list[str]:
        """The command that serves this lane on `port`."""
        python = sys.executable
        if self.kind == "null":
            return [
                python, "-m", "tests.bench.null_proxy", "--port", str(port),
                "--upstream", base_url, "--server", self.server, "--client", self.client,
            ]  # fmt: skip
        values = {"base_url": base_url, "model": UPSTREAM_MODEL, "client_model": CLIENT_MODEL}
        values["key"] = CLIENT_KEY
        if self.kind == "litellm":
            config = work / "litellm.yaml"
            config.write_text(LITELLM_CONFIG.format(**values))
            return [
                str(LITELLM_VENV / "bin" / "litellm"), "--config", str(config),
                "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1",
            ]  # fmt: skip
        routes = work / self.name
        routes.mkdir(exist_ok=True)
        (routes / "bench.yaml").write_text(self.routes.format(**values))
        return [
            python, "-m", "engine", "serve", "--routes", str(routes), "--host", "127.0.0.1",
            "--port", str(port), "--no-reload", "--log-level", log_level,
            # As a user runs it: a SQLite store, new for each start (so that every run
            # of `instructions` pays the same migration); BENCH_STORE=memory for none.
            "--store", STORE or f"sqlite:///{routes / f'engine-{port}.db'}",
        ]  # fmt: skip


LANES = {
    lane.name: lane
    for lane in (
        Lane("direct", "direct to the fake upstream", "direct"),
        Lane("null", "null proxy: Quart on hypercorn, the engine's upstream client", "null"),
        Lane("null-httpx", "null proxy, httpx native transport (httpcore)", "null", client="httpx"),
        Lane(
            "null-httpx-aiohttp",
            "null proxy, httpx over its aiohttp transport (httpx-aiohttp)",
            "null",
            client="httpx-aiohttp",
        ),
        Lane("null-httpx2", "null proxy, httpx2 (httpcore2)", "null", client="httpx2"),
        Lane("null-aiohttp", "null proxy, aiohttp server and client", "null", server="aiohttp"),
        Lane("empty", "**engine**, empty pipeline", "engine", routes=EMPTY_ROUTES),
        Lane("default", "engine, default pipeline", "engine", routes=DEFAULT_ROUTES),
        Lane(
            "anthropic",
            "engine, Anthropic Messages in, OpenAI out",
            "engine",
            protocol="anthropic",
            routes=EMPTY_ROUTES,
        ),
        Lane("litellm", "LiteLLM proxy, one worker", "litellm"),
    )
}
DEFAULT_LANES = [name for name in LANES if name != "null-httpx2"]


def request_body(protocol: str, *, stream: bool) -> bytes:
    """A small but realistic request of `protocol` (about 600 bytes)."""
    body: dict[str, Any] = {"model": CLIENT_MODEL, "max_tokens": 256, "temperature": 0.2}
    if protocol == "anthropic":
        body |= {"system": SYSTEM, "messages": TURNS}
        if stream:
            body["stream"] = True
    else:
        body["messages"] = [{"role": "system", "content": SYSTEM}, *TURNS]
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
    return json.dumps(body).encode()


def headers(protocol: str) -> dict[str, str]:
    """The request headers of `protocol`'s SDK, as far as the proxy cares."""
    if protocol == "anthropic":
        return {
            "content-type": "application/json",
            "x-api-key": CLIENT_KEY,
            "anthropic-version": "2023-06-01",
        }
    return {"content-type": "application/json", "authorization": f"Bearer {CLIENT_KEY}"}


def stream_end(protocol: str) -> bytes:
    """What every complete streamed reply of `protocol` contains."""
    return b"message_stop" if protocol == "anthropic" else b"data: [DONE]"


def probe(url: str, protocol: str, *, stream: bool, chunks: int) -> None:
    """One request, checked: the whole text, the finish and the usage."""
    expected = "lorem " * chunks
    with httpx.Client(timeout=10) as client:
        response = client.post(
            url, content=request_body(protocol, stream=stream), headers=headers(protocol)
        )
    if response.status_code != 200:
        raise RuntimeError(f"probe of {url}: HTTP {response.status_code}: {response.text[:500]}")
    check = _check_anthropic if protocol == "anthropic" else _check_openai
    problem = check(response.text, stream=stream, expected=expected)
    if problem:
        raise RuntimeError(f"probe of {url} ({'stream' if stream else 'json'}): {problem}")


def _data(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def _check_openai(text: str, *, stream: bool, expected: str) -> str | None:
    if not stream:
        body = json.loads(text)
        choice = body["choices"][0]
        if choice["message"]["content"] != expected or choice["finish_reason"] != "stop":
            return f"unexpected reply {body}"
        return None if body.get("usage") else f"no usage in {body}"
    data = _data(text)
    if not data or data[-1] != "[DONE]":
        return "the stream did not end with [DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    choices = [c["choices"][0] for c in chunks if c.get("choices")]
    said = "".join(c["delta"].get("content") or "" for c in choices)
    finishes = [c["finish_reason"] for c in choices if c.get("finish_reason")]
    if said != expected or finishes != ["stop"]:
        return f"unexpected stream (text {said!r}, {finishes})"
    return None if any(c.get("usage") for c in chunks) else "no usage chunk"


def _check_anthropic(text: str, *, stream: bool, expected: str) -> str | None:
    if not stream:
        body = json.loads(text)
        said = "".join(b.get("text", "") for b in body["content"])
        if said != expected or body["stop_reason"] != "end_turn":
            return f"unexpected reply {body}"
        return None if body.get("usage", {}).get("output_tokens") else f"no usage in {body}"
    events = [json.loads(d) for d in _data(text)]
    said = "".join(
        e["delta"].get("text", "") for e in events if e.get("type") == "content_block_delta"
    )
    stops = [e["delta"].get("stop_reason") for e in events if e.get("type") == "message_delta"]
    if said != expected or stops != ["end_turn"] or events[-1].get("type") != "message_stop":
        return f"unexpected stream (text {said!r}, {stops})"
    return None
