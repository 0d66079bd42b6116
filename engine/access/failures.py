"""Failed key attempts per client address, and the growing block that follows them.

The first `FREE_FAILURES` wrong keys in a row cost nothing; each one after blocks the
address for twice as long as the one before (1 s, 2 s, 4 s, … up to an hour). A right
key, or an hour without a wrong one, starts the count again.
"""

from __future__ import annotations

from typing import Protocol

FREE_FAILURES = 5
MAX_BLOCK_SECS = 3600.0
FORGET_AFTER_SECS = 3600.0


def block_secs(failures: int) -> float:
    """How long an address is blocked after `failures` wrong keys in a row."""
    if failures <= FREE_FAILURES:
        return 0.0
    return min(2.0 ** (failures - FREE_FAILURES - 1), MAX_BLOCK_SECS)


class FailureStore(Protocol):
    """Where failed attempts are counted."""

    async def blocked(self, address: str, now: float) -> float:
        """Seconds the address is still blocked (0 when it is not)."""

    async def failed(self, address: str, now: float) -> float:
        """Count a wrong key from the address; the block it now has, in seconds."""

    async def succeeded(self, address: str) -> None:
        """A right key: forget the address's failures."""


class MemoryFailureStore:
    """Failures counted in this process only."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, float, float]] = {}  # failures, blocked until, last

    async def blocked(self, address: str, now: float) -> float:
        entry = self._seen.get(address)
        return max(0.0, entry[1] - now) if entry else 0.0

    async def failed(self, address: str, now: float) -> float:
        failures, _, last = self._seen.get(address, (0, 0.0, now))
        failures = 1 if now - last > FORGET_AFTER_SECS else failures + 1
        block = block_secs(failures)
        if len(self._seen) > 100_000:  # bounded: forget the oldest half
            oldest = sorted(self._seen, key=lambda a: self._seen[a][2])[: len(self._seen) // 2]
            for stale in oldest:
                del self._seen[stale]
        self._seen[address] = (failures, now + block, now)
        return block

    async def succeeded(self, address: str) -> None:
        self._seen.pop(address, None)


__all__ = ["FREE_FAILURES", "FailureStore", "MemoryFailureStore", "block_secs"]
