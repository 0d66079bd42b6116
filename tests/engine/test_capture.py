"""Capture: records and their plain form, the sink's files, limits, failures and
redaction, and reading captures back."""

from __future__ import annotations

import errno
import logging
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pytest

from engine.capture import (
    CapturedExchange,
    CaptureSink,
    Message,
    Redactor,
    UpstreamCall,
    from_plain,
    read_all,
    read_records,
    safe_session_name,
    summarize,
    to_plain,
)
from engine.capture import files as files_module
from engine.capture import redaction as redaction_module
from engine.capture import sink as sink_module

ANTHROPIC_KEY = "sk-ant-api03-" + "A1b2C3d4E5" * 4
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
ROTATED = re.compile(r"capture-\d{8}-\d{6}-\d+-\d+\.(jsonl|cbor)")


def record(
    id: str = "x1",
    *,
    session: str | None = None,
    started: float = 1_700_000_000.0,
    body: bytes = b'{"model": "m", "messages": []}',
    **changes: Any,
) -> CapturedExchange:
    """An exchange with one failed and one answering upstream call, streamed."""
    fields: dict[str, Any] = {
        "id": id,
        "started": started,
        "session": session,
        "frontend": "anthropic",
        "route": "default",
        "client_request": Message(
            method="POST",
            path="/anthropic/v1/messages",
            headers=[("content-type", "application/json"), ("x-api-key", "client-key-123")],
            body=body,
        ),
        "upstream": [
            UpstreamCall(
                backend="claude",
                model="claude-sonnet-4-5",
                url="https://api.anthropic.com/v1/messages",
                request=Message(method="POST", path="/v1/messages", body=body),
                error="503 overloaded",
            ),
            UpstreamCall(
                backend="local",
                model="qwen3",
                url="http://127.0.0.1:8080/v1/chat/completions",
                request=Message(method="POST", path="/v1/chat/completions", body=body),
                response=Message(
                    status=200,
                    headers=[("content-type", "text/event-stream")],
                    body=b"data: 1\n\ndata: 2\n\n",
                    chunks=[(12.5, b"data: 1\n\n"), (40.125, b"data: 2\n\n")],
                ),
            ),
        ],
        "client_response": Message(
            status=200,
            headers=[("content-type", "text/event-stream")],
            body=b"event: a\n\nevent: b\n\n",
            chunks=[(13.0, b"event: a\n\n"), (41.75, b"event: b\n\n")],
        ),
        "usage": {"input_tokens": 10, "output_tokens": 20},
        "error": None,
    }
    fields.update(changes)
    return CapturedExchange(**fields)


