"""How the server is hosted: hypercorn's settings and the event loop, shared by
`engine serve` and the benchmark's null proxy so that both run on the same stack."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from hypercorn.config import Config

KEEP_ALIVE_SECS = 75  # longer than the idle timeout of the usual client pools


def hypercorn_config(host: str, port: int) -> Config:
    """hypercorn's settings for a proxy on `host:port`."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None  # engine.access logs each request, with its route and backend
    config.errorlog = logging.getLogger("hypercorn.error")  # through our handler, once
    config.keep_alive_timeout = KEEP_ALIVE_SECS
    return config


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """Run `main` on uvloop where it is installed (not on Windows), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
