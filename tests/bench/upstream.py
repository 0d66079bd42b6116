"""A fast fake OpenAI-compatible upstream for the benchmarks.

A raw asyncio protocol speaking just enough HTTP/1.1 (keep-alive, pipelining, Content-Length
bodies) to answer `POST /v1/chat/completions` as fast as Python can: every reply is built
once at start-up, so a request costs a header scan and one `write`. A body asking for
`"stream": true` gets an SSE reply (chunked transfer encoding) of `chunks` content chunks, a
finish chunk, a usage chunk (as with `stream_options.include_usage`) and `data: [DONE]`;
any other body gets a `chat.completion` JSON object. The upstream never looks at the rest of
the request. `GET /v1/models` lists one model; `GET /stats` counts the connections accepted
and the completions served (so a run can tell whether its client reuses connections);
anything else is a 404.

With `chunk_delay` > 0 each SSE chunk is written separately, that many seconds apart (a slow
model), and the connection stops reading until the reply is done so pipelined replies keep
their order.

Run it alone with `python -m tests.bench.upstream --port 9100`; it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
MODEL = "bench-model"
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024

_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
_CONTENT_LENGTH_RE = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CLOSE_RE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
_CHUNKED_RE = re.compile(rb"\r\ntransfer-encoding:[ \t]*chunked", re.IGNORECASE)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _response(status: str, content_type: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 "
        + status.encode()
        + b"\r\ncontent-type: "
        + content_type
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk carrying `data`."""
    return b"%x\r\n%s\r\n" % (len(data), data)


@dataclass(frozen=True)
class Replies:
    """Every reply the upstream sends, built once."""

    json_reply: bytes
    stream_head: bytes
    stream_chunks: tuple[bytes, ...]  # each already framed as an HTTP chunk
    models_reply: bytes
    not_found: bytes
    bad_request: bytes

    @property
    def stream_reply(self) -> bytes:
        """The whole streaming reply in one piece."""
        return self.stream_head + b"".join(self.stream_chunks)


def build_replies(chunks: int = 20, token: str = "lorem ") -> Replies:
    """The replies for a completion of `chunks` tokens of `token`."""
    chunks = max(1, chunks)
    ident, created = "chatcmpl-bench", 1_700_000_000
    usage = {"prompt_tokens": 50, "completion_tokens": chunks, "total_tokens": 50 + chunks}
    completion = {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": token * chunks},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }
    base = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": MODEL}

    def event(choices: list[Any], **extra: Any) -> bytes:
        return b"data: " + _dumps({**base, "choices": choices, **extra}) + b"\n\n"

    def delta(d: dict[str, Any], finish: str | None = None) -> list[Any]:
        return [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}]

    events = [event(delta({"role": "assistant", "content": token}))]
    events += [event(delta({"content": token})) for _ in range(chunks - 1)]
    events.append(event(delta({}, "stop")))
    events.append(event([], usage=usage))
    events.append(b"data: [DONE]\n\n")
    framed = (*(_chunk(e) for e in events), b"0\r\n\r\n")
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    models = {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]}
    return Replies(
        json_reply=_response("200 OK", b"application/json", _dumps(completion)),
        stream_head=head,
        stream_chunks=framed,
        models_reply=_response("200 OK", b"application/json", _dumps(models)),
        not_found=_response(
            "404 Not Found", b"application/json", _dumps({"error": {"message": "not found"}})
        ),
        bad_request=_response(
            "400 Bad Request", b"application/json", _dumps({"error": {"message": "bad request"}})
        ),
    )


class Stats:
    """What the upstream has done since it started."""

    connections = 0
    completions = 0

    @classmethod
    def reply(cls) -> bytes:
        """`GET /stats` as an HTTP response."""
        body = _dumps({"connections": cls.connections, "completions": cls.completions})
        return _response("200 OK", b"application/json", body)


class UpstreamProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, replies: Replies, chunk_delay: float) -> None:
        self.replies = replies
        self.stream_reply = replies.stream_reply
        self.chunk_delay = chunk_delay
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a delayed streaming reply is being written
        self.writer: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        Stats.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._serve()

    def _serve(self) -> None:
        transport = self.transport
        assert transport is not None
        while not transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._fail()
                return
            head = self.buffer[:end]
            match = _CONTENT_LENGTH_RE.search(head)
            length = int(match.group(1)) if match else 0
            if length > MAX_BODY or _CHUNKED_RE.search(head):
                self._fail()
                return
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = self.buffer[end + 4 : total]
            self.buffer = self.buffer[total:]
            close = _CLOSE_RE.search(head) is not None
            if head.startswith(b"POST /v1/chat/completions "):
                Stats.completions += 1
                if _STREAM_RE.search(body):
                    if self.chunk_delay > 0:
                        self.busy = True
                        transport.pause_reading()
                        self.writer = asyncio.ensure_future(self._slow_stream(close))
                        return
                    transport.write(self.stream_reply)
                else:
                    transport.write(self.replies.json_reply)
            elif head.startswith(b"GET /v1/models "):
                transport.write(self.replies.models_reply)
            elif head.startswith(b"GET /stats "):
                transport.write(Stats.reply())
            else:
                transport.write(self.replies.not_found)
            if close:
                transport.close()
                return

    def _fail(self) -> None:
        assert self.transport is not None
        self.transport.write(self.replies.bad_request)
        self.transport.close()

    async def _slow_stream(self, close: bool) -> None:
        transport = self.transport
        assert transport is not None
        try:
            transport.write(self.replies.stream_head)
            for piece in self.replies.stream_chunks:
                await asyncio.sleep(self.chunk_delay)
                if transport.is_closing():
                    return
                transport.write(piece)
        finally:
            self.busy = False
        if close:
            transport.close()
            return
        transport.resume_reading()
        self._serve()

    def connection_lost(self, exc: Exception | None) -> None:
        self.buffer = b""


async def start(
    port: int = 0, *, chunks: int = 20, chunk_delay: float = 0.0
) -> asyncio.base_events.Server:
    """Start the upstream on 127.0.0.1:`port` (0 picks a free port) in the running loop."""
    replies = build_replies(chunks)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: UpstreamProtocol(replies, chunk_delay), HOST, port, backlog=1024
    )


async def _main(args: argparse.Namespace) -> None:
    server = await start(args.port, chunks=args.chunks, chunk_delay=args.chunk_delay_ms / 1000)
    port = server.sockets[0].getsockname()[1]
    print(f"fake upstream listening on http://{HOST}:{port}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if args.max_seconds > 0:
            await asyncio.wait_for(stop.wait(), args.max_seconds)
        else:
            await stop.wait()
    except TimeoutError:
        pass
    finally:
        server.close()


def run_loop(coro: Any) -> Any:
    """Run `coro` on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> None:
    """Serve until interrupted (or for `--max-seconds`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument(
        "--chunk-delay-ms", type=float, default=0.0, help="pause before each SSE chunk"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=3600.0,
        help="stop by itself after this long (0: never)",
    )
    run_loop(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
