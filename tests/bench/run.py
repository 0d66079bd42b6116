"""Benchmark the proxy: requests/s and p50/p99 latency, direct and through the proxy.

    python -m tests.bench.run [--duration S] [--concurrency C] [--scenarios ...]
                              [--modes json stream] [--json out.json]

Starts the fake upstream (`tests.bench.upstream`) and, one after the other, two proxies
(`engine serve --no-reload` on routes folders generated in a temporary directory) in front
of it, then loads each scenario with wrk (when on PATH) or the Python generator:

* `direct`: straight to the fake upstream, the floor the proxy is measured against;
* `null`: through a null proxy on the engine's own stack (`tests.bench.null_proxy`: Quart on
  hypercorn, one shared httpx client, bytes in and bytes out), the yardstick: the table
  gives each proxy scenario's requests/s as a ratio of the null proxy's;
* `empty`: through the proxy with an empty pipeline (`request: []`, `response: []`): the
  cost of the front-end codec, the executor and the OpenAI connector alone;
* `default`: through the proxy with the pipeline of `routes/default.yaml` (`commands`, then
  `model_rewrite` with a rule that matches the benchmark's model, so the rewrite happens).

each in two modes: `json` (non-streaming) and `stream` (SSE with `include_usage`, the
upstream sending `--chunks` content chunks). Before each measurement a probe checks the
reply (the text, the `[DONE]`, the usage chunk) and a short warm-up fills the pools. The
table gives requests/s, p50/p99 latency (to the last byte), errors, the time to the first
byte (Python generator only), the proxy's CPU time per request (from /proc: the proxy is one
process on one event loop, so it saturates at 1 CPU-second per second), and how many
connections the upstream accepted during the measurement (a proxy that reuses its upstream
connections opens a handful, not one per request).

With two or more CPUs the proxy runs alone on the last one (`--no-pin` to leave scheduling
to the kernel). `--chunk-delay-ms` makes the upstream pace its chunks like a model would.
Everything listens on 127.0.0.1, every wait is bounded, and every subprocess is stopped on
the way out (also on SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.bench.load import LoadResult, have_wrk, run_load

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("direct", "null", "empty", "default")
MODES = ("json", "stream")
READY_TIMEOUT = 30.0
CLIENT_MODEL = "fast"  # what the benchmark client asks for
UPSTREAM_MODEL = "bench-model"

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

SYSTEM = (
    "You are a careful coding assistant. Answer briefly, cite the files you change, and "
    "never run destructive commands without asking. " * 4
).strip()


def request_body(*, stream: bool) -> bytes:
    """A small but realistic Chat Completions request (about 1.5 KB)."""
    body: dict[str, Any] = {
        "model": CLIENT_MODEL,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Where is the retry logic for upstream calls?"},
            {
                "role": "assistant",
                "content": "In engine/executor.py: `_from_backends` tries the next target "
                "on a retryable status when the route's strategy is failover.",
            },
            {"role": "user", "content": "Which statuses count as retryable? Answer in a list."},
        ],
        "temperature": 0.2,
        "max_tokens": 256,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


HEADERS = {"content-type": "application/json", "authorization": "Bearer bench-key"}


# --- processes -----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    """Poll until `port` accepts connections; fail when `proc` exits or after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {HOST}:{port} within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop `proc`: SIGTERM, then SIGKILL after `timeout` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


