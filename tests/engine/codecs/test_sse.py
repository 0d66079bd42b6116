"""Server-sent events: parsing providers' streams and framing ours."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.codecs.sse import dumps, frame, parse_sse


async def _parse(lines: list[str], *, newline: str = "\n", cut: int = 0) -> list[tuple[str, str]]:
    """The messages of `lines` joined by `newline`, sent in pieces of `cut` bytes (0: whole)."""
    body = newline.join(lines).encode()
    pieces = [body[i : i + cut] for i in range(0, len(body), cut)] if cut else [body]

    async def source() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    return [(m.event, m.data) async for m in parse_sse(source())]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(["data: a", ""], [("message", "a")], id="one-message"),
        pytest.param(["data: a", "data: b", ""], [("message", "a\nb")], id="multi-line-data"),
        pytest.param(
            [": keep-alive", "data: x", ": mid-event comment", ""],
            [("message", "x")],
            id="comments-ignored",
        ),
        pytest.param(
            ["event: content_block_delta", "data: {}", ""],
            [("content_block_delta", "{}")],
            id="event-name",
        ),
        pytest.param(
            ["event: a", "data: 1", "", "data: 2", ""],
            [("a", "1"), ("message", "2")],
            id="event-name-reset-after-dispatch",
        ),
        pytest.param(["data:x", ""], [("message", "x")], id="no-space-after-colon"),
        pytest.param(["data:  x", ""], [("message", " x")], id="only-one-space-stripped"),
        pytest.param(["data: a:b: c", ""], [("message", "a:b: c")], id="colons-in-value"),
        pytest.param(["data: last"], [("message", "last")], id="missing-final-blank-line"),
        pytest.param(
            ["data: 1", "", "data: 2"],
            [("message", "1"), ("message", "2")],
            id="missing-final-blank-line-after-others",
        ),
        pytest.param(["", "", "event: ping", ""], [], id="no-data-no-message"),
        pytest.param(
            ["id: 7", "retry: 1000", "data: y", ""], [("message", "y")], id="other-fields-ignored"
        ),
        pytest.param(["data: [DONE]", ""], [("message", "[DONE]")], id="done-marker-is-data"),
        pytest.param([], [], id="empty-stream"),
        pytest.param(["data:", ""], [], id="empty-data-not-dispatched"),
        pytest.param(["data:", "data:", ""], [("message", "\n")], id="two-empty-data-lines"),
        pytest.param(["data: é€𝄞", ""], [("message", "é€𝄞")], id="characters-cut-anywhere"),
    ],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("cut", [0, 1, 2, 7])
async def test_parse_sse(
    lines: list[str], expected: list[tuple[str, str]], newline: str, cut: int
) -> None:
    """Whatever the line ends, and wherever the body is cut."""
    assert await _parse(lines, newline=newline, cut=cut) == expected


@pytest.mark.parametrize(
    ("data", "event", "expected"),
    [
        ({"a": 1, "b": [1, 2]}, None, b'data: {"a":1,"b":[1,2]}\n\n'),
        ("[DONE]", None, b"data: [DONE]\n\n"),
        ({"x": "é"}, "delta", 'event: delta\ndata: {"x":"é"}\n\n'.encode()),
    ],
)
def test_frame(data: object, event: str | None, expected: bytes) -> None:
    assert frame(data, event) == expected


async def test_frame_round_trips_through_parse() -> None:
    wire = frame({"text": "two\nlines"}, "delta").decode()
    assert await _parse(wire.split("\n")) == [("delta", dumps({"text": "two\nlines"}))]


def test_dumps_is_compact_and_keeps_unicode() -> None:
    assert dumps({"k": ["ü", None, True]}) == '{"k":["ü",null,true]}'
