"""Instructions the proxy executes per request: a measure that noise does not move.

    python -m tests.bench.instructions [--requests N] [--modes json stream]
                                       [--pipeline empty default]

Runs `engine serve` (the `empty` or `default` pipeline of `tests.bench.run`, its `openai`
backend on the fake upstream of `tests.bench.upstream`) under valgrind's callgrind, sends N
requests of a mode one after the other, and subtracts a run that served only the warm-up
requests: what is left is the proxy's own work for N requests, start-up excluded.
Wall-clock figures on a shared machine move by a quarter from run to run; these move by
well under a percent, so a change on the hot path can be compared with the tree before it
(run this in each).
Needs valgrind (`apt-get install valgrind`); takes a minute or two per mode.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import httpx

from tests.bench.run import (
    CLIENT_MODEL,
    DEFAULT_ROUTES,
    EMPTY_ROUTES,
    HEADERS,
    HOST,
    ROOT,
    UPSTREAM_MODEL,
    engine_command,
    free_port,
    request_body,
    started,
)

WARMUP = 3
START_SECS = 300.0  # valgrind makes start-up some fifty times slower
PIPELINES = {"empty": EMPTY_ROUTES, "default": DEFAULT_ROUTES}


def _instructions(work: Path, base_url: str, pipeline: str, mode: str, requests: int) -> int:
    """Instructions of a proxy run that served WARMUP + `requests` requests of `mode`."""
    routes = work / "routes"
    routes.mkdir(exist_ok=True)
    yaml = PIPELINES[pipeline].format(
        base_url=base_url, model=UPSTREAM_MODEL, client_model=CLIENT_MODEL
    )
    (routes / "bench.yaml").write_text(yaml)
    out = work / f"callgrind-{pipeline}-{mode}-{requests}.out"
    port = free_port()
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    command = [*valgrind, *engine_command(routes, port, "warning")]
    body = request_body(stream=mode == "stream")
    with (
        started(command, port, out.with_suffix(".log"), "the proxy", START_SECS),
        httpx.Client(timeout=300) as client,
    ):
        for _ in range(WARMUP + requests):
            response = client.post(
                f"http://{HOST}:{port}/v1/chat/completions", content=body, headers=HEADERS
            )
            response.read()
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    found = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no instruction count in {out}")
    return int(found[1])


def main(argv: list[str] | None = None) -> int:
    """Measure; print one line per mode."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.instructions")
    parser.add_argument("--requests", type=int, default=40, help="measured requests per mode")
    parser.add_argument(
        "--modes", nargs="+", choices=["json", "stream"], default=["json", "stream"]
    )
    parser.add_argument(
        "--pipeline", nargs="+", choices=list(PIPELINES), default=["empty"], dest="pipelines"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="engine-instructions-") as tmp:
        work = Path(tmp)
        port = free_port()
        upstream = [sys.executable, "-m", "tests.bench.upstream", f"--port={port}", "--chunks=20"]
        base_url = f"http://{HOST}:{port}/v1"
        with started(upstream, port, work / "upstream.log", "the fake upstream"):
            for pipeline in args.pipelines:
                for mode in args.modes:
                    idle = _instructions(work, base_url, pipeline, mode, 0)
                    busy = _instructions(work, base_url, pipeline, mode, args.requests)
                    per = (busy - idle) / args.requests
                    print(
                        f"{pipeline:8} {mode:6} {per / 1e6:7.2f} M instructions per request"
                        f" ({ROOT.name})"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