@contextlib.contextmanager
def started(
    command: list[str], port: int, log: Path, what: str, timeout: float = READY_TIMEOUT
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (listening on `port`) for the duration of the block, output to `log`."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            try:
                wait_for_port(port, proc, timeout, what)
            except RuntimeError:
                out.flush()
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{what} did not start; its output:\n{tail}") from None
            yield proc
        finally:
            stop(proc)


def engine_command(routes: Path, port: int, log_level: str) -> list[str]:
    """`engine serve` on `routes`, as the benchmarks run it."""
    return [
        sys.executable,
        "-m",
        "engine",
        "serve",
        "--routes",
        str(routes),
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-reload",
        "--log-level",
        log_level,
    ]


def can_pin() -> bool:
    """Whether this machine can give the proxy a CPU of its own."""
    return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


def pin_plan() -> tuple[set[int], set[int]]:
    """CPUs for the proxy (the last one) and for everything else (the rest)."""
    cpus = sorted(os.sched_getaffinity(0))
    return {cpus[-1]}, set(cpus[:-1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of `pid` so far (Linux), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- checks --------------------------------------------------------------------------------


def probe(url: str, *, stream: bool, chunks: int) -> None:
    """One request, checked: the whole text, the finish, the usage, `[DONE]` when streaming."""
    expected = "lorem " * chunks
    with httpx.Client(timeout=10) as client:
        response = client.post(url, content=request_body(stream=stream), headers=HEADERS)
    if response.status_code != 200:
        raise RuntimeError(f"probe of {url}: HTTP {response.status_code}: {response.text[:500]}")
    if not stream:
        body = response.json()
        choice = body["choices"][0]
        if choice["message"]["content"] != expected or choice["finish_reason"] != "stop":
            raise RuntimeError(f"probe of {url}: unexpected reply {body}")
        if not body.get("usage"):
            raise RuntimeError(f"probe of {url}: no usage in {body}")
        return
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    if not data or data[-1] != "[DONE]":
        raise RuntimeError(f"probe of {url}: the stream did not end with [DONE]")
    chunks_seen = [json.loads(d) for d in data[:-1]]
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks_seen if c.get("choices")
    )
    finishes = [
        c["choices"][0]["finish_reason"]
        for c in chunks_seen
        if c.get("choices") and c["choices"][0].get("finish_reason")
    ]
    if text != expected or finishes != ["stop"]:
        raise RuntimeError(f"probe of {url}: unexpected stream (text {text!r}, {finishes})")
    if not any(c.get("usage") for c in chunks_seen):
        raise RuntimeError(f"probe of {url}: no usage chunk although include_usage was asked")


# --- the run -------------------------------------------------------------------------------


@dataclass
class Row:
    """One measured scenario and mode."""

    scenario: str
    mode: str
    result: LoadResult
    proxy_cpu_s: float | None = None
    upstream_connections: int = 0  # opened during the measurement
    upstream_completions: int = 0

    @property
    def cpu_ms_per_request(self) -> float | None:
        """The proxy's CPU milliseconds per answered request."""
        if self.proxy_cpu_s is None or not self.result.requests:
            return None
        return self.proxy_cpu_s / self.result.requests * 1000

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "scenario": self.scenario,
            "mode": self.mode,
            **self.result.as_dict(),
            "proxy_cpu_s": self.proxy_cpu_s,
            "proxy_cpu_ms_per_request": self.cpu_ms_per_request,
            "upstream_connections": self.upstream_connections,
            "upstream_completions": self.upstream_completions,
        }


def upstream_stats(base_url: str) -> dict[str, int]:
    """The fake upstream's counters: connections accepted, completions served."""
    with httpx.Client(timeout=5) as client:
        stats: dict[str, int] = client.get(base_url.removesuffix("/v1") + "/stats").json()
    return stats


def measure(
    args: argparse.Namespace,
    scenario: str,
    url: str,
    pid: int | None,
    generator: str,
    base_url: str,
) -> list[Row]:
    """Probe, warm up and load `url` in each mode."""
    rows: list[Row] = []
    for mode in args.modes:
        stream = mode == "stream"
        probe(url, stream=stream, chunks=args.chunks)
        body = request_body(stream=stream)
        expect = b"data: [DONE]" if stream else None
        common = {
            "concurrency": args.concurrency,
            "generator": generator,
            "threads": args.threads,
            "expect": expect,
        }
        if args.warmup > 0:
            run_load(url, body, HEADERS, duration=args.warmup, **common)
        counted = upstream_stats(base_url)
        before = cpu_seconds(pid) if pid else None
        result = run_load(url, body, HEADERS, duration=args.duration, **common)
        after = cpu_seconds(pid) if pid else None
        cpu = after - before if before is not None and after is not None else None
        now = upstream_stats(base_url)
        row = Row(scenario, mode, result, cpu)
        row.upstream_connections = now["connections"] - counted["connections"]
        row.upstream_completions = now["completions"] - counted["completions"]
        rows.append(row)
        print(f"  {scenario:8} {mode:6} {_brief(row)}", file=sys.stderr, flush=True)
    return rows


def _brief(row: Row) -> str:
    r = row.result
    text = f"{r.rps:9.1f} req/s  p50 {_ms(r.p50)} ms  p99 {_ms(r.p99)} ms  errors {r.errors}"
    if r.error_kinds:
        text += f" {r.error_kinds}"
    return text


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(rows: list[Row]) -> str:
    """The figures as a Markdown table."""
    ttfb = any(row.result.ttfb_p50 is not None for row in rows)
    head = ["scenario", "mode", "req/s", "p50 ms", "p99 ms", "errors"]
    if ttfb:
        head += ["TTFB p50 ms"]
    head += ["proxy CPU ms/req", "upstream conns", "vs null"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    null = {row.mode: row.result.rps for row in rows if row.scenario == "null"}
    for row in rows:
        r = row.result
        cells = [row.scenario, row.mode, f"{r.rps:.0f}", _ms(r.p50), _ms(r.p99), str(r.errors)]
        if ttfb:
            cells.append(_ms(r.ttfb_p50))
        cells += [_ms(row.cpu_ms_per_request), str(row.upstream_connections)]
        base = null.get(row.mode)
        cells.append(f"{r.rps / base:.2f}x" if base and row.scenario != "direct" else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    with contextlib.suppress(OSError):
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = match.group(1) if match else ""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.run",
        description="Benchmark the proxy against a fake upstream (127.0.0.1 only).",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--concurrency", type=int, default=32, help="open connections")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument(
        "--chunk-delay-ms", type=float, default=0.0, help="the upstream's pause between chunks"
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=can_pin(),
        help="run the proxy alone on the last CPU, everything else on the others "
        "(default: on with 2 or more CPUs)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    parser.add_argument(
        "--proxy-log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 300 or not 0 <= args.warmup <= 60:
        parser.error("--duration must be in (0, 300] and --warmup in [0, 60]")
    if not 1 <= args.concurrency <= 1024 or not 1 <= args.chunks <= 10_000:
        parser.error("--concurrency must be in [1, 1024] and --chunks in [1, 10000]")
    if args.generator == "wrk" and not have_wrk():
        parser.error("--generator wrk: wrk is not on PATH (apt-get install wrk)")
    return args


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds the `with` blocks, which stop the subprocesses


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table (stdout) and progress (stderr)."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    generator = "wrk" if args.generator == "auto" and have_wrk() else args.generator
    generator = "python" if generator == "auto" else generator
    per_mode = args.duration + args.warmup + 5
    budget = len(args.scenarios) * (len(args.modes) * per_mode + READY_TIMEOUT + 15) + 60
    python = sys.executable
    rows: list[Row] = []
    proxy_cpus: set[int] | None = None
    if args.pin:
        proxy_cpus, other_cpus = pin_plan()
        os.sched_setaffinity(0, other_cpus)  # inherited by the upstream and wrk
    print(
        f"benchmark: {generator} generator, {args.concurrency} connections, "
        f"{args.duration:g} s per measurement, {args.chunks} chunks per stream",
        file=sys.stderr,
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        work = Path(tmp)
        upstream_port = free_port()
        upstream_cmd = [
            python,
            "-m",
            "tests.bench.upstream",
            f"--port={upstream_port}",
            f"--chunks={args.chunks}",
            f"--chunk-delay-ms={args.chunk_delay_ms}",
            f"--max-seconds={budget:.0f}",
        ]
        base_url = f"http://{HOST}:{upstream_port}/v1"
        with started(upstream_cmd, upstream_port, work / "upstream.log", "the fake upstream"):
            for scenario in args.scenarios:
                if scenario == "direct":
                    rows += measure(
                        args, scenario, f"{base_url}/chat/completions", None, generator, base_url
                    )
                    continue
                port = free_port()
                if scenario == "null":
                    proxy_cmd = [python, "-m", "tests.bench.null_proxy", "--port", str(port)]
                    proxy_cmd += ["--upstream", base_url]
                else:
                    routes = work / scenario
                    routes.mkdir()
                    template = EMPTY_ROUTES if scenario == "empty" else DEFAULT_ROUTES
                    (routes / "bench.yaml").write_text(
                        template.format(
                            base_url=base_url, model=UPSTREAM_MODEL, client_model=CLIENT_MODEL
                        )
                    )
                    proxy_cmd = engine_command(routes, port, args.proxy_log_level)
                log = work / f"proxy-{scenario}.log"
                with started(proxy_cmd, port, log, f"the proxy ({scenario})") as proc:
                    if proxy_cpus is not None:
                        os.sched_setaffinity(proc.pid, proxy_cpus)
                    url = f"http://{HOST}:{port}/v1/chat/completions"
                    rows += measure(args, scenario, url, proc.pid, generator, base_url)
                    if proc.poll() is not None:
                        raise RuntimeError(f"the proxy ({scenario}) died during the run")
    report = table(rows)
    print(report)
    notes = machine()
    wrk = shutil.which("wrk")
    print(
        f"\n{notes['cpus']} CPUs ({notes['cpu_model'] or 'unknown'}), Python {notes['python']}; "
        f"generator {generator}{f' ({wrk})' if generator == 'wrk' else ''}, "
        f"{args.concurrency} connections, {args.duration:g} s each after {args.warmup:g} s "
        f"warm-up; streams of {args.chunks} chunks"
        + (f", {args.chunk_delay_ms:g} ms apart" if args.chunk_delay_ms else "")
        + (f"; proxy pinned to CPU {sorted(proxy_cpus)}, the rest elsewhere" if proxy_cpus else "")
        + "."
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": notes,
                    "settings": {
                        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                    }
                    | {"generator": generator},
                    "results": [row.as_dict() for row in rows],
                    "table": report,
                },
                indent=2,
            )
        )
    return 1 if any(row.result.errors or not row.result.requests for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
