"""Benchmark the proxy against null proxies on its own stack, in one run.

    python -m tests.bench.run [--duration S] [--concurrency C] [--lanes ...]
                              [--modes json stream] [--chunks N] [--json out.json]

Starts the fake upstream (`tests.bench.upstream`: canned replies, one write each) and, one
after the other, each lane of `tests.bench.lanes` in front of it: null proxies (Quart on
hypercorn with the engine's upstream client, with httpx on its native and its aiohttp
transport, and aiohttp server + client, the floor for any Python proxy), the engine with an
empty pipeline, with the default one (`commands` + `model_rewrite`), Anthropic Messages in
and OpenAI out, and LiteLLM when it is installed in a venv of its own (`make bench-litellm`).

Each lane is loaded in two modes, `json` and `stream` (SSE with `include_usage`, the
upstream sending `--chunks` content chunks), at `--concurrency` connections with wrk (or the
Python generator) for requests/s and the proxy's CPU time per request and per stream chunk
(from /proc), then at one connection for the latency a proxy adds (its p50 less the direct
one). Before each measurement a probe checks the reply (the text, the finish, the usage).
Then the engine's memory over `--memory-requests` streamed requests, and each stream
stage's cost per chunk (`tests.bench.stages`). The report ends with the issue's targets:
the ratios of the engine lanes to the null proxy, and whether each is met.

With two or more CPUs the proxy runs alone on the last one (`--no-pin` to leave scheduling
to the kernel). Everything listens on 127.0.0.1, every wait is bounded, and every
subprocess is stopped on the way out (also on SIGTERM).
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
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.bench import stages
from tests.bench.lanes import (
    DEFAULT_LANES,
    LANES,
    ROOT,
    Lane,
    headers,
    probe,
    request_body,
    stream_end,
)
from tests.bench.load import LoadResult, have_wrk, run_load, run_python

HOST = "127.0.0.1"
MODES = ("json", "stream")
READY_TIMEOUT = 60.0


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


def rss_kib(pid: int) -> int | None:
    """The resident set size of `pid` in KiB (Linux), None elsewhere."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) if match else None


# --- the run -------------------------------------------------------------------------------


@dataclass
class Row:
    """One lane and mode, measured in rounds that alternate with the other lanes'."""

    lane: str
    mode: str
    chunks: int
    rounds: list[LoadResult] = field(default_factory=list)
    cpu_s: list[float | None] = field(default_factory=list)  # the proxy's, per round
    singles: list[LoadResult] = field(default_factory=list)  # at one connection
    upstream_connections: int = 0  # opened during the measurements

    @property
    def rps(self) -> float:
        """Requests per second, the median of the rounds."""
        return statistics.median(r.rps for r in self.rounds)

    @property
    def errors(self) -> int:
        """Failed requests over all rounds."""
        return sum(r.errors for r in self.rounds)

    @property
    def cpu_ms_per_request(self) -> float | None:
        """The proxy's CPU milliseconds per answered request, the median of the rounds."""
        per = [
            cpu / r.requests * 1000
            for cpu, r in zip(self.cpu_s, self.rounds, strict=True)
            if cpu is not None and r.requests
        ]
        return statistics.median(per) if per else None

    @property
    def cpu_us_per_chunk(self) -> float | None:
        """The proxy's CPU microseconds per streamed chunk (its whole cost, spread)."""
        per_request = self.cpu_ms_per_request
        if per_request is None or self.mode != "stream":
            return None
        return per_request * 1000 / self.chunks

    @property
    def single_p50(self) -> float | None:
        """The median latency at one connection, the median of the rounds."""
        values = [r.p50 for r in self.singles if r.p50 is not None]
        return statistics.median(values) if values else None

    def ratio(self, other: Row) -> float | None:
        """This lane's requests/s as a multiple of `other`'s: the median of the rounds'
        ratios, each round of the two measured minutes apart at most."""
        pairs = [a.rps / b.rps for a, b in zip(self.rounds, other.rounds, strict=False) if b.rps]
        return statistics.median(pairs) if pairs else None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "lane": self.lane,
            "mode": self.mode,
            "rps": self.rps,
            "errors": self.errors,
            "proxy_cpu_ms_per_request": self.cpu_ms_per_request,
            "proxy_cpu_us_per_chunk": self.cpu_us_per_chunk,
            "single_p50_ms": self.single_p50,
            "upstream_connections": self.upstream_connections,
            "rounds": [r.as_dict() for r in self.rounds],
            "singles": [r.as_dict() for r in self.singles],
        }


