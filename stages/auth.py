"""`auth`: only clients with a key from the store (`engine keys add`) are served."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from pydantic import Field

from engine.access import Access, ClientKey, access_of
from engine.access.keys import matches, parse
from engine.stage import OPERATIONS, Answer, Exchange, Stage, StrictModel, stage

log = logging.getLogger("engine.stages.auth")

_CACHE_SECS = 2.0  # how long a key read from the store is trusted: a revocation's delay
_CACHE_LIMIT = 4096


@dataclass
class Client:
    """Who an exchange's client is, once `auth` knew its key (None: no key given)."""

    key: ClientKey | None = None


@stage("auth")
class Auth(Stage):
    """Client keys. A request carries its key where its SDK puts one (`Authorization:
    Bearer`, `x-api-key`, `x-goog-api-key`, `?key=`); a missing, unknown or revoked key is
    refused with 401 in the client's protocol's shape, and its limits (`engine keys add
    --rpm --tpm`) apply through `rate_limit`. Wrong keys from one address are counted: after
    five in a row each one blocks the address twice as long as the last (1 s, 2 s, … up to
    an hour), refused with 429 and `Retry-After`. It runs for every operation, model
    listings too. `engine serve --require-keys` puts it first in the pipeline."""

    class Config(StrictModel):
        """Whether a key is a must."""

        required: bool = Field(
            default=True,
            description="refuse a request without a key (false: a key given is checked and "
            "its limits apply; a request without one is served)",
        )

    config: Config
    operations = frozenset(OPERATIONS)

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._keys: dict[str, tuple[float, ClientKey | None]] = {}  # by id: read at, key
        self._failing: set[str] = set()  # addresses this process saw a wrong key from

    async def on_request(self, ctx: Exchange) -> Answer | None:
        """Refuse a call without a valid key; remember the key for `rate_limit`."""
        access = access_of(ctx)
        presented = ctx.call.client_key
        if not presented:
            if not self.config.required:
                return None
            return Answer.refuse(
                401,
                "a client key is required: send it as your SDK's API key "
                "(`engine keys add NAME` makes one)",
                code="missing_api_key",
            )
        now, address = time.time(), ctx.call.address
        key = await self._valid(access, presented, now)
        if key is not None:
            ctx.local(Client).key = key
            if address in self._failing:
                self._failing.discard(address)
                await access.failures.succeeded(address)
            return None
        blocked = await access.failures.blocked(address, now)
        if blocked <= 0:
            blocked = await access.failures.failed(address, now)
            self._failing.add(address)
            if len(self._failing) > 100_000:
                self._failing.clear()
            log.warning("a wrong client key from %s", address or "an unknown address")
            if blocked <= 0:
                return Answer.refuse(401, "the client key is not valid", code="invalid_api_key")
        seconds = max(1, math.ceil(blocked))
        return Answer.refuse(
            429,
            f"too many wrong client keys from this address: try again in {seconds} s",
            code="too_many_failures",
            headers={"retry-after": str(seconds)},
        )

    async def _valid(self, access: Access, presented: str, now: float) -> ClientKey | None:
        """The stored key `presented` is, when it is one and not revoked."""
        parsed = parse(presented)
        if parsed is None:
            return None
        key_id, secret = parsed
        cached = self._keys.get(key_id)
        if cached is not None and now - cached[0] < _CACHE_SECS:
            key = cached[1]
        else:
            key = await access.keys.find(key_id)
            if len(self._keys) >= _CACHE_LIMIT:
                self._keys.clear()
            self._keys[key_id] = (now, key)
        if key is None or key.revoked_at is not None or not matches(key, secret):
            return None
        return key


__all__ = ["Auth", "Client"]
