"""The record of one captured exchange, and its plain form (what JSON and CBOR carry).

The plain form is a dict of str, int, float, None, lists and dicts, with `"v": 1` naming
its format. Bytes stay `bytes` in the binary form (CBOR); in the JSON form they become
`{"text": …}` when they are valid UTF-8 and `{"base64": …}` otherwise, so that a capture
stays readable. A streamed message's `body` is left out of the plain form when it is its
chunks joined (as it always is as the sink writes it), so a stream is not stored twice.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One HTTP request or response as it crossed a boundary of the proxy."""

    method: str | None = None  # requests only
    path: str | None = None  # requests only: path and query
    status: int | None = None  # responses only
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""  # the whole body
    # A streamed body as it came: (milliseconds since the exchange started, bytes).
    # Empty when the body was not streamed.
    chunks: list[tuple[float, bytes]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamCall:
    """One call to a backend; a failover makes several for one exchange."""

    backend: str
    model: str
    url: str
    request: Message
    response: Message | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CapturedExchange:
    """One exchange at the proxy's two boundaries: what the client sent and got, and
    every upstream call in between, in order."""

    id: str
    started: float  # unix seconds
    session: str | None = None
    frontend: str
    route: str | None = None
    client_request: Message
    upstream: list[UpstreamCall] = field(default_factory=list)
    client_response: Message | None = None
    usage: dict[str, int] | None = None
    error: str | None = None


def to_plain(record: CapturedExchange, binary: bool) -> dict[str, Any]:
    """`record` as plain data: bytes as `bytes` with `binary` (CBOR), else as
    `{"text": …}` or `{"base64": …}` (JSON)."""
    return {
        "v": FORMAT_VERSION,
        "id": record.id,
        "started": record.started,
        "session": record.session,
        "frontend": record.frontend,
        "route": record.route,
        "client_request": _message_to_plain(record.client_request, binary),
        "upstream": [_call_to_plain(call, binary) for call in record.upstream],
        "client_response": (
            None
            if record.client_response is None
            else _message_to_plain(record.client_response, binary)
        ),
        "usage": None if record.usage is None else dict(record.usage),
        "error": record.error,
    }


def from_plain(plain: dict[str, Any]) -> CapturedExchange:
    """The record `plain` holds, from either plain form; a ValueError when it is of
    another format version or malformed."""
    if not isinstance(plain, dict):
        raise ValueError(f"a capture record is a map, not {type(plain).__name__}")
    version = plain.get("v")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"capture record format version {version!r} is not supported "
            f"(this engine reads version {FORMAT_VERSION})"
        )
    try:
        response = plain.get("client_response")
        usage = plain.get("usage")
        return CapturedExchange(
            id=str(plain["id"]),
            started=float(plain["started"]),
            session=plain.get("session"),
            frontend=str(plain["frontend"]),
            route=plain.get("route"),
            client_request=_message_from_plain(plain["client_request"]),
            upstream=[_call_from_plain(call) for call in plain.get("upstream") or []],
            client_response=None if response is None else _message_from_plain(response),
            usage=None if usage is None else {str(k): int(v) for k, v in usage.items()},
            error=plain.get("error"),
        )
    except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise ValueError(f"malformed capture record: {type(exc).__name__}: {exc}") from exc


def _bytes_to_plain(data: bytes, binary: bool) -> bytes | dict[str, str]:
    if binary:
        return bytes(data)
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def _bytes_from_plain(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, dict):
        if "text" in value:
            return str(value["text"]).encode("utf-8")
        if "base64" in value:
            return base64.b64decode(value["base64"], validate=True)
    raise ValueError(f"malformed capture record: {value!r} is not bytes")


def _message_to_plain(message: Message, binary: bool) -> dict[str, Any]:
    plain: dict[str, Any] = {
        "method": message.method,
        "path": message.path,
        "status": message.status,
        "headers": [[name, value] for name, value in message.headers],
        "chunks": [[ms, _bytes_to_plain(data, binary)] for ms, data in message.chunks],
    }
    if not message.chunks or message.body != b"".join(data for _, data in message.chunks):
        plain["body"] = _bytes_to_plain(message.body, binary)
    return plain


def _message_from_plain(plain: dict[str, Any]) -> Message:
    chunks = [(float(ms), _bytes_from_plain(data)) for ms, data in plain.get("chunks") or []]
    body = (
        _bytes_from_plain(plain["body"])
        if "body" in plain
        else b"".join(data for _, data in chunks)
    )
    status = plain.get("status")
    return Message(
        method=plain.get("method"),
        path=plain.get("path"),
        status=None if status is None else int(status),
        headers=[(str(name), str(value)) for name, value in plain.get("headers") or []],
        body=body,
        chunks=chunks,
    )


def _call_to_plain(call: UpstreamCall, binary: bool) -> dict[str, Any]:
    return {
        "backend": call.backend,
        "model": call.model,
        "url": call.url,
        "request": _message_to_plain(call.request, binary),
        "response": None if call.response is None else _message_to_plain(call.response, binary),
        "error": call.error,
    }


def _call_from_plain(plain: dict[str, Any]) -> UpstreamCall:
    response = plain.get("response")
    return UpstreamCall(
        backend=str(plain["backend"]),
        model=str(plain["model"]),
        url=str(plain["url"]),
        request=_message_from_plain(plain["request"]),
        response=None if response is None else _message_from_plain(response),
        error=plain.get("error"),
    )


__all__ = [
    "FORMAT_VERSION",
    "CapturedExchange",
    "Message",
    "UpstreamCall",
    "from_plain",
    "to_plain",
]