def upstream_stats(base_url: str) -> dict[str, int]:
    """The fake upstream's counters: connections accepted, completions served."""
    with httpx.Client(timeout=5) as client:
        stats: dict[str, int] = client.get(base_url.removesuffix("/v1") + "/stats").json()
    return stats


@dataclass(frozen=True)
class Served:
    """A lane being served: where, and by which process."""

    lane: Lane
    url: str
    pid: int | None


def measure(args: argparse.Namespace, served: list[Served], mode: str, base_url: str) -> list[Row]:
    """Probe and warm up every lane, then load each in turn, `--rounds` times over."""
    stream = mode == "stream"
    rows = [Row(s.lane.name, mode, args.chunks) for s in served]
    for s in served:
        probe(s.url, s.lane.protocol, stream=stream, chunks=args.chunks)
        if args.warmup > 0:
            _load(args, s, stream, args.warmup, args.concurrency)
    for number in range(1, args.rounds + 1):
        for s, row in zip(served, rows, strict=True):
            counted = upstream_stats(base_url)
            before = cpu_seconds(s.pid) if s.pid else None
            row.rounds.append(_load(args, s, stream, args.duration, args.concurrency))
            after = cpu_seconds(s.pid) if s.pid else None
            row.cpu_s.append(after - before if before is not None and after is not None else None)
            row.upstream_connections += (
                upstream_stats(base_url)["connections"] - counted["connections"]
            )
            if args.latency_duration:
                row.singles.append(_load(args, s, stream, args.latency_duration, 1))
            print(
                f"  {number}/{args.rounds} {row.lane:18} {mode:6} {_brief(row)}",
                file=sys.stderr,
                flush=True,
            )
    return rows


def _load(
    args: argparse.Namespace, s: Served, stream: bool, duration: float, concurrency: int
) -> LoadResult:
    return run_load(
        s.url,
        request_body(s.lane.protocol, stream=stream),
        headers(s.lane.protocol),
        duration=duration,
        concurrency=concurrency,
        generator=args.generator,
        threads=min(args.threads, concurrency),
        expect=stream_end(s.lane.protocol) if stream else None,
    )


def _brief(row: Row) -> str:
    r = row.rounds[-1]
    text = f"{r.rps:9.1f} req/s  p50 {_ms(r.p50)} ms  p99 {_ms(r.p99)} ms  errors {r.errors}"
    if r.error_kinds:
        text += f" {r.error_kinds}"
    if row.singles:
        text += f"  c=1 p50 {_ms(row.singles[-1].p50)} ms"
    return text


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _added_p50(rows: list[Row], row: Row) -> float | None:
    """The latency `row`'s server adds at one connection: its p50 less the direct one."""
    direct = _find(rows, "direct", row.mode)
    if direct is None or row is direct or row.single_p50 is None or direct.single_p50 is None:
        return None
    return row.single_p50 - direct.single_p50


def _find(rows: list[Row], lane: str, mode: str) -> Row | None:
    return next((r for r in rows if r.lane == lane and r.mode == mode), None)


