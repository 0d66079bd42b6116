"""Circuit breakers: a backend that keeps failing is taken out for a cool-down.

One breaker per backend name, per process (each process learns for itself how a backend
is doing; nothing waits on the store for it). After `threshold` failures in a row that
another target might not have had (connection errors, timeouts, 429, 5xx), the breaker
opens: calls to the backend fail at once for `cooldown` seconds, so a strategy moves on
to its next target without waiting. Then one call is let through: its success closes the
breaker, its failure opens it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from engine.errors import ProxyError

THRESHOLD = 5
COOLDOWN = 30.0


@dataclass(slots=True)
class Breaker:
    """How one backend has been doing."""

    threshold: int = THRESHOLD
    cooldown: float = COOLDOWN
    failures: int = 0  # in a row
    opened_at: float | None = None
    trial: bool = False  # the one call let through after the cool-down is under way

    def check(self, backend: str) -> None:
        """Raise when the breaker is open (the call should not be made)."""
        if self.opened_at is None:
            return
        waited = time.monotonic() - self.opened_at
        if waited >= self.cooldown and not self.trial:
            self.trial = True  # half open: this call tries the backend
            return
        left = max(self.cooldown - waited, 0.0)
        raise ProxyError(
            503,
            f"backend {backend} is cooling down after {self.failures} failures in a row "
            f"(for {left:.0f} s more)",
            code="backend_cooling_down",
            headers={"retry-after": str(max(1, round(left)))},
        )

    def succeeded(self) -> None:
        self.failures, self.opened_at, self.trial = 0, None, False

    def failed(self) -> None:
        self.failures += 1
        self.trial = False
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()

    @property
    def state(self) -> str:
        """`closed`, `open` or `half-open`."""
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.trial else "open"


@dataclass
class Breakers:
    """The breakers of every backend this process calls."""

    threshold: int = THRESHOLD
    cooldown: float = COOLDOWN
    by_backend: dict[str, Breaker] = field(default_factory=dict)

    def __getitem__(self, backend: str) -> Breaker:
        found = self.by_backend.get(backend)
        if found is None:
            found = self.by_backend[backend] = Breaker(self.threshold, self.cooldown)
        return found
