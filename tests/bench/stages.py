"""What each stream stage costs per chunk: its event hook over a streamed reply, in process.

    python -m tests.bench.stages [--chunks N] [--rounds R]

Every registered stage with an event hook (`on_events`, and `on_client_events` after it
when it has one), built-in or plug-in, runs over a reply of `--chunks` text deltas,
`--rounds` times; its cost is the time per chunk beyond
that of a stage that passes every event on (`passthrough`). Stages are built with the
config a route would declare with none, or the one in `CONFIGS` for those that need one.
The budget is 20 µs per chunk per stage on the machine the README names.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError

from engine.model import Event
from engine.stage import Stage, StrictModel, has_hook, passthrough, registry
from engine.testing import make_context, request, text_stream

BUDGET_US = 20.0
# Stages that need a config to be declared at all, with one a user might write.
# `vtc` reads every client's text as a Cline-style client's (`clients: all`).
CONFIGS: dict[str, dict[str, Any]] = {
    "redact_words": {"words": ["hunter2", "swordfish"]},
    "vtc": {"clients": "all"},
}


class _Passthrough(Stage):
    """The yardstick: an event hook that passes every event on."""

    class Config(StrictModel):
        """No settings."""

    def on_events(self, ctx: Any, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        return passthrough(events)


async def _per_chunk_us(stage: Any, chunks: int, rounds: int) -> float:
    """The mean time per chunk of `stage`'s event hook, in microseconds."""
    words = [f"word{i} and more text " for i in range(chunks)]  # no passage repeats
    events = text_stream(*words)
    ctx = make_context(request("hello"))

    async def source() -> AsyncIterator[Event]:
        for event in events:
            yield event

    best = float("inf")
    for _ in range(3):  # the best of three batches: the least disturbed by the machine
        started = time.perf_counter()
        for _ in range(rounds):
            stream = stage.on_events(ctx, source())
            if has_hook(stage, "on_client_events"):  # and its way back, for one that has it
                stream = stage.on_client_events(ctx, stream)
            async for _event in stream:
                pass
        best = min(best, time.perf_counter() - started)
    return best / (rounds * chunks) * 1e6


def measure(chunks: int = 60, rounds: int = 200) -> list[dict[str, Any]]:
    """One row per stream stage: its name and µs per chunk beyond a pass-through."""

    async def run() -> list[dict[str, Any]]:
        base = await _per_chunk_us(_Passthrough(_Passthrough.Config()), chunks, rounds)
        rows: list[dict[str, Any]] = []
        for name, kind in sorted(registry().items()):
            if not has_hook(kind, "on_events"):
                continue
            try:
                stage = kind(kind.Config(**CONFIGS.get(name, {})))
            except ValidationError as exc:
                rows.append({"stage": name, "us_per_chunk": None, "note": f"no config: {exc}"})
                continue
            cost = await _per_chunk_us(stage, chunks, rounds) - base
            rows.append({"stage": name, "us_per_chunk": max(cost, 0.0), "note": ""})
            await stage.aclose()
        return rows

    return asyncio.run(run())


def table(rows: list[dict[str, Any]]) -> str:
    """The per-stage figures as Markdown, against the budget."""
    if not rows:
        return "No stream stage is registered."
    lines = [
        f"| stream stage | µs per chunk beyond a pass-through | budget ({BUDGET_US:g} µs) |",
        "|---|---|---|",
    ]
    for row in rows:
        cost = row["us_per_chunk"]
        if cost is None:
            lines.append(f"| {row['stage']} | - | {row['note'][:80]} |")
            continue
        verdict = "met" if cost <= BUDGET_US else "MISSED"
        lines.append(f"| {row['stage']} | {cost:.2f} | {verdict} |")
    return "\n".join(lines)


def main() -> None:
    """Print the per-stage table."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.stages")
    parser.add_argument("--chunks", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    print(table(measure(args.chunks, args.rounds)))


if __name__ == "__main__":
    main()
