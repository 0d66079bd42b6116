"""Reading capture files back, and the plain-text summary `engine capture show` prints."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import cbor2
import orjson

from engine.capture.files import file_order
from engine.capture.records import CapturedExchange, from_plain

EXTENSIONS = (".jsonl", ".cbor")


def read_records(path: str | os.PathLike[str]) -> Iterator[CapturedExchange]:
    """The records of one `.jsonl` or `.cbor` capture file, in the order written; a
    ValueError naming the place of a record that cannot be read."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return _read_jsonl(path)
    if path.suffix == ".cbor":
        return _read_cbor(path)
    raise ValueError(f"{path}: not a capture file (expected a .jsonl or .cbor file)")


def read_all(paths: Iterable[str | os.PathLike[str]]) -> Iterator[CapturedExchange]:
    """The records of every file in `paths`, a directory standing for its capture files
    in name order. A record met twice (a sink writing both formats) is read once."""
    seen: set[str] = set()
    for path in _files(paths):
        for record in read_records(path):
            if record.id not in seen:
                seen.add(record.id)
                yield record


def summarize(records: Iterable[CapturedExchange]) -> list[str]:
    """Readable lines about `records`: totals and counts first, then one line per
    exchange (times in UTC, durations in milliseconds since the exchange started)."""
    records = list(records)
    sessions = {r.session for r in records if r.session is not None}
    frontends = Counter(r.frontend for r in records)
    routes = Counter(r.route or "(none)" for r in records)
    models = Counter(f"{c.backend}:{c.model}" for r in records for c in r.upstream)
    lines = [f"{_count(len(records), 'exchange')}, {_count(len(sessions), 'session')}"]
    if records:
        first = min(r.started for r in records)
        last = max(r.started for r in records)
        lines.append(f"from {_time(first)} to {_time(last)}")
    lines += [
        f"front-ends: {_counts(frontends)}",
        f"routes: {_counts(routes)}",
        f"models asked: {_counts(models)}",
    ]
    if records:
        lines.append("")
        lines += [_line(r) for r in sorted(records, key=lambda r: r.started)]
    return lines


def _files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    for path in map(Path, paths):
        if path.is_dir():
            found = [p for p in path.iterdir() if p.suffix in EXTENSIONS and p.is_file()]
            yield from sorted(found, key=lambda p: file_order(p.name))
        else:
            yield path


def _read_jsonl(path: Path) -> Iterator[CapturedExchange]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield from_plain(orjson.loads(line))
            except (orjson.JSONDecodeError, ValueError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from exc


def _read_cbor(path: Path) -> Iterator[CapturedExchange]:
    size = path.stat().st_size
    with path.open("rb") as stream:
        decoder = cbor2.CBORDecoder(stream)
        number = 0
        while stream.tell() < size:
            number += 1
            offset = stream.tell()
            try:
                yield from_plain(decoder.decode())
            except (cbor2.CBORDecodeError, ValueError) as exc:
                raise ValueError(f"{path}: record {number} (byte {offset}): {exc}") from exc


def _line(record: CapturedExchange) -> str:
    response = record.client_response
    chunks = response.chunks if response is not None else []
    upstream = " -> ".join(f"{c.backend}:{c.model}" for c in record.upstream) or "-"
    usage = (record.usage or {}).items()
    tokens = " ".join(f"{k.removesuffix('_tokens')}={v}" for k, v in usage) or "-"
    fields = [
        _time(record.started),
        f"session={record.session or '-'}",
        record.frontend,
        f"route={record.route or '-'}",
        f"upstream={upstream}",
        f"status={response.status if response and response.status is not None else '-'}",
        f"duration={_ms(chunks[-1][0]) if chunks else '-'}",
        f"ttfb={_ms(chunks[0][0]) if chunks else '-'}",
        f"tokens {tokens}",
    ]
    if record.error:
        fields.append(f"error={record.error}")
    return "  ".join(fields)


def _time(seconds: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{int(seconds * 1000) % 1000:03d}Z"


def _ms(ms: float) -> str:
    return f"{ms:.0f}ms"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _counts(counter: Counter[str]) -> str:
    ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{name} {n}" for name, n in ordered) or "-"


__all__ = ["EXTENSIONS", "read_all", "read_records", "summarize"]
