"""Load generators for the benchmarks: `wrk` when it is on PATH, else a Python one.

Both keep N connections open (HTTP/1.1 keep-alive), each sending one POST after another
for a fixed duration, and report requests/s, latency percentiles and errors. A latency is
the time from sending a request to the last byte of its response (for a stream, the end of
the stream); the Python generator also records the time to the first byte of the response.
A response that is not 2xx, a broken connection or a timeout is an error and its latency
is not counted. Only 127.0.0.1 URLs are accepted.

`wrk` runs with a generated Lua script that sets the POST body and prints its exact
percentiles as one JSON line from its `done` hook; the text of `--latency` is the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

ALLOWED_HOSTS = {"127.0.0.1", "localhost"}
MAX_DURATION = 600.0
MAX_CONCURRENCY = 1024


@dataclass
class LoadResult:
    """What one load run measured. Latencies in milliseconds."""

    generator: str
    concurrency: int
    duration: float
    requests: int
    errors: int
    rps: float
    p50: float | None
    p90: float | None
    p99: float | None
    mean: float | None
    max: float | None
    ttfb_p50: float | None = None
    ttfb_p99: float | None = None
    error_kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) by nearest rank, as wrk reports it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def check_url(url: str) -> tuple[str, int, str]:
    """Host, port and path of a loopback http URL; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in ALLOWED_HOSTS:
        raise ValueError(f"the benchmarks only load http://127.0.0.1 (got {url!r})")
    return "127.0.0.1", parts.port or 80, parts.path or "/"


def _bounded(duration: float, concurrency: int) -> None:
    if not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration must be in (0, {MAX_DURATION}] seconds")
    if not 0 < concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be in [1, {MAX_CONCURRENCY}]")


# --- wrk -----------------------------------------------------------------------------------

_LUA = """\
wrk.method = "POST"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {{\\"requests\\":%.0f,\\"duration_us\\":%.0f,\\"connect\\":%.0f," ..
    "\\"read\\":%.0f,\\"write\\":%.0f,\\"status\\":%.0f,\\"timeout\\":%.0f," ..
    "\\"p50\\":%.1f,\\"p90\\":%.1f,\\"p99\\":%.1f,\\"mean\\":%.1f,\\"max\\":%.1f}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


def _lua_long_string(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def wrk_script(body: bytes, headers: dict[str, str]) -> str:
    """The Lua script making wrk POST `body` with `headers` and report as JSON."""
    lines = "\n".join(
        f"wrk.headers[ {_lua_long_string(k)} ] = {_lua_long_string(v)}" for k, v in headers.items()
    )
    return _LUA.format(body=_lua_long_string(body.decode()), headers=lines)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _parse_wrk_text(out: str) -> dict[str, float]:
    """The figures from wrk's own text (with `--latency`), in case the Lua hook printed none."""
    found: dict[str, float] = {}
    for q in ("50", "90", "99"):
        match = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
        if match:
            found[f"p{q}"] = float(match.group(1)) * _UNITS[match.group(2)] * 1000
    match = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if match:
        found["requests"] = float(match.group(1))
        found["duration_us"] = float(match.group(2)) * _UNITS[match.group(3)] * 1000
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    found["status"] = float(match.group(1)) if match else 0.0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    for i, kind in enumerate(("connect", "read", "write", "timeout")):
        found[kind] = float(match.group(i + 1)) if match else 0.0
    return found


