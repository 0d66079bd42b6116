"""The capture files of one directory: their names, rotation by size or session, and the
total cap. Used by the sink's writer thread alone."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import time
from collections import Counter, OrderedDict
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger("engine.capture")

CAPTURE_FILE = re.compile(r"(?:capture|session)-.+\.(?:jsonl|cbor)")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DIGITS = re.compile(r"([0-9]+)")
_PART_LIKE = re.compile(r"-[0-9]+$")
_MAX_NAME_CHARS = 64
_OPEN_SESSION_FILES = 32  # session files kept open at once, least recently used closed
_RESCAN_EVERY = 256  # writes between directory scans: other processes may write there too


class Problems:
    """Logs each kind of problem once: a full disk must not fill the log as well."""

    def __init__(self) -> None:
        self._seen: set[object] = set()

    def warn(self, kind: object, message: str, *args: object) -> None:
        if kind not in self._seen:
            self._seen.add(kind)
            log.warning(message + " (logged once)", *args)


def safe_session_name(session: str) -> str:
    """`session` as part of a file name: only `A-Z a-z 0-9 . _ -`; an id that had to be
    changed (or cut, or that ends like a part number `-2`) gets a hash of itself, so that
    two sessions never share a name."""
    safe = _UNSAFE.sub("_", session)[:_MAX_NAME_CHARS]
    if safe != session or not safe or _PART_LIKE.search(safe):
        digest = hashlib.sha256(session.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        safe = f"{safe}_h{digest}"
    return safe


def file_order(name: str) -> tuple[object, ...]:
    """A sort key for capture file names: numbers in them compare as numbers, so that
    `…-9.jsonl` comes before `…-10.jsonl`."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(name))


@dataclasses.dataclass(slots=True)
class _File:
    path: Path
    handle: BinaryIO
    size: int
    part: int = 1


class Files:
    """The capture files of one directory: naming, rotation and the total cap. Used by
    the writer thread alone."""

    def __init__(
        self, directory: Path, max_file_bytes: int, max_total_bytes: int, problems: Problems
    ) -> None:
        self.directory = directory
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self._problems = problems
        self._rotated: dict[str, _File] = {}  # by format
        self._sessions: OrderedDict[tuple[str, str], _File] = OrderedDict()  # (name, format)
        self._serial: Counter[str] = Counter()  # by format: both formats' files pair up
        self._total: int | None = None  # bytes in the directory's capture files, as known
        self._writes_since_scan = 0

    def append(self, session: str | None, fmt: str, data: bytes) -> None:
        """Append `data` (whole records) to the current file for `session` and `fmt`."""
        file = self._file(session, fmt, len(data))
        try:
            file.handle.write(data)
            file.handle.flush()
        except BaseException:
            self._discard(session, fmt, file)
            raise
        file.size += len(data)
        if self._total is not None:
            self._total += len(data)
        self._writes_since_scan += 1

    def enforce_cap(self) -> None:
        """Delete the least recently modified capture files (never an open one) while
        the directory holds more than `max_total_bytes` of them."""
        fresh = self._writes_since_scan < _RESCAN_EVERY
        if fresh and self._total is not None and self._total <= self.max_total_bytes:
            return
        try:
            found = self._scan()
        except OSError as exc:
            self._problems.warn(("scan", type(exc).__name__), "capture: cannot list %s", exc)
            return
        self._writes_since_scan = 0
        total = sum(size for _, _, size, _ in found)
        open_paths = {f.path for f in (*self._rotated.values(), *self._sessions.values())}
        for _, _, size, path in sorted(found, key=lambda f: (f[0], file_order(f[1]))):
            if total <= self.max_total_bytes:
                break
            if path in open_paths:
                continue
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                kind = ("unlink", type(exc).__name__)
                self._problems.warn(kind, "capture: cannot delete %s", exc)
                continue
            total -= size
        self._total = total

    def close_all(self) -> None:
        """Close every open file."""
        for file in (*self._rotated.values(), *self._sessions.values()):
            _close(file)
        self._rotated.clear()
        self._sessions.clear()

    def _file(self, session: str | None, fmt: str, incoming: int) -> _File:
        if session is None:
            file = self._rotated.get(fmt)
            if file is not None and self._full(file, incoming):
                _close(self._rotated.pop(fmt))
                file = None
            if file is None:
                file = self._rotated[fmt] = self._create(fmt)
            return file
        key = (session, fmt)
        file = self._sessions.pop(key, None)
        if file is None:
            file = self._open_part(session, fmt, self._last_part(session, fmt))
        if self._full(file, incoming):
            _close(file)
            file = self._open_part(session, fmt, file.part + 1)
        self._sessions[key] = file
        while len(self._sessions) > _OPEN_SESSION_FILES:
            _close(self._sessions.popitem(last=False)[1])
        return file

    def _full(self, file: _File, incoming: int) -> bool:
        return file.size > 0 and file.size + incoming > self.max_file_bytes

    def _create(self, fmt: str) -> _File:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        while True:  # another sink of this process may have taken a name this second
            self._serial[fmt] += 1
            path = self.directory / f"capture-{stamp}-{os.getpid()}-{self._serial[fmt]}.{fmt}"
            try:
                return _File(path, open(path, "xb"), 0)
            except FileExistsError:
                continue

    def _open_part(self, session: str, fmt: str, part: int) -> _File:
        self.directory.mkdir(parents=True, exist_ok=True)
        suffix = "" if part == 1 else f"-{part}"
        path = self.directory / f"session-{session}{suffix}.{fmt}"
        handle = open(path, "ab")  # noqa: SIM115 (kept open across records)
        return _File(path, handle, os.fstat(handle.fileno()).st_size, part)

    def _last_part(self, session: str, fmt: str) -> int:
        """The highest part of the session's files there is (1 when there is none)."""
        pattern = re.compile(rf"session-{re.escape(session)}(?:-([0-9]+))?\.{fmt}")
        last = 1
        if self.directory.is_dir():
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if match := pattern.fullmatch(entry.name):
                        last = max(last, int(match[1] or 1))
        return last

    def _scan(self) -> list[tuple[float, str, int, Path]]:
        found = []
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if not CAPTURE_FILE.fullmatch(entry.name):
                    continue
                try:
                    stat = entry.stat()
                except FileNotFoundError:
                    continue
                found.append((stat.st_mtime, entry.name, stat.st_size, Path(entry.path)))
        return found

    def _discard(self, session: str | None, fmt: str, file: _File) -> None:
        """Forget `file` after a failed write, cut back to its last whole record."""
        if session is None:
            self._rotated.pop(fmt, None)
        else:
            self._sessions.pop((session, fmt), None)
        _close(file)
        with contextlib.suppress(OSError):  # then this file may keep a cut record at its end
            if file.size == 0 and session is None:
                file.path.unlink(missing_ok=True)
            else:
                os.truncate(file.path, file.size)
        self._total = None


def _close(file: _File) -> None:
    # Unflushed bytes of a failed write may fail the close: the descriptor is closed anyway.
    with contextlib.suppress(OSError):
        file.handle.close()


__all__ = ["CAPTURE_FILE", "Files", "Problems", "file_order", "safe_session_name"]