class BlockingSink(CaptureSink):
    """A sink whose writer waits for `release` before each record: the test decides
    when the writer gets on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        super().__init__(*args, **kwargs)

    def _write(self, record: CapturedExchange) -> None:
        self.entered.set()
        self.release.wait(30)
        super()._write(record)


@pytest.fixture
def make_sink(tmp_path: Path) -> Iterator[Callable[..., CaptureSink]]:
    """Sinks writing to `tmp_path / "captures"` by default, closed after the test."""
    made: list[CaptureSink] = []

    def make(kind: type[CaptureSink] = CaptureSink, **options: Any) -> CaptureSink:
        directory = options.pop("directory", tmp_path / "captures")
        made.append(kind(directory, **options))
        return made[-1]

    yield make
    for sink in made:
        if isinstance(sink, BlockingSink):
            sink.release.set()
        sink.close()


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- records -------------------------------------------------------------------------


def test_plain_forms_keep_bytes_and_stay_readable_as_json() -> None:
    original = record(body=b"\xff\xfe not UTF-8")
    binary = to_plain(original, binary=True)
    text = to_plain(original, binary=False)

    assert binary["v"] == text["v"] == 1
    assert binary["client_request"]["body"] == b"\xff\xfe not UTF-8"
    assert text["client_request"]["body"] == {"base64": "//4gbm90IFVURi04"}
    assert text["upstream"][1]["response"]["chunks"][0] == [12.5, {"text": "data: 1\n\n"}]
    assert "body" not in text["client_response"]  # a stream is its chunks joined
    assert from_plain(binary) == original
    assert from_plain(orjson.loads(orjson.dumps(text))) == original


def test_a_body_other_than_its_chunks_joined_is_kept() -> None:
    response = Message(status=200, body=b"whole", chunks=[(1.0, b"part")])
    original = record(client_response=response)

    plain = to_plain(original, binary=False)

    assert plain["client_response"]["body"] == {"text": "whole"}
    assert from_plain(plain).client_response == response


def test_other_format_versions_are_refused() -> None:
    plain = to_plain(record(), binary=False)

    with pytest.raises(ValueError, match=r"format version 2 is not supported.*version 1"):
        from_plain({**plain, "v": 2})
    with pytest.raises(ValueError, match="format version None"):
        from_plain({k: v for k, v in plain.items() if k != "v"})
    with pytest.raises(ValueError, match="malformed capture record"):
        from_plain({"v": 1, "id": "x"})


# --- files ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "cbor"])
def test_records_round_trip_through_a_file(
    make_sink: Callable[..., CaptureSink], tmp_path: Path, fmt: str
) -> None:
    records = [record("a", body=b"\x00\x80\xff binary"), record("b", session="s")]
    sink = make_sink(formats=(fmt,), redact=False)

    assert all(sink.offer(r) for r in records)
    sink.close()

    [name] = files(tmp_path / "captures")
    assert ROTATED.fullmatch(name) and name.endswith(f".{fmt}")
    assert list(read_records(tmp_path / "captures" / name)) == records
    assert sink.written == 2
    assert not sink.dropped


def test_jsonl_is_one_readable_object_a_line(
    make_sink: Callable[..., CaptureSink], tmp_path: Path
) -> None:
    sink = make_sink(redact=False)
    sink.offer(record("a"))
    sink.offer(record("b"))
    sink.close()

    [path] = (tmp_path / "captures").iterdir()
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == ["a", "b"]
    assert b'"body":{"text":"{\\"model\\": \\"m\\"' in lines[0]


def test_both_formats_at_once(make_sink: Callable[..., CaptureSink], tmp_path: Path) -> None:
    sink = make_sink(formats=("jsonl", "cbor"), redact=False)
    sink.offer(record("a"))
    sink.offer(record("b"))
    sink.close()

    names = files(tmp_path / "captures")
    assert [Path(n).suffix for n in names] == [".cbor", ".jsonl"]
    for name in names:
        assert [r.id for r in read_records(tmp_path / "captures" / name)] == ["a", "b"]
    assert [r.id for r in read_all([tmp_path / "captures"])] == ["a", "b"]  # each once


def test_files_rotate_by_size(make_sink: Callable[..., CaptureSink], tmp_path: Path) -> None:
    size = len(sink_module.encode(record(), "jsonl"))
    sink = make_sink(max_file_bytes=2 * size + 10)
    for n in range(5):
        sink.offer(record(f"r{n}"))
    sink.close()

    names = files(tmp_path / "captures")
    assert len(names) == 3
    assert all(ROTATED.fullmatch(n) for n in names)
    assert all((tmp_path / "captures" / n).stat().st_size <= 2 * size + 10 for n in names)
    assert [r.id for r in read_all([tmp_path / "captures"])] == [f"r{n}" for n in range(5)]


def test_per_session_files_with_safe_names(
    make_sink: Callable[..., CaptureSink], tmp_path: Path
) -> None:
    directory = tmp_path / "deep" / "captures"
    size = len(sink_module.encode(record(session="alpha"), "jsonl"))
    sink = make_sink(directory=directory, per_session=True, max_file_bytes=size)
    sink.offer(record("a1", session="alpha"))
    sink.offer(record("n1"))
    sink.offer(record("e1", session="../../etc"))
    sink.offer(record("a2", session="alpha"))
    sink.close()

    names = files(directory)
    escaped = f"session-{safe_session_name('../../etc')}.jsonl"
    assert names[1:] == sorted([escaped, "session-alpha-2.jsonl", "session-alpha.jsonl"])
    assert ROTATED.fullmatch(names[0])
    assert "/" not in escaped and escaped.startswith("session-.._.._etc_h")
    assert files(tmp_path) == ["deep"]  # nothing written outside the directory
    assert [r.id for r in read_records(directory / "session-alpha.jsonl")] == ["a1"]
    assert [r.id for r in read_records(directory / "session-alpha-2.jsonl")] == ["a2"]
    assert [r.id for r in read_records(directory / escaped)] == ["e1"]
    assert [r.id for r in read_records(directory / names[0])] == ["n1"]


def test_a_session_file_goes_on_where_an_earlier_sink_stopped(
    make_sink: Callable[..., CaptureSink], tmp_path: Path
) -> None:
    first = make_sink(per_session=True)
    first.offer(record("a1", session="alpha"))
    first.close()
    second = make_sink(per_session=True)
    second.offer(record("a2", session="alpha"))
    second.close()

    assert files(tmp_path / "captures") == ["session-alpha.jsonl"]
    path = tmp_path / "captures" / "session-alpha.jsonl"
    assert [r.id for r in read_records(path)] == ["a1", "a2"]


@pytest.mark.parametrize(
    ("session", "other"),
    [("abc", "abc-2"), ("a/b", "a_b"), ("x" * 100, "x" * 101), ("", "_")],
)
def test_safe_session_names_never_collide(session: str, other: str) -> None:
    names = {safe_session_name(session), safe_session_name(other)}
    assert len(names) == 2
    assert all(re.fullmatch(r"[A-Za-z0-9._-]{1,80}", n) for n in names)
    assert not any(re.search(r"-[0-9]+$", n) for n in names)  # never like a part number


def test_the_total_cap_deletes_the_oldest_files(
    make_sink: Callable[..., CaptureSink], tmp_path: Path
) -> None:
    size = len(sink_module.encode(record(), "jsonl"))
    directory = tmp_path / "captures"
    directory.mkdir()
    (directory / "notes.txt").write_text("not a capture file")
    sink = make_sink(max_file_bytes=size, max_total_bytes=3 * size)  # one record a file
    for n in range(6):
        sink.offer(record(f"r{n}"))
    sink.close()

    assert [r.id for r in read_all([directory])] == ["r3", "r4", "r5"]
    assert "notes.txt" in files(directory)


def test_the_total_cap_never_deletes_the_open_file(
    make_sink: Callable[..., CaptureSink], tmp_path: Path
) -> None:
    sink = make_sink(max_total_bytes=10)
    sink.offer(record("a"))
    sink.offer(record("b"))
    sink.close()

    assert [r.id for r in read_all([tmp_path / "captures"])] == ["a", "b"]


# --- the queue and the writer ----------------------------------------------------------


def test_a_full_queue_drops_and_counts_without_blocking(
    make_sink: Callable[..., CaptureSink], tmp_path: Path
) -> None:
    sink = make_sink(BlockingSink, queue_size=2)
    assert isinstance(sink, BlockingSink)
    assert sink.offer(record("r0"))
    assert sink.entered.wait(10)  # the writer holds r0 and waits

    accepted = [sink.offer(record(f"r{n}")) for n in range(1, 5)]

    assert accepted == [True, True, False, False]
    assert sink.dropped == {"full": 2}
    sink.release.set()
    assert sink.flush()
    assert sink.written == 3
    assert [r.id for r in read_all([tmp_path / "captures"])] == ["r0", "r1", "r2"]


def test_close_writes_what_is_queued(make_sink: Callable[..., CaptureSink], tmp_path: Path) -> None:
    sink = make_sink(BlockingSink)
    assert isinstance(sink, BlockingSink)
    for n in range(3):
        sink.offer(record(f"r{n}"))
    assert sink.entered.wait(10)
    sink.release.set()

    sink.close()

    assert sink.written == 3
    assert [r.id for r in read_all([tmp_path / "captures"])] == ["r0", "r1", "r2"]
    assert sink.closed
    assert not sink.offer(record("late"))
    assert sink.dropped == {"closed": 1}


def test_close_gives_up_on_a_stuck_writer_after_its_timeout(
    make_sink: Callable[..., CaptureSink],
) -> None:
    sink = make_sink(BlockingSink)
    assert isinstance(sink, BlockingSink)
    for n in range(3):
        sink.offer(record(f"r{n}"))
    assert sink.entered.wait(10)

    sink.close(timeout=0.05)

    assert sink.dropped == {"closed": 2}
    sink.release.set()
    sink.close()  # waits for the writer to finish the record it was writing
    assert sink.written == 1


async def test_aclose_closes_from_the_event_loop(make_sink: Callable[..., CaptureSink]) -> None:
    sink = make_sink()
    sink.offer(record())

    await sink.aclose()

    assert sink.closed
    assert sink.written == 1


def test_a_failing_directory_counts_errors_and_recovers(
    make_sink: Callable[..., CaptureSink], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "captures"
    blocker.write_text("a file where the directory should be")
    sink = make_sink(formats=("jsonl", "cbor"))

    with caplog.at_level(logging.WARNING, logger="engine.capture"):
        assert sink.offer(record("lost1"))
        assert sink.offer(record("lost2"))
        assert sink.flush()
    assert sink.dropped == {"error": 2}
    [warning] = [r for r in caplog.records if r.name == "engine.capture"]
    assert "cannot write" in warning.getMessage()

    blocker.unlink()
    assert sink.offer(record("kept"))
    assert sink.flush()

    assert sink.written == 1
    assert [r.id for r in read_all([blocker])] == ["kept"]


class HalfFull:
    """A file handle on a disk that fills up: it writes half of what it is given."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def write(self, data: bytes) -> int:
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        self._handle.flush()

    def fileno(self) -> int:
        return self._handle.fileno()

    def close(self) -> None:
        self._handle.close()


