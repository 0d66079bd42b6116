"""Where captured exchanges go: a bounded queue, one writer thread, rotated files.

`CaptureSink.offer` never blocks and never raises: the queue's bound is the only buffer,
and a record that finds it full is dropped and counted. The writer thread redacts each
record, encodes it once per format and appends it to that format's file:

* `capture-YYYYmmdd-HHMMSS-<pid>-<n>.<ext>` (UTC), a new one when the current one would
  grow past `max_file_bytes` (a single record bigger than that gets a file of its own);
* with `per_session`, `session-<safe id>.<ext>` for records of a session, then
  `session-<safe id>-2.<ext>`, `-3`, … past `max_file_bytes`.

After each write, when the capture files in the directory add up to more than
`max_total_bytes`, the least recently modified ones are deleted (never one open for
writing). A failing write drops its record (counted as `error`, logged once per kind of
failure); the file it failed on is cut back to its last whole record and closed, so the
next record opens a file again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import cbor2
import orjson

from engine.capture.files import Files, Problems, safe_session_name
from engine.capture.records import CapturedExchange, to_plain
from engine.capture.redaction import Redactor

log = logging.getLogger("engine.capture")

MiB = 1024 * 1024
GiB = 1024 * MiB
FORMATS = ("jsonl", "cbor")

_STOP = object()


class CaptureSink:
    """Writes captured exchanges to files in `directory`, off the event loop.

    `dropped` counts the records not written by reason (`full`, `error`, `closed`) and
    `written` those written, for the server's metrics."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        formats: Iterable[str] = ("jsonl",),
        per_session: bool = False,
        max_file_bytes: int = 64 * MiB,
        max_total_bytes: int = 1 * GiB,
        queue_size: int = 1000,
        redact: bool = True,
    ) -> None:
        self.formats = tuple(dict.fromkeys(formats))
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise ValueError(f"capture formats are {', '.join(FORMATS)}; got {list(formats)}")
        if min(max_file_bytes, max_total_bytes, queue_size) < 1:
            raise ValueError("max_file_bytes, max_total_bytes and queue_size must be positive")
        self.directory = Path(directory)
        self.per_session = per_session
        self.dropped: Counter[str] = Counter()
        self.written = 0
        self._problems = Problems()
        self._files = Files(self.directory, max_file_bytes, max_total_bytes, self._problems)
        self._redactor = Redactor() if redact else None
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._state = threading.Condition()  # guards the counters and `_closed`
        self._closed = False
        self._accepted = 0
        self._processed = 0
        self._failing = False
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-capture", daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        """Whether `close` was called: `offer` drops everything from then on."""
        return self._closed

    def offer(self, record: CapturedExchange) -> bool:
        """Queue `record` for writing; False (and counted) when it is dropped instead.
        Never blocks, never raises."""
        try:
            with self._state:
                if self._closed:
                    self.dropped["closed"] += 1
                    return False
                try:
                    self._queue.put_nowait(record)
                except queue.Full:
                    self.dropped["full"] += 1
                    self._problems.warn("full", "capture queue full: dropping records")
                    return False
                self._accepted += 1
                return True
        except Exception:  # the proxy goes on whatever capture does
            self.dropped["error"] += 1
            return False

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every record accepted so far is written or dropped; False when
        `timeout` seconds pass first."""
        with self._state:
            target = self._accepted
            return self._state.wait_for(lambda: self._processed >= target, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for at most `timeout` seconds; what is left then is
        dropped as `closed`), stop the writer thread and close the files."""
        deadline = time.monotonic() + timeout
        with self._state:
            first = not self._closed
            self._closed = True
        if first:
            with contextlib.suppress(queue.Full):  # the writer is stuck: abandoned below
                self._queue.put(_STOP, timeout=_left(deadline))
        self._thread.join(_left(deadline))
        if self._thread.is_alive():
            self._abandoned.set()
            left = self._drain()
            with contextlib.suppress(queue.Full):  # there is room: closed and drained
                self._queue.put_nowait(_STOP)
            log.warning(
                "capture: the writer did not finish within %.1f s; %d queued records dropped",
                timeout,
                left,
            )

    async def aclose(self, timeout: float = 5.0) -> None:
        """`close`, in a thread: the event loop goes on meanwhile."""
        await asyncio.to_thread(self.close, timeout)

    def _run(self) -> None:
        while (record := self._queue.get()) is not _STOP:
            if self._abandoned.is_set():
                self._count("closed")
                continue
            ok = self._write_safely(cast(CapturedExchange, record))
            self._count("written" if ok else "error")
        self._files.close_all()

    def _write_safely(self, record: CapturedExchange) -> bool:
        try:
            self._write(record)
        except Exception as exc:
            self._failing = True
            self._problems.warn(
                (type(exc).__name__, getattr(exc, "errno", None)),
                "capture: cannot write to %s, dropping records: %s",
                self.directory,
                exc,
            )
            return False
        if self._failing:
            self._failing = False
            log.info("capture: writing to %s again", self.directory)
        return True

    def _write(self, record: CapturedExchange) -> None:
        """Write `record` to each format's file (on the writer thread)."""
        if self._redactor is not None:
            record = self._redactor.record(record)
        session = safe_session_name(record.session) if self.per_session and record.session else None
        failure: Exception | None = None
        for fmt in self.formats:
            try:
                self._files.append(session, fmt, encode(record, fmt))
            except Exception as exc:  # the other format may still work
                failure = failure or exc
        if failure is not None:
            raise failure
        self._files.enforce_cap()

    def _count(self, outcome: str) -> None:
        with self._state:
            if outcome == "written":
                self.written += 1
            else:
                self.dropped[outcome] += 1
            self._processed += 1
            self._state.notify_all()

    def _drain(self) -> int:
        left = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return left
            if item is not _STOP:
                left += 1
                self._count("closed")


def encode(record: CapturedExchange, fmt: str) -> bytes:
    """`record` as one item of a file of format `fmt` (`jsonl`: a line; `cbor`: an item)."""
    if fmt == "jsonl":
        return orjson.dumps(to_plain(record, binary=False)) + b"\n"
    if fmt == "cbor":
        return cbor2.dumps(to_plain(record, binary=True))
    raise ValueError(f"unknown capture format {fmt!r}")


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


__all__ = ["FORMATS", "CaptureSink", "GiB", "MiB", "encode"]