def table(rows: list[Row]) -> str:
    """The figures as a Markdown table, one row per lane, both modes side by side."""
    modes = list(dict.fromkeys(row.mode for row in rows))
    head = ["lane"]
    for mode in modes:
        head += [f"{mode} req/s", f"{mode} vs null", f"{mode} CPU ms/req"]
        head += [f"{mode} added p50 ms (c=1)"]
    head += ["CPU µs/chunk", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for name in dict.fromkeys(row.lane for row in rows):
        cells = [LANES[name].title]
        errors = 0
        per_chunk = "-"
        for mode in modes:
            row = _find(rows, name, mode)
            if row is None:
                cells += ["-"] * 4
                continue
            null = _find(rows, "null", mode)
            ratio = row.ratio(null) if null is not None and name != "direct" else None
            cells += [f"{row.rps:,.0f}", "-" if ratio is None else f"{ratio:.2f}x"]
            cells += [_ms(row.cpu_ms_per_request), _ms(_added_p50(rows, row))]
            errors += row.errors
            if row.cpu_us_per_chunk is not None:
                per_chunk = f"{row.cpu_us_per_chunk:.1f}"
        cells += [per_chunk, str(errors)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass
class Target:
    """One of the issue's targets: a ratio and the bound it must meet."""

    what: str
    ratio: float | None
    bound: float
    at_most: bool = False

    def line(self) -> str:
        """`what: 0.93x (≥ 0.90x) met`."""
        if self.ratio is None:
            return f"- {self.what}: not measured"
        sign = "≤" if self.at_most else "≥"
        met = self.ratio <= self.bound if self.at_most else self.ratio >= self.bound
        verdict = "met" if met else "MISSED"
        return f"- {self.what}: {self.ratio:.2f}x ({sign} {self.bound:.2f}x) {verdict}"


def targets(rows: list[Row]) -> list[Target]:
    """The ratios the issue asks for, from this run's rows."""

    def ratio(lane: str, of: str, mode: str) -> float | None:
        a, b = _find(rows, lane, mode), _find(rows, of, mode)
        return a.ratio(b) if a and b else None

    def added(lane: str, mode: str) -> float | None:
        a, b = _find(rows, lane, mode), _find(rows, "null", mode)
        mine, null = (_added_p50(rows, a) if a else None), (_added_p50(rows, b) if b else None)
        return mine / null if mine is not None and null else None

    found = [
        Target("engine/null, json", ratio("empty", "null", "json"), 0.9),
        Target("engine/null, stream", ratio("empty", "null", "stream"), 0.8),
    ]
    for mode in MODES:
        found.append(Target(f"Anthropic in/null, {mode}", ratio("anthropic", "null", mode), 0.8))
    for mode in MODES:
        found.append(
            Target(f"added p50 at c=1, engine/null, {mode}", added("empty", mode), 1.25, True)
        )
    for mode in MODES:
        found.append(
            Target(f"default/empty pipeline, {mode}", ratio("default", "empty", mode), 0.9)
        )
    return [t for t in found if t.ratio is not None]


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


def memory(args: argparse.Namespace, url: str, pid: int) -> dict[str, Any]:
    """The engine's RSS after the first 1,000 streamed requests and after all of them."""
    body = request_body("openai", stream=True)
    sent = headers("openai")
    first = min(1000, args.memory_requests)
    common = {"concurrency": args.concurrency, "duration": 600.0, "expect": stream_end("openai")}
    warm = run_python(url, body, sent, max_requests=first, **common)
    after_first = rss_kib(pid)
    rest = run_python(url, body, sent, max_requests=args.memory_requests - first, **common)
    after_all = rss_kib(pid)
    return {
        "requests": warm.requests + rest.requests,
        "errors": warm.errors + rest.errors,
        "rss_kib_after_1000": after_first,
        "rss_kib_after_all": after_all,
        "growth": (after_all / after_first - 1) if after_first and after_all else None,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.run",
        description="Benchmark the proxy against null proxies and a fake upstream (127.0.0.1).",
    )
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per lane and mode")
    parser.add_argument("--concurrency", type=int, default=32, help="open connections")
    parser.add_argument("--lanes", nargs="+", choices=list(LANES), default=DEFAULT_LANES)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument(
        "--latency-duration", type=float, default=3.0, help="seconds at one connection (0: skip)"
    )
    parser.add_argument("--chunks", type=int, default=60, help="content chunks per stream")
    parser.add_argument(
        "--chunk-delay-ms", type=float, default=0.0, help="the upstream's pause between chunks"
    )
    parser.add_argument(
        "--memory-requests",
        type=int,
        default=10_000,
        help="streamed requests for the engine's memory check (0: skip)",
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
    if not 1 <= args.rounds <= 100:
        parser.error("--rounds must be in [1, 100]")
    if not 0 <= args.memory_requests <= 1_000_000:
        parser.error("--memory-requests must be in [0, 1000000]")
    if args.generator == "wrk" and not have_wrk():
        parser.error("--generator wrk: wrk is not on PATH (apt-get install wrk)")
    if args.generator == "auto":
        args.generator = "wrk" if have_wrk() else "python"
    return args


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds the `with` blocks, which stop the subprocesses


def _settings(args: argparse.Namespace, proxy_cpus: set[int] | None) -> str:
    wrk = shutil.which("wrk")
    notes = machine()
    return (
        f"{notes['cpus']} CPUs ({notes['cpu_model'] or 'unknown'}), Python {notes['python']}; "
        f"generator {args.generator}{f' ({wrk})' if args.generator == 'wrk' else ''}, "
        f"{args.concurrency} connections, {args.rounds} rounds of {args.duration:g} s per lane "
        f"(the lanes in turn) after {args.warmup:g} s warm-up, each followed by "
        f"{args.latency_duration:g} s at one connection; streams of "
        f"{args.chunks} chunks"
        + (f", {args.chunk_delay_ms:g} ms apart" if args.chunk_delay_ms else "")
        + (f"; proxy pinned to CPU {sorted(proxy_cpus)}, the rest elsewhere" if proxy_cpus else "")
        + "."
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the report (stdout) and progress (stderr)."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    per_mode = args.warmup + args.rounds * (args.duration + args.latency_duration + 2) + 5
    budget = len(args.lanes) * (len(args.modes) * per_mode + READY_TIMEOUT + 15) + 900
    rows: list[Row] = []
    skipped: dict[str, str] = {}
    mem: dict[str, Any] | None = None
    proxy_cpus: set[int] | None = None
    if args.pin:
        proxy_cpus, other_cpus = pin_plan()
        os.sched_setaffinity(0, other_cpus)  # inherited by the upstream and wrk
    print(f"benchmark: {_settings(args, proxy_cpus)}", file=sys.stderr, flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        upstream_port = free_port()
        upstream_cmd = [
            sys.executable,
            "-m",
            "tests.bench.upstream",
            f"--port={upstream_port}",
            f"--chunks={args.chunks}",
            f"--chunk-delay-ms={args.chunk_delay_ms}",
            f"--max-seconds={budget:.0f}",
        ]
        base_url = f"http://{HOST}:{upstream_port}/v1"
        stack.enter_context(
            started(upstream_cmd, upstream_port, work / "upstream.log", "the fake upstream")
        )
        served: list[Served] = []
        for name in args.lanes:  # all at once: idle, a server costs nothing
            lane = LANES[name]
            if (why := lane.available()) is not None:
                skipped[name] = why
                print(f"  {name:18} skipped: {why}", file=sys.stderr, flush=True)
            elif lane.kind == "direct":
                served.append(Served(lane, f"{base_url}/chat/completions", None))
            else:
                port = free_port()
                command = lane.command(port, base_url, work, args.proxy_log_level)
                log = work / f"proxy-{name}.log"
                try:
                    proc = stack.enter_context(started(command, port, log, f"the proxy ({name})"))
                except RuntimeError as exc:  # an optional lane that would not start
                    if lane.kind != "litellm":
                        raise
                    skipped[name] = str(exc).splitlines()[0]
                    print(f"  {name:18} skipped: {exc}", file=sys.stderr, flush=True)
                    continue
                if proxy_cpus is not None:
                    os.sched_setaffinity(proc.pid, proxy_cpus)
                served.append(Served(lane, f"http://{HOST}:{port}{lane.path}", proc.pid))
        for mode in args.modes:
            rows += measure(args, served, mode, base_url)
        engine = next((s for s in served if s.lane.name == "empty"), None)
        if engine is not None and args.memory_requests:
            mem = memory(args, engine.url, engine.pid or 0)
    report = [table(rows), "", _settings(args, proxy_cpus)]
    report += [f"Not measured: {name}: {why}." for name, why in skipped.items()]
    found = targets(rows)
    if found:
        report += ["", "Targets (issue 8):", *(t.line() for t in found)]
    if mem is not None and mem["growth"] is not None:
        growth = mem["growth"]
        report += [
            "",
            f"Memory: the engine's RSS {mem['rss_kib_after_1000'] / 1024:.1f} MiB after 1,000 "
            f"streamed requests, {mem['rss_kib_after_all'] / 1024:.1f} MiB after "
            f"{mem['requests']:,} ({growth:+.1%}; target within ±10%), {mem['errors']} errors.",
        ]
    per_stage = stages.measure(chunks=args.chunks)
    report += ["", stages.table(per_stage)]
    print("\n".join(report))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "settings": {
                        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                    },
                    "results": [row.as_dict() for row in rows],
                    "targets": [t.__dict__ for t in found],
                    "memory": mem,
                    "stages": per_stage,
                    "table": report[0],
                },
                indent=2,
            )
        )
    return 1 if any(row.errors or not row.rps for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
