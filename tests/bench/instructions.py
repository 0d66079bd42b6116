"""Instructions each lane's server executes per request: a measure that noise does not move.

    python -m tests.bench.instructions [--requests N] [--modes json stream]
                                       [--lanes null empty default anthropic]

Runs each lane's server (`tests.bench.lanes`: a null proxy, or `engine serve` on one of the
benchmark's routing files, all on the fake upstream of `tests.bench.upstream`) under
valgrind's callgrind, sends N requests of a mode one after the other, and subtracts a run
that served only the warm-up requests: what is left is the server's own work for N
requests, start-up excluded. Wall-clock figures on a shared machine move by a quarter
from run to run; these move by well under a percent, so a change on the hot path can be
compared with the tree before it (run this in each), and the engine with the null proxy
(the ratio printed is the null proxy's instructions over the lane's: the throughput
ratio a CPU-bound server would reach).
Needs valgrind (`apt-get install valgrind`); takes a minute or two per lane and mode.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import httpx

from tests.bench.lanes import LANES, ROOT, Lane, headers, request_body
from tests.bench.run import HOST, free_port, started

WARMUP = 3
START_SECS = 300.0  # valgrind makes start-up some fifty times slower


def _instructions(work: Path, base_url: str, lane: Lane, mode: str, requests: int) -> int:
    """Instructions of a server run that served WARMUP + `requests` requests of `mode`."""
    out = work / f"callgrind-{lane.name}-{mode}-{requests}.out"
    port = free_port()
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    command = [*valgrind, *lane.command(port, base_url, work, "warning")]
    body = request_body(lane.protocol, stream=mode == "stream")
    with (
        started(command, port, out.with_suffix(".log"), "the proxy", START_SECS),
        httpx.Client(timeout=300) as client,
    ):
        for _ in range(WARMUP + requests):
            url = f"http://{HOST}:{port}{lane.path}"
            response = client.post(url, content=body, headers=headers(lane.protocol))
            response.read()
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    found = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no instruction count in {out}")
    return int(found[1])


def main(argv: list[str] | None = None) -> int:
    """Measure; print one line per lane and mode."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.instructions")
    parser.add_argument("--requests", type=int, default=40, help="measured requests per mode")
    parser.add_argument("--chunks", type=int, default=60, help="content chunks per stream")
    parser.add_argument(
        "--modes", nargs="+", choices=["json", "stream"], default=["json", "stream"]
    )
    lanes = [name for name, lane in LANES.items() if lane.kind in ("null", "engine")]
    parser.add_argument("--lanes", nargs="+", choices=lanes, default=["empty"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="engine-instructions-") as tmp:
        work = Path(tmp)
        port = free_port()
        upstream = [sys.executable, "-m", "tests.bench.upstream", f"--port={port}"]
        upstream.append(f"--chunks={args.chunks}")
        base_url = f"http://{HOST}:{port}/v1"
        with started(upstream, port, work / "upstream.log", "the fake upstream"):
            for mode in args.modes:
                null: float | None = None
                for name in args.lanes:
                    lane = LANES[name]
                    idle = _instructions(work, base_url, lane, mode, 0)
                    busy = _instructions(work, base_url, lane, mode, args.requests)
                    per = (busy - idle) / args.requests
                    null = per if name == "null" else null
                    ratio = f", null/this {null / per:.2f}x" if null and name != "null" else ""
                    print(
                        f"{name:10} {mode:6} {per / 1e6:7.2f} M instructions per request"
                        f"{ratio} ({ROOT.name})",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