def run_wrk(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    concurrency: int,
    duration: float,
    threads: int = 2,
    timeout: float = 10.0,
) -> LoadResult:
    """Load `url` with wrk for `duration` seconds (whole seconds, at least one)."""
    check_url(url)
    _bounded(duration, concurrency)
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not on PATH")
    seconds = max(1, round(duration))
    threads = max(1, min(threads, concurrency))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(body, headers))
    try:
        command = [
            wrk,
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{seconds}s",
            f"--timeout={max(1, round(timeout))}s",
            "--latency",
            "-s",
            script.name,
            url,
        ]
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + timeout + 30, check=False
        )
    finally:
        os.unlink(script.name)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    match = re.search(r"^BENCH_JSON (\{.*\})$", proc.stdout, re.MULTILINE)
    figures: dict[str, float] = (
        {k: float(v) for k, v in json.loads(match.group(1)).items()}
        if match
        else _parse_wrk_text(proc.stdout)
    )
    kinds = {
        k: int(figures.get(k, 0))
        for k in ("connect", "read", "write", "status", "timeout")
        if figures.get(k)
    }
    errors = sum(kinds.values())
    wall = figures.get("duration_us", seconds * 1e6) / 1e6
    requests = int(figures.get("requests", 0))
    # wrk's `requests` counts completed responses, non-2xx included.
    ok = max(0, requests - kinds.get("status", 0))

    def ms(key: str) -> float | None:
        value = figures.get(key)
        return None if value is None or not requests else value / 1000

    return LoadResult(
        generator="wrk",
        concurrency=concurrency,
        duration=wall,
        requests=ok,
        errors=errors,
        rps=ok / wall if wall else 0.0,
        p50=ms("p50"),
        p90=ms("p90"),
        p99=ms("p99"),
        mean=ms("mean"),
        max=ms("max"),
        error_kinds=kinds,
    )


# --- the Python generator ------------------------------------------------------------------


class ResponseError(Exception):
    """A response that does not count: a bad status or a broken body."""


class _Client(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection parsing responses incrementally."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, float]] | None = None
        self.first_byte = 0.0
        self.lost: Exception | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.head_done = False
        self.length = -1  # Content-Length, or -1 for chunked
        self.pos = 0  # parse position in buffer
        self.first_byte = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("connection closed")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    def send(self, request: bytes) -> asyncio.Future[tuple[int, float]]:
        """Send a request; the future gives the status and the time of the first byte."""
        assert self.transport is not None
        if self.lost is not None:
            raise self.lost
        self._reset()
        self.buffer.clear()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        if not self.first_byte:
            self.first_byte = time.perf_counter()
        self.buffer += data
        try:
            done = self._parse()
        except ResponseError as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(exc)
            if self.transport is not None:
                self.transport.close()
            return
        if done and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.status, self.first_byte))

    def _parse(self) -> bool:
        buf = self.buffer
        if not self.head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = bytes(buf[:end]).lower()
            try:
                self.status = int(head[9:12])
            except ValueError:
                raise ResponseError("malformed status line") from None
            match = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
            if match:
                self.length = int(match.group(1))
            elif b"transfer-encoding: chunked" in head:
                self.length = -1
            else:
                raise ResponseError("a response with neither content-length nor chunked")
            self.head_done = True
            self.pos = end + 4
        if self.length >= 0:
            return len(buf) - self.pos >= self.length
        while True:  # chunked: walk whole chunks from pos
            eol = buf.find(b"\r\n", self.pos)
            if eol < 0:
                return False
            try:
                size = int(bytes(buf[self.pos : eol]).split(b";")[0], 16)
            except ValueError:
                raise ResponseError("malformed chunk size") from None
            if size == 0:
                return len(buf) >= eol + 4  # the empty line after the last chunk; no trailers
            if len(buf) < eol + 2 + size + 2:
                return False
            self.pos = eol + 2 + size + 2

    def body(self) -> bytes:
        """The raw body of the last response (still chunk-framed when chunked)."""
        return bytes(self.buffer[self.buffer.find(b"\r\n\r\n") + 4 :])