def test_a_failed_write_leaves_no_cut_record(
    make_sink: Callable[..., CaptureSink], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_sink(per_session=True)
    first.offer(record("a1", session="alpha"))
    first.close()
    sink = make_sink(per_session=True)

    def full_disk(path: Path, mode: str) -> HalfFull:
        return HalfFull(open(path, mode))

    monkeypatch.setattr(files_module, "open", full_disk, raising=False)
    sink.offer(record("a2", session="alpha"))
    assert sink.flush()
    monkeypatch.undo()
    sink.offer(record("a3", session="alpha"))
    sink.close()

    assert sink.dropped == {"error": 1}
    assert sink.written == 1
    path = tmp_path / "captures" / "session-alpha.jsonl"
    assert [r.id for r in read_records(path)] == ["a1", "a3"]


# --- redaction -------------------------------------------------------------------------


def secret_record() -> CapturedExchange:
    body = f'{{"messages": [{{"content": "use {ANTHROPIC_KEY} please"}}]}}'.encode()
    return record(
        client_request=Message(
            method="POST",
            path="/v1beta/models/gemini:generateContent?alt=sse&key=AIzaSecret123&x=1",
            headers=[
                ("Authorization", "Bearer sk-secret"),
                ("x-goog-api-key", "goog"),
                ("Cookie", "session=abc"),
                ("user-agent", "claude-cli"),
            ],
            body=body,
        ),
        client_response=Message(
            status=200,
            headers=[("set-cookie", "id=1")],
            body=f"data: key {AWS_KEY} é done".encode(),
            chunks=[
                (5.0, f"data: key {AWS_KEY[:9]}".encode()),
                (9.5, f"{AWS_KEY[9:]} \xc3".encode("latin-1")),  # é split in two
                (12.0, b"\xa9 done"),
            ],
        ),
        upstream=[
            UpstreamCall(
                backend="gemini",
                model="gemini-2.5-pro",
                url="https://generativelanguage.googleapis.com/v1beta/models/x?key=AIzaSecret123",
                request=Message(body=b"configured key my-backend-key-0042 here"),
                error=f"401 from upstream: {ANTHROPIC_KEY} is invalid",
            )
        ],
    )


@pytest.fixture
def backend_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registered backend key, without registering it for the whole test run."""
    monkeypatch.setattr(
        redaction_module, "secrets_pattern", lambda: re.compile("my-backend-key-0042")
    )


@pytest.mark.usefixtures("backend_key")
def test_redaction_hides_credentials(make_sink: Callable[..., CaptureSink], tmp_path: Path) -> None:
    sink = make_sink()
    sink.offer(secret_record())
    sink.close()

    [written] = read_all([tmp_path / "captures"])
    request, response = written.client_request, written.client_response
    assert response is not None
    assert request.headers == [
        ("Authorization", "***"),
        ("x-goog-api-key", "***"),
        ("Cookie", "***"),
        ("user-agent", "claude-cli"),
    ]
    assert request.path == "/v1beta/models/gemini:generateContent?alt=sse&key=***&x=1"
    assert request.body == b'{"messages": [{"content": "use [REDACTED:anthropic] please"}]}'
    assert response.headers == [("set-cookie", "***")]
    assert response.body == "data: key [REDACTED:aws] é done".encode()
    assert response.chunks == [
        (5.0, b"data: key [REDACTED:aws]"),
        (9.5, b" \xc3"),
        (12.0, b"\xa9 done"),
    ]
    [call] = written.upstream
    assert call.url.endswith("?key=***")
    assert call.request.body == b"configured key [REDACTED:backend-key] here"
    assert call.error == "401 from upstream: [REDACTED:anthropic] is invalid"


def test_redaction_off_writes_everything_as_it_is(
    make_sink: Callable[..., CaptureSink], tmp_path: Path
) -> None:
    original = secret_record()
    sink = make_sink(redact=False)
    sink.offer(original)
    sink.close()

    assert list(read_all([tmp_path / "captures"])) == [original]


def test_a_secret_spread_over_several_chunks_goes_where_it_started() -> None:
    pieces = [b"a sk-ant-api03-", b"abcdefghij", b"klmnopqrstu", b"vwx and more"]
    chunks = [(float(n), piece) for n, piece in enumerate(pieces)]

    redacted = Redactor().message(Message(body=b"".join(pieces), chunks=chunks))

    assert redacted.chunks == [
        (0.0, b"a [REDACTED:anthropic]"),
        (1.0, b""),
        (2.0, b""),
        (3.0, b" and more"),
    ]
    assert redacted.body == b"a [REDACTED:anthropic] and more"


def test_binary_bodies_are_left_as_they_are() -> None:
    data = b"\xff" + ANTHROPIC_KEY.encode()
    message = Message(body=data, chunks=[(1.0, data[:5]), (2.0, data[5:])])

    redacted = Redactor().message(message)

    # not one text: only a chunk that is text on its own is redacted
    assert redacted.chunks == [(1.0, data[:5]), (2.0, data[5:])]
    assert redacted.body == data


# --- reading ---------------------------------------------------------------------------


def test_reading_refuses_other_files_and_names_a_bad_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"not a capture file \(expected a \.jsonl or \.cbor"):
        read_records(tmp_path / "capture.json")
    bad = tmp_path / "old.jsonl"
    good = orjson.dumps(to_plain(record(), binary=False))
    bad.write_bytes(good + b"\n" + good.replace(b'"v":1', b'"v":7') + b"\n")

    with pytest.raises(ValueError, match=r"old\.jsonl:2: .*version 7 is not supported"):
        list(read_records(bad))


def test_summary_lines() -> None:
    records = [
        record("a", session="s1", route="agents"),
        record(
            "b",
            session="s1",
            started=1_700_000_005.25,
            frontend="openai_chat",
            upstream=[UpstreamCall(backend="mock", model="mock-1", url="mock:", request=Message())],
            client_response=Message(status=200, body=b"{}"),
            usage=None,
        ),
        record(
            "c",
            started=1_700_000_010.5,
            route=None,
            upstream=[],
            client_response=None,
            usage=None,
            error="no route matches",
        ),
    ]

    assert summarize(records) == [
        "3 exchanges, 1 session",
        "from 2023-11-14 22:13:20.000Z to 2023-11-14 22:13:30.500Z",
        "front-ends: anthropic 2, openai_chat 1",
        "routes: (none) 1, agents 1, default 1",
        "models asked: claude:claude-sonnet-4-5 1, local:qwen3 1, mock:mock-1 1",
        "",
        "2023-11-14 22:13:20.000Z  session=s1  anthropic  route=agents"
        "  upstream=claude:claude-sonnet-4-5 -> local:qwen3  status=200  duration=42ms"
        "  ttfb=13ms  tokens input=10 output=20",
        "2023-11-14 22:13:25.250Z  session=s1  openai_chat  route=default"
        "  upstream=mock:mock-1  status=200  duration=-  ttfb=-  tokens -",
        "2023-11-14 22:13:30.500Z  session=-  anthropic  route=-  upstream=-  status=-"
        "  duration=-  ttfb=-  tokens -  error=no route matches",
    ]
    assert summarize([]) == [
        "0 exchanges, 0 sessions",
        "front-ends: -",
        "routes: -",
        "models asked: -",
    ]
