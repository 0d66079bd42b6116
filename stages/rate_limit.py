"""`rate_limit`: requests and tokens per minute, per client key and per route, counted in
the store so that every process sharing it enforces one limit."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from pydantic import Field

from engine.access import access_of
from engine.access.limits import Limit, retry_after
from engine.model import Usage
from engine.stage import Answer, Event, Exchange, Stage, StrictModel, stage
from stages.auth import Client

log = logging.getLogger("engine.stages.rate_limit")


class _Counted:
    """The scopes one exchange was counted in, and whether one of them limits tokens (then
    the reply's tokens are counted in them too)."""

    scopes: tuple[str, ...] = ()
    tokens: bool = False


@stage("rate_limit")
class RateLimit(Stage):
    """Rate limits: each client key's own (`engine keys add NAME --rpm N --tpm N`, known
    once `auth` ran) and, with `rpm` / `tpm`, one for every client of the route it is
    declared on together (under `pipeline:`, for all routes together). A request over a
    limit is refused with 429 and `Retry-After` (the seconds until the minute's window
    ends), in the client's protocol's shape. Requests are counted before they are served
    (a token count counts as one; a model listing not at all), tokens when the reply
    says how many it used; the counts live in the store, shared by its processes."""

    class Config(StrictModel):
        """The limits besides each key's own."""

        rpm: int | None = Field(default=None, ge=1, description="requests per minute, all clients")
        tpm: int | None = Field(default=None, ge=1, description="tokens per minute, all clients")

    config: Config
    operations = frozenset({"chat", "count_tokens"})

    async def on_request(self, ctx: Exchange) -> Answer | None:
        """Count the request; refuse it when a limit is reached."""
        limits = self._limits(ctx)
        if not limits:
            return None
        now = time.time()
        hit = await access_of(ctx).limits.take(limits, now)
        if ctx.operation == "chat":
            counted = ctx.local(_Counted)
            counted.scopes = tuple(limit.scope for limit in limits)
            counted.tokens = any(limit.tpm for limit in limits)
        if hit is None:
            return None
        seconds = retry_after(now)
        log.info("rate limit of %s reached; refused for %d s", hit.scope, seconds)
        what = f"{hit.rpm} requests" if hit.rpm is not None else f"{hit.tpm} tokens"
        return Answer.refuse(
            429,
            f"rate limit reached for {hit.scope} (at most {what} a minute): "
            f"try again in {seconds} s",
            code="rate_limit_exceeded",
            headers={"retry-after": str(seconds)},
        )

    async def on_events(self, ctx: Exchange, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """The events; the tokens the reply used are counted at its end."""
        counted = ctx.local(_Counted)
        if not counted.tokens:
            async for event in events:
                yield event
            return
        usage: Usage | None = None
        try:
            async for event in events:
                if type(event) is Usage:
                    usage = event
                yield event
        finally:
            if usage is not None:
                tokens = usage.input_tokens + usage.output_tokens
                await access_of(ctx).limits.spend(counted.scopes, tokens, time.time())

    def _limits(self, ctx: Exchange) -> list[Limit]:
        limits = []
        key = ctx.local(Client).key
        if key is not None and (key.rpm or key.tpm):
            limits.append(Limit(f"key:{key.name}", key.rpm, key.tpm))
        if self.config.rpm or self.config.tpm:
            scope = f"route:{ctx.route}" if ctx.route else "all"
            limits.append(Limit(scope, self.config.rpm, self.config.tpm))
        return limits


__all__ = ["RateLimit"]
