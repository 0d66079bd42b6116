"""Rate limits count in one-minute windows: a test of a limit runs within one."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def within_one_minute(attempt: Callable[[], None]) -> None:
    """Run `attempt`, whose requests must fall in one rate-limit minute; once more if it
    failed while a minute began (the counts start again then), so that the clock never
    decides the outcome. A failure within one minute is the test's failure."""
    for _ in range(2):
        minute = int(time.time() // 60)
        try:
            attempt()
            return
        except (AssertionError, pytest.fail.Exception):
            if int(time.time() // 60) == minute:
                raise
    raise AssertionError("a minute began during each of two short attempts")
