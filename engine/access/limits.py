"""Rate limits: requests and tokens per minute, counted per scope (a client key, a route)
in fixed one-minute windows that every process sharing the store counts into.

A request is counted before it is served; one that finds a scope over its limit is
refused until that scope's window ends (`Retry-After`), and counts too, so that a client
hammering a limit stays refused. Tokens are counted when the reply says how many it used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

WINDOW_SECS = 60


@dataclass(frozen=True, slots=True)
class Limit:
    """The limits of one scope: requests and tokens per minute (None: no limit)."""

    scope: str
    rpm: int | None = None
    tpm: int | None = None


def window(now: float) -> int:
    """The window `now` falls in: minutes since the epoch."""
    return int(now // WINDOW_SECS)


def retry_after(now: float) -> int:
    """Whole seconds until the window of `now` ends (at least 1)."""
    return max(1, math.ceil((window(now) + 1) * WINDOW_SECS - now))


def over(limit: Limit, requests: int, tokens: int) -> bool:
    """Whether a scope that counted `requests` (this one included) and `tokens` this window
    is over its limit."""
    return (limit.rpm is not None and requests > limit.rpm) or (
        limit.tpm is not None and tokens >= limit.tpm
    )


class LimitStore(Protocol):
    """Where the windows' counts are kept."""

    async def take(self, limits: Sequence[Limit], now: float) -> Limit | None:
        """Count one request in each scope's window; the first limit it is over, if any."""

    async def spend(self, scopes: Sequence[str], tokens: int, now: float) -> None:
        """Add `tokens` to each scope's window."""


class MemoryLimitStore:
    """Windows in this process only."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], list[int]] = {}

    def __len__(self) -> int:
        """How many windows it holds (bounded: the past ones go when it grows)."""
        return len(self._counts)

    async def take(self, limits: Sequence[Limit], now: float) -> Limit | None:
        current, hit = window(now), None
        for limit in limits:
            counts = self._counts.setdefault((limit.scope, current), [0, 0])
            counts[0] += 1
            if hit is None and over(limit, *counts):
                hit = limit
        self._prune(current)
        return hit

    async def spend(self, scopes: Sequence[str], tokens: int, now: float) -> None:
        current = window(now)
        for scope in scopes:
            self._counts.setdefault((scope, current), [0, 0])[1] += tokens

    def _prune(self, current: int) -> None:
        if len(self._counts) > 10_000:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= current}


__all__ = ["WINDOW_SECS", "Limit", "LimitStore", "MemoryLimitStore", "over", "retry_after"]
