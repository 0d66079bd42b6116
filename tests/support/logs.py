"""The records a logger writes, from whichever thread writes them; `wait(n)` for n."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.signals import DEFAULT_TIMEOUT_SECS


class Records(logging.Handler):
    """The records logged, kept; a test waits for them, since a server thread writes an
    access line after the response's last byte went out."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()

    def wait(self, count: int) -> list[logging.LogRecord]:
        """The first `count` records (or more), once there are that many."""
        with self._changed:
            assert self._changed.wait_for(
                lambda: len(self.records) >= count, DEFAULT_TIMEOUT_SECS
            ), f"{len(self.records)} records, not {count}"
            return list(self.records)


@contextmanager
def access_records(name: str = "engine.access") -> Iterator[Records]:
    """Keep what the logger `name` writes at INFO while the block runs."""
    handler = Records()
    logger = logging.getLogger(name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
