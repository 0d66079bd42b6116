"""Credentials hidden in a capture record before it is written."""

from __future__ import annotations

import dataclasses
import re

from engine.capture.records import CapturedExchange, Message, UpstreamCall
from engine.logs import secrets_pattern
from engine.secret_shapes import shapes_pattern

MASK = "***"
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "x-api-key", "x-goog-api-key", "proxy-authorization", "cookie", "set-cookie"}
)
_KEY_PARAM = re.compile(r"([?&;](?:key|api[_-]?key)=)[^&#\s]*", re.IGNORECASE)


class Redactor:
    """Hides credentials in a record before it is written: credential headers become
    `***`, a `key=` query parameter is masked, and in text (valid UTF-8) bodies, chunks,
    paths, header values and errors every credential shape and registered backend key
    becomes `[REDACTED:<kind>]`. Bytes that are not UTF-8 are left as they are.

    A streamed body is redacted as one text, so that a secret split across chunks is
    found: the chunks keep their byte boundaries and timings, a secret's replacement
    goes into the chunk the secret starts in, and its bytes in later chunks are removed
    (a chunk may become empty); the chunks joined are the redacted body."""

    def __init__(self) -> None:
        self._shapes = shapes_pattern()

    def record(self, record: CapturedExchange) -> CapturedExchange:
        """`record` with its credentials hidden."""
        return dataclasses.replace(
            record,
            client_request=self.message(record.client_request),
            upstream=[self._call(call) for call in record.upstream],
            client_response=(
                None if record.client_response is None else self.message(record.client_response)
            ),
            error=None if record.error is None else self.text(record.error),
        )

    def message(self, message: Message) -> Message:
        """`message` with its credentials hidden."""
        chunks = self._chunks(message.chunks)
        joined = b"".join(data for _, data in message.chunks)
        if message.chunks and message.body == joined:
            body = b"".join(data for _, data in chunks)
        else:
            body = self.body(message.body)
        return dataclasses.replace(
            message,
            path=None if message.path is None else self.url(message.path),
            headers=[
                (name, MASK if name.lower() in CREDENTIAL_HEADERS else self.text(value))
                for name, value in message.headers
            ],
            body=body,
            chunks=chunks,
        )

    def url(self, url: str) -> str:
        """`url` (or a path with its query) with key parameters masked."""
        return self.text(_KEY_PARAM.sub(rf"\1{MASK}", url))

    def body(self, data: bytes) -> bytes:
        """`data` redacted when it is UTF-8 text, else as it is."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        redacted = self.text(text)
        return data if redacted == text else redacted.encode("utf-8")

    def text(self, text: str) -> str:
        """`text` with every credential replaced."""
        spans = self._spans(text)
        if not spans:
            return text
        out: list[str] = []
        pos = 0
        for start, end, replacement in spans:
            out += (text[pos:start], replacement)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def _call(self, call: UpstreamCall) -> UpstreamCall:
        return dataclasses.replace(
            call,
            url=self.url(call.url),
            request=self.message(call.request),
            response=None if call.response is None else self.message(call.response),
            error=None if call.error is None else self.text(call.error),
        )

    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        """Where the credentials in `text` are, sorted, overlapping ones merged."""
        found = [
            (m.start(), m.end(), f"[REDACTED:{m.lastgroup}]") for m in self._shapes.finditer(text)
        ]
        keys = secrets_pattern()
        if keys is not None:
            found += [(m.start(), m.end(), "[REDACTED:backend-key]") for m in keys.finditer(text)]
            found.sort()
        merged: list[tuple[int, int, str]] = []
        for start, end, replacement in found:
            if start == end:
                continue
            if merged and start < merged[-1][1]:
                first = merged[-1]
                merged[-1] = (first[0], max(first[1], end), first[2])
            else:
                merged.append((start, end, replacement))
        return merged

    def _chunks(self, chunks: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
        data = b"".join(piece for _, piece in chunks)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:  # not one text: each chunk that is text on its own
            return [(ms, self.body(piece)) for ms, piece in chunks]
        spans = _byte_spans(text, self._spans(text))
        if not spans:
            return chunks
        out: list[tuple[float, bytes]] = []
        first, start = 0, 0
        for ms, piece in chunks:
            end = start + len(piece)
            while first < len(spans) and spans[first][1] <= start:
                first += 1
            kept, pos = bytearray(), start
            for span_start, span_end, replacement in spans[first:]:
                if span_start >= end:
                    break
                if span_start >= start:  # the secret starts here: its replacement too
                    kept += data[pos:span_start] + replacement
                pos = min(span_end, end)
            kept += data[pos:end]
            out.append((ms, bytes(kept)))
            start = end
        return out


def _byte_spans(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, bytes]]:
    """`spans` (character offsets into `text`) as offsets into its UTF-8 bytes."""
    out, chars, position = [], 0, 0
    for start, end, replacement in spans:
        position += len(text[chars:start].encode("utf-8"))
        span_start = position
        position += len(text[start:end].encode("utf-8"))
        chars = end
        out.append((span_start, position, replacement.encode("utf-8")))
    return out


__all__ = ["CREDENTIAL_HEADERS", "MASK", "Redactor"]