def build_request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The raw bytes of a keep-alive POST."""
    host, port, path = check_url(url)
    lines = [f"POST {path} HTTP/1.1", f"host: {host}:{port}", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _load(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    concurrency: int,
    duration: float,
    max_requests: int | None,
    timeout: float,
    expect: bytes | None,
) -> LoadResult:
    host, port, _ = check_url(url)
    raw = build_request(url, body, headers)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    firsts: list[float] = []
    errors: Counter[str] = Counter()
    budget = [max_requests if max_requests is not None else -1]
    started = time.perf_counter()
    deadline = started + duration

    def take() -> bool:
        if budget[0] == 0:
            return False
        budget[0] -= 1
        return True

    async def worker() -> None:
        client: _Client | None = None
        try:
            while time.perf_counter() < deadline and take():
                if client is None or client.lost is not None:
                    try:
                        _, client = await asyncio.wait_for(
                            loop.create_connection(_Client, host, port), timeout
                        )
                    except (OSError, TimeoutError) as exc:
                        errors[f"connect: {type(exc).__name__}"] += 1
                        client = None
                        await asyncio.sleep(0.05)
                        continue
                t0 = time.perf_counter()
                try:
                    status, first = await asyncio.wait_for(client.send(raw), timeout)
                except TimeoutError:
                    errors["timeout"] += 1
                    if client.transport is not None:
                        client.transport.close()
                    client = None
                    continue
                except (OSError, ResponseError) as exc:
                    errors[f"read: {type(exc).__name__}"] += 1
                    client = None
                    continue
                t1 = time.perf_counter()
                if not 200 <= status < 300:
                    errors[f"status {status}"] += 1
                    continue
                if expect is not None and expect not in client.body():
                    errors["unexpected body"] += 1
                    continue
                latencies.append(t1 - t0)
                firsts.append(first - t0)
        finally:
            if client is not None and client.transport is not None:
                client.transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    firsts.sort()

    def ms(values: list[float], q: float) -> float | None:
        value = percentile(values, q)
        return None if value is None else value * 1000

    return LoadResult(
        generator="python",
        concurrency=concurrency,
        duration=wall,
        requests=len(latencies),
        errors=sum(errors.values()),
        rps=len(latencies) / wall if wall else 0.0,
        p50=ms(latencies, 50),
        p90=ms(latencies, 90),
        p99=ms(latencies, 99),
        mean=sum(latencies) / len(latencies) * 1000 if latencies else None,
        max=latencies[-1] * 1000 if latencies else None,
        ttfb_p50=ms(firsts, 50),
        ttfb_p99=ms(firsts, 99),
        error_kinds=dict(errors),
    )


def run_python(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    concurrency: int,
    duration: float,
    max_requests: int | None = None,
    timeout: float = 10.0,
    expect: bytes | None = None,
) -> LoadResult:
    """Load `url` from this process for `duration` seconds (or `max_requests` requests).

    `expect`, when given, must occur in every response body (e.g. `data: [DONE]`).
    """
    _bounded(duration, concurrency)
    coro = _load(
        url,
        body,
        headers,
        concurrency=concurrency,
        duration=duration,
        max_requests=max_requests,
        timeout=timeout,
        expect=expect,
    )
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.run(coro)
    return uvloop.run(coro)


def have_wrk() -> bool:
    """Whether wrk is on PATH."""
    return shutil.which("wrk") is not None


def run_load(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    concurrency: int,
    duration: float,
    generator: str = "auto",
    threads: int = 2,
    timeout: float = 10.0,
    expect: bytes | None = None,
) -> LoadResult:
    """Load `url` with wrk (`auto` picks it when installed) or the Python generator."""
    if generator == "wrk" or (generator == "auto" and have_wrk()):
        return run_wrk(
            url,
            body,
            headers,
            concurrency=concurrency,
            duration=duration,
            threads=threads,
            timeout=timeout,
        )
    if generator not in ("auto", "python"):
        raise ValueError(f"unknown generator {generator!r}")
    return run_python(
        url,
        body,
        headers,
        concurrency=concurrency,
        duration=duration,
        timeout=timeout,
        expect=expect,
    )


def main() -> None:
    """`python -m tests.bench.load URL --body '{…}'`: load one URL and print the figures."""
    import argparse

    parser = argparse.ArgumentParser(description="Load one loopback URL with POSTs.")
    parser.add_argument("url")
    parser.add_argument("--body", default='{"model":"bench","messages":[]}')
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    result = run_load(
        args.url,
        args.body.encode(),
        {"content-type": "application/json"},
        concurrency=args.concurrency,
        duration=args.duration,
        generator=args.generator,
    )
    print(json.dumps(result.as_dict(), indent=2))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
