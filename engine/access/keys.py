"""Client keys: made once (`engine keys add`), shown once, kept as an HMAC.

A key is `ek-<id>-<secret>`: the id (12 characters) finds its row, the secret (32 random
bytes) is checked against an HMAC-SHA256 of it under the row's own salt, compared in
constant time. The secret is random, not chosen by a person, so a slow password hash
would add nothing but latency to every request; what matters is that the store never
holds the key itself, and a leaked table gives no key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import Protocol

PREFIX = "ek-"
_KEY = re.compile(r"ek-([A-Za-z0-9]{12})-([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A client key as stored: its name, its limits, and whether it is revoked."""

    name: str
    key_id: str
    salt: bytes
    digest: bytes
    rpm: int | None = None
    tpm: int | None = None
    created_at: float = 0.0
    revoked_at: float | None = None


def check_name(name: str) -> str:
    """`name`, if it can name a key (letters, digits, `._@-`, up to 100); else ValueError."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} cannot name a key: use letters, digits and . _ @ - (up to 100)")
    return name


def new_key(name: str, *, rpm: int | None = None, tpm: int | None = None) -> tuple[str, ClientKey]:
    """A new key for `name`: the text to give the client (shown once), and what to store."""
    for limit in (rpm, tpm):
        if limit is not None and limit < 1:
            raise ValueError(f"a limit is 1 or more per minute, not {limit}")
    key_id = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    stored = ClientKey(check_name(name), key_id, salt, _digest(salt, secret), rpm, tpm, time.time())
    return f"{PREFIX}{key_id}-{secret}", stored


def parse(presented: str) -> tuple[str, str] | None:
    """The id and secret of a presented key, or None when it is not shaped like one."""
    match = _KEY.fullmatch(presented.strip())
    return (match[1], match[2]) if match else None


def matches(key: ClientKey, secret: str) -> bool:
    """Whether `secret` is this key's, compared in constant time."""
    return hmac.compare_digest(key.digest, _digest(key.salt, secret))


def _digest(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


class KeyStore(Protocol):
    """Where client keys are kept."""

    async def add(self, key: ClientKey) -> None:
        """Keep a new key; ValueError when its name is taken by a key not revoked."""

    async def find(self, key_id: str) -> ClientKey | None:
        """The key with this id, revoked or not."""

    async def all(self) -> list[ClientKey]:
        """Every key, by name."""

    async def revoke(self, name: str) -> bool:
        """Revoke the key called `name`; whether there was one to revoke."""


class MemoryKeyStore:
    """Keys in this process only (tests, and a server without a store)."""

    def __init__(self) -> None:
        self._keys: dict[str, ClientKey] = {}

    async def add(self, key: ClientKey) -> None:
        old = self._keys.get(key.name)
        if old is not None and old.revoked_at is None:
            raise ValueError(f"a key called {key.name!r} exists; revoke it first")
        self._keys[key.name] = key

    async def find(self, key_id: str) -> ClientKey | None:
        return next((k for k in self._keys.values() if k.key_id == key_id), None)

    async def all(self) -> list[ClientKey]:
        return sorted(self._keys.values(), key=lambda key: key.name)

    async def revoke(self, name: str) -> bool:
        key = self._keys.get(name)
        if key is None or key.revoked_at is not None:
            return False
        self._keys[name] = replace(key, revoked_at=time.time())
        return True


__all__ = ["PREFIX", "ClientKey", "KeyStore", "MemoryKeyStore", "matches", "new_key", "parse"]
