"""Who may use the proxy and how much: client keys, rate limits, and failed key attempts.

Each is a small store interface with a memory implementation here and a SQL one in
`engine.store.access`, so that several processes sharing the store enforce one limit.
The `auth` and `rate_limit` stages use them through `Exchange.access`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.access.failures import FailureStore, MemoryFailureStore
from engine.access.keys import ClientKey, KeyStore, MemoryKeyStore
from engine.access.limits import LimitStore, MemoryLimitStore


@dataclass
class Access:
    """The stores the access stages read and count in."""

    keys: KeyStore = field(default_factory=MemoryKeyStore)
    limits: LimitStore = field(default_factory=MemoryLimitStore)
    failures: FailureStore = field(default_factory=MemoryFailureStore)


_IN_PROCESS = Access()  # for an exchange made without the server's stores (tests, scripts)


def access_of(exchange: Any) -> Access:
    """The stores an exchange's access stages use: the server's, else this process's own."""
    found: Access | None = exchange.access
    return found if found is not None else _IN_PROCESS


__all__ = ["Access", "ClientKey", "FailureStore", "KeyStore", "LimitStore", "access_of"]
