"""The built-in strategies: `single` and `failover`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from itertools import pairwise

from engine.errors import ProxyError
from engine.model import Event
from engine.stage import Exchange, Target
from engine.strategies import Send, Strategy, StrategyConfig, is_retryable, strategy

log = logging.getLogger("engine.executor")


@strategy("single")
class Single(Strategy):
    """The first target answers; its failure is the client's error."""

    class Config(StrategyConfig):
        """`single`: the first target."""

    async def run(self, ctx: Exchange, targets: list[Target], send: Send) -> AsyncIterator[Event]:
        return (await send(targets[0])).events()


@strategy("failover")
class Failover(Strategy):
    """The targets in order: the next when one fails before answering (a connection
    error, a timeout, 429 or 5xx); once one has answered, its response is the client's."""

    class Config(StrategyConfig):
        """`failover`: the next target when one fails before answering."""

    async def run(self, ctx: Exchange, targets: list[Target], send: Send) -> AsyncIterator[Event]:
        for target, following in pairwise(targets):
            try:
                return (await send(target)).events()
            except ProxyError as exc:
                if not is_retryable(exc):
                    raise
                log.warning(
                    "route %s: %s failed (%s); trying %s", ctx.route, target, exc, following
                )
        return (await send(targets[-1])).events()
