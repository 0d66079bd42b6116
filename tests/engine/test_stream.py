"""The stream toolkit: tool-call assembly, held-back text, and cuts valid in every protocol."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.codecs import anthropic, gemini, openai_chat, openai_responses
from engine.model import (
    ChatRequest,
    ErrorEvent,
    Event,
    Finish,
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    Tool,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from engine.response import aiter_events
from engine.stream import (
    CutReason,
    HoldBack,
    StreamCutter,
    ToolCall,
    ToolCallAssembler,
    call_events,
)

START = ResponseStart(id="resp-1", model="m")
NOTICE = "\n[stopped by the proxy]"

# --- tool-call assembly --------------------------------------------------------------------

INTERLEAVED: list[Event] = [
    START,
    ToolCallStart(index=0, id="c0", name="read"),
    ToolCallStart(index=1, id="c1", name="grep"),
    ToolCallDelta(index=1, arguments='{"q":'),
    ToolCallDelta(index=0, arguments='{"pa'),
    TextDelta(text="between"),
    ToolCallDelta(index=0, arguments='th": "a.txt"}'),
    ToolCallDelta(index=1, arguments=' "x"}'),
    ToolCallEnd(index=1),
    ToolCallEnd(index=0),
    Finish(reason="tool_calls"),
]


def test_assembles_interleaved_calls_with_split_arguments() -> None:
    calls = ToolCallAssembler()
    ended = [(i, call) for i, e in enumerate(INTERLEAVED) if (call := calls.feed(e)) is not None]
    assert [(i, c.id, c.name, c.arguments, c.parsed) for i, c in ended] == [
        (8, "c1", "grep", '{"q": "x"}', {"q": "x"}),
        (9, "c0", "read", '{"path": "a.txt"}', {"path": "a.txt"}),
    ]
    assert all(call.ended and call.events == [] for _, call in ended)
    assert calls.open == {}


def test_open_calls_show_their_arguments_so_far() -> None:
    calls = ToolCallAssembler()
    for event in INTERLEAVED[:5]:
        calls.feed(event)
    assert sorted(calls.open) == [0, 1]
    assert (calls.open[0].arguments, calls.open[0].parsed, calls.open[0].ended) == (
        '{"pa',
        None,
        False,
    )


def test_kept_events_are_the_calls_own_in_order() -> None:
    calls = ToolCallAssembler(keep_events=True)
    ended = [call for e in INTERLEAVED if (call := calls.feed(e)) is not None]
    assert ended[1].events == [INTERLEAVED[i] for i in (1, 4, 6, 9)]
    assert ended[0].events == [INTERLEAVED[i] for i in (2, 3, 7, 8)]


@pytest.mark.parametrize(
    ("arguments", "parsed"),
    [
        ('{"path": "a"}', {"path": "a"}),
        ("", {}),  # no arguments: the codecs send `{}`
        ('{"path":', None),  # unfinished
        ("{'path': 'a'}", None),  # not JSON
        ("[1, 2]", None),  # JSON, but not an object
        ("null", None),
    ],
)
def test_parsed_arguments(arguments: str, parsed: dict[str, Any] | None) -> None:
    calls = ToolCallAssembler()
    calls.feed(ToolCallStart(index=0, id="c", name="f"))
    for piece in (arguments[:3], arguments[3:]):
        if piece:
            calls.feed(ToolCallDelta(index=0, arguments=piece))
    call = calls.feed(ToolCallEnd(index=0))
    assert call is not None
    assert (call.arguments, call.parsed) == (arguments, parsed)


def test_events_of_unknown_calls_are_ignored() -> None:
    calls = ToolCallAssembler()
    assert calls.feed(ToolCallDelta(index=3, arguments="{}")) is None
    assert calls.feed(ToolCallEnd(index=3)) is None
    assert calls.open == {}


def test_end_all_ends_open_calls_in_index_order() -> None:
    calls = ToolCallAssembler(keep_events=True)
    for event in INTERLEAVED[:5]:
        calls.feed(event)
    ended = calls.end_all()
    assert [(c.id, c.ended, c.events[-1]) for c in ended] == [
        ("c0", True, ToolCallEnd(index=0)),
        ("c1", True, ToolCallEnd(index=1)),
    ]
    assert calls.open == {}


@pytest.mark.parametrize(
    ("call", "index", "expected"),
    [
        (
            ToolCall("v1", "search", '{"q": "x"}'),
            2,
            [
                ToolCallStart(index=2, id="v1", name="search"),
                ToolCallDelta(index=2, arguments='{"q": "x"}'),
                ToolCallEnd(index=2),
            ],
        ),
        (
            ToolCall("v2", "now"),
            0,
            [ToolCallStart(index=0, id="v2", name="now"), ToolCallEnd(index=0)],
        ),
    ],
)
def test_call_events_of_a_stages_own_call(
    call: ToolCall, index: int, expected: list[Event]
) -> None:
    assert call_events(call, index) == expected


def test_call_events_renumber_kept_events_piece_by_piece() -> None:
    calls = ToolCallAssembler(keep_events=True)
    ended = [call for e in INTERLEAVED if (call := calls.feed(e)) is not None]
    assert call_events(ended[0], 1) is ended[0].events  # same index: the events as they came
    assert call_events(ended[1], 5) == [
        ToolCallStart(index=5, id="c0", name="read"),
        ToolCallDelta(index=5, arguments='{"pa'),
        ToolCallDelta(index=5, arguments='th": "a.txt"}'),
        ToolCallEnd(index=5),
    ]


def test_with_arguments_keeps_id_and_name() -> None:
    call = ToolCall("c", "write", '{"key": "sk-123"}').with_arguments('{"key": "[redacted]"}')
    assert (call.id, call.name, call.parsed, call.ended) == (
        "c",
        "write",
        {"key": "[redacted]"},
        True,
    )


# --- held-back text ------------------------------------------------------------------------

SECRET = "sk-LIVE-42xyz"
SECRET_TEXT = f"your key is {SECRET} ok"


def three_way_splits(text: str) -> Iterable[list[str]]:
    """Every split of `text` into three non-empty deltas."""
    for a, b in itertools.combinations(range(1, len(text)), 2):
        yield [text[:a], text[a:b], text[b:]]


SPLITS = list(three_way_splits(SECRET_TEXT))
START_AT, END_AT = SECRET_TEXT.index(SECRET), SECRET_TEXT.index(SECRET) + len(SECRET)


def push_all(buffer: HoldBack, deltas: list[str]) -> list[str]:
    """What each push released, then the flush."""
    return [buffer.push(delta) for delta in deltas] + [buffer.flush()]


@pytest.mark.parametrize(
    "make",
    [lambda: HoldBack(prefixes=[SECRET]), lambda: HoldBack(tail=len(SECRET) - 1)],
    ids=["prefixes", "tail"],
)
def test_no_part_of_a_secret_leaves_before_it_completes(make: Callable[[], HoldBack]) -> None:
    assert len(SPLITS) > 100
    for deltas in SPLITS:
        buffer = make()
        pieces = push_all(buffer, deltas)
        assert "".join(pieces) == SECRET_TEXT
        # the push whose delta completes the secret; what left before it holds none of it
        completing = next(i for i in range(3) if len("".join(deltas[: i + 1])) >= END_AT)
        assert len("".join(pieces[:completing])) <= START_AT, deltas


def test_prefixes_release_each_secret_whole_in_one_piece() -> None:
    for deltas in SPLITS:
        pieces = push_all(HoldBack(prefixes=[SECRET]), deltas)
        redacted = [piece.replace(SECRET, "[redacted]") for piece in pieces]
        assert "".join(redacted) == "your key is [redacted] ok", deltas


@pytest.mark.parametrize(
    ("words", "deltas", "pieces"),
    [
        (["<think>"], ["a<thi", "nk>b"], ["a", "<think>b", ""]),
        (["<think>", "</think>"], ["<th", "ink>x</", "think>"], ["", "<think>x", "</think>", ""]),
        (["<think>"], ["a<b", "<c"], ["a<b", "<c", ""]),  # a "<" that turns out not to be one
        (["<think>"], ["x<thi"], ["x", "<thi"]),  # held to the end: the flush gives it back
        # a word that could still start inside a whole word found before: that one goes whole
        (["abcd", "cdXY"], ["abcdX", "Y"], ["abcdX", "Y", ""]),
        # the start of a longer word before a shorter one: held until it is decided
        (["bc", "abcde"], ["xabc", "de"], ["x", "abcde", ""]),
    ],
)
def test_prefix_pieces(words: list[str], deltas: list[str], pieces: list[str]) -> None:
    assert push_all(HoldBack(prefixes=words), deltas) == pieces


def redact(pattern: re.Pattern[str], text: str) -> str:
    return pattern.sub("#", text)


@pytest.mark.parametrize(
    "words",
    [["abab"], ["aXa"], ["abcd", "cdXY"], ["bc", "abcde"], ["<think>", "</think>"], ["a", "aa"]],
)
def test_redacting_piece_by_piece_is_redacting_the_whole(words: list[str]) -> None:
    text = "".join(words) + "xabababaXaXa" + "".join(reversed(words)) + "abcdXYabcde<thi"
    for deltas in three_way_splits(text):
        buffer = HoldBack(prefixes=words)
        assert buffer.pattern is not None
        pieces = push_all(buffer, deltas)
        assert "".join(redact(buffer.pattern, p) for p in pieces) == redact(buffer.pattern, text)


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.lists(st.text("ab", min_size=1, max_size=4), min_size=1, max_size=3),
    st.text("abc", max_size=40),
    st.lists(st.integers(0, 40), max_size=8),
)
def test_piecewise_redaction_holds_for_any_words_and_splits(
    words: list[str], text: str, cuts: list[int]
) -> None:
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    deltas = [text[a:b] for a, b in itertools.pairwise(bounds)]
    buffer = HoldBack(prefixes=words)
    assert buffer.pattern is not None
    longest = max(map(len, words))
    pieces = []
    for delta in deltas:
        pieces.append(buffer.push(delta))
        assert len(buffer.held) <= longest - 1
    pieces.append(buffer.flush())
    assert "".join(pieces) == text
    assert "".join(redact(buffer.pattern, p) for p in pieces) == redact(buffer.pattern, text)


LONG = ["tok-", "en ", "<", "th", "sk-", "LIV"] * 2000


@pytest.mark.parametrize(
    ("make", "bound"),
    [
        (lambda: HoldBack(tail=12), 12),
        (lambda: HoldBack(prefixes=[SECRET, "<think>"]), len(SECRET) - 1),
        (lambda: HoldBack(hold=lambda s: len(s) - s.rfind("<") if "<" in s[-7:] else 0), 7),
    ],
    ids=["tail", "prefixes", "hold"],
)
def test_what_is_held_stays_bounded(make: Callable[[], HoldBack], bound: int) -> None:
    buffer = make()
    released = 0
    for delta in LONG:
        released += len(buffer.push(delta))
        assert len(buffer.held) <= bound
    assert released + len(buffer.flush()) == sum(map(len, LONG))


def test_each_push_sees_only_the_held_text_and_the_new() -> None:
    seen: list[int] = []

    def hold(pending: str) -> int:
        seen.append(len(pending))
        return min(5, len(pending))

    buffer = HoldBack(hold=hold)
    for delta in LONG:
        buffer.push(delta)
    assert len(seen) == len(LONG)
    assert max(seen) <= 5 + max(map(len, LONG))  # never the text so far


def test_flush_gives_back_the_rest_once() -> None:
    buffer = HoldBack(tail=4)
    assert (buffer.push("ab"), buffer.held) == ("", "ab")
    assert (buffer.push("cdef"), buffer.held) == ("ab", "cdef")
    assert (buffer.flush(), buffer.held, buffer.flush()) == ("cdef", "", "")


def test_a_hold_answer_out_of_range_is_clamped() -> None:
    assert push_all(HoldBack(hold=lambda s: 99), ["abc"]) == ["", "abc"]
    assert push_all(HoldBack(hold=lambda s: -1), ["abc"]) == ["abc", ""]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, ValueError),
        ({"tail": 3, "prefixes": ["x"]}, ValueError),
        ({"tail": -1}, ValueError),
        ({"prefixes": []}, ValueError),
        ({"prefixes": ["ok", ""]}, ValueError),
        ({"prefixes": "secret"}, TypeError),
    ],
)
def test_bad_hold_back_settings(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        HoldBack(**kwargs)


# --- the cutter: holding and releasing -----------------------------------------------------


async def released(events: list[Event]) -> list[Event]:
    """A stage that releases every call: what its client gets."""
    return [event async for event in StreamCutter(aiter_events(events)).events()]


async def test_calls_come_whole_after_the_text_that_came_during_them() -> None:
    out = await released(INTERLEAVED)
    assert out == [
        START,
        TextDelta(text="between"),
        # call c1 ended first: it is shown first, as call 0
        ToolCallStart(index=0, id="c1", name="grep"),
        ToolCallDelta(index=0, arguments='{"q":'),
        ToolCallDelta(index=0, arguments=' "x"}'),
        ToolCallEnd(index=0),
        ToolCallStart(index=1, id="c0", name="read"),
        ToolCallDelta(index=1, arguments='{"pa'),
        ToolCallDelta(index=1, arguments='th": "a.txt"}'),
        ToolCallEnd(index=1),
        Finish(reason="tool_calls"),
    ]


async def test_a_passed_stream_is_the_same_events() -> None:
    events: list[Event] = [
        START,
        ReasoningDelta(text="hm"),
        TextDelta(text="hi"),
        ToolCallStart(index=0, id="c", name="f"),
        ToolCallDelta(index=0, arguments="{}"),
        ToolCallEnd(index=0),
        Usage(input_tokens=3, output_tokens=2),
        Finish(reason="tool_calls"),
    ]
    out = await released(events)
    assert out == events
    assert all(a is b for a, b in zip(out, events, strict=True))  # passed, not copied


async def replace_dangerous(events: list[Event]) -> list[Event]:
    """A stage that shows a `rm` call as text instead, and every other call as it is."""
    stream = StreamCutter(aiter_events(events))
    out: list[Event] = []
    async for item in stream:
        if isinstance(item, ToolCall):
            if item.name == "rm":
                out.append(TextDelta(text=f"[blocked rm {item.parsed}]"))
            else:
                out.extend(stream.release(item))
        else:
            out.append(item)
    return out


RM_THEN_READ: list[Event] = [
    START,
    ToolCallStart(index=0, id="c0", name="rm"),
    ToolCallDelta(index=0, arguments='{"path": "/"}'),
    ToolCallEnd(index=0),
    ToolCallStart(index=1, id="c1", name="read"),
    ToolCallDelta(index=1, arguments='{"path": "a"}'),
    ToolCallEnd(index=1),
    Finish(reason="tool_calls"),
]


async def test_a_replaced_call_leaves_no_gap_in_the_numbering() -> None:
    assert await replace_dangerous(RM_THEN_READ) == [
        START,
        TextDelta(text="[blocked rm {'path': '/'}]"),
        ToolCallStart(index=0, id="c1", name="read"),
        ToolCallDelta(index=0, arguments='{"path": "a"}'),
        ToolCallEnd(index=0),
        Finish(reason="tool_calls"),
    ]


async def test_no_call_shown_finishes_with_stop() -> None:
    out = await replace_dangerous([*RM_THEN_READ[:4], Finish(reason="tool_calls")])
    assert out[-1] == Finish(reason="stop")
    assert not any(isinstance(e, ToolCallStart) for e in out)


async def test_a_stages_own_call_finishes_with_tool_calls() -> None:
    stream = StreamCutter(aiter_events([START, TextDelta(text="<call>"), Finish(reason="stop")]))
    out: list[Event] = []
    async for item in stream:
        if isinstance(item, TextDelta):
            out.extend(stream.release(ToolCall("v1", "search", '{"q": "x"}')))
        elif not isinstance(item, ToolCall):
            out.append(item)
    assert out[1:] == [
        ToolCallStart(index=0, id="v1", name="search"),
        ToolCallDelta(index=0, arguments='{"q": "x"}'),
        ToolCallEnd(index=0),
        Finish(reason="tool_calls"),
    ]


async def test_a_finish_ends_the_calls_still_open() -> None:
    events: list[Event] = [
        START,
        ToolCallStart(index=0, id="c", name="f"),
        ToolCallDelta(index=0, arguments='{"a": 1}'),
        Finish(reason="tool_calls"),
    ]
    assert await released(events) == [*events[:3], ToolCallEnd(index=0), events[3]]


async def test_an_error_drops_the_held_calls() -> None:
    error = ErrorEvent(status=502, code="upstream_truncated", message="gone")
    events: list[Event] = [START, ToolCallStart(index=0, id="c", name="f"), error]
    assert await released(events) == [START, error]


async def test_only_a_whole_call_can_be_released() -> None:
    stream = StreamCutter(aiter_events(INTERLEAVED))
    async for item in stream:
        if isinstance(item, TextDelta):
            break
    assert [(c.id, c.arguments) for c in stream.held] == [("c0", '{"pa'), ("c1", '{"q":')]
    with pytest.raises(ValueError, match="not ended"):
        stream.release(stream.held[0])


# --- the cutter: cutting -------------------------------------------------------------------


async def test_a_cut_stops_reading_and_ends_the_stream() -> None:
    read: list[Event] = []

    stream_events: list[Event] = [
        START,
        TextDelta(text="I will "),
        ToolCallStart(index=0, id="c", name="write"),
        ToolCallDelta(index=0, arguments='{"path":'),
        TextDelta(text="LOOP"),
        ToolCallDelta(index=0, arguments=' "a"}'),
        ToolCallEnd(index=0),
        Finish(reason="tool_calls"),
    ]

    async def upstream() -> AsyncGenerator[Event, None]:
        for event in stream_events:
            read.append(event)
            yield event

    source = upstream()
    stream = StreamCutter(source)
    out: list[Event] = []
    async for item in stream:
        if isinstance(item, TextDelta) and item.text == "LOOP":
            out.extend(stream.cut("stop", notice=NOTICE))
            continue  # a stage returns here; the cutter also ends its iteration
        assert not isinstance(item, ToolCall)
        out.append(item)
    assert out == [START, TextDelta(text="I will "), TextDelta(text=NOTICE), Finish(reason="stop")]
    assert len(read) == 5  # nothing read after the cut
    assert stream.is_cut and stream.held == []
    assert stream.cut("content_filter", notice="again") == []  # nothing after it
    assert stream.release(ToolCall("v", "f")) == []
    await source.aclose()  # the executor's part, when the stage returns


@pytest.mark.parametrize(
    ("events", "reason", "notice", "expected"),
    [
        (
            [],
            "content_filter",
            NOTICE,
            [
                ResponseStart(id="", model=""),
                TextDelta(text=NOTICE),
                Finish(reason="content_filter"),
            ],
        ),
        ([START], "stop", None, [Finish(reason="stop")]),
        (
            [START, Usage(input_tokens=12), TextDelta(text="a")],
            "stop",
            "",
            [Usage(input_tokens=12), Finish(reason="stop")],
        ),
        # a call was shown: clients must answer it
        ([START, *RM_THEN_READ[4:7]], "stop", None, [Finish(reason="tool_calls")]),
        ([START, *RM_THEN_READ[4:7]], "content_filter", None, [Finish(reason="content_filter")]),
        # a call was held, not shown
        ([START, *RM_THEN_READ[4:6]], "stop", None, [Finish(reason="stop")]),
    ],
)
async def test_the_closing_events(
    events: list[Event], reason: CutReason, notice: str | None, expected: list[Event]
) -> None:
    stream = StreamCutter(aiter_events(events))
    async for item in stream:
        if isinstance(item, ToolCall):
            stream.release(item)
    assert stream.cut(reason, notice=notice) == expected


# --- cuts are valid in every protocol ------------------------------------------------------


@dataclass
class Shown:
    """What a client of a protocol sees: text, tool calls (name, arguments), how it ended."""

    text: str
    calls: list[tuple[str, dict[str, Any]]]
    finish: str


class Encoder(Protocol):
    def event(self, event: Event) -> bytes: ...


def sse(data: bytes) -> list[tuple[str | None, str]]:
    """The (event, data) messages of an SSE body, checking its framing."""
    text = data.decode()
    assert text.endswith("\n\n")
    messages: list[tuple[str | None, str]] = []
    for block in text[:-2].split("\n\n"):
        name, payload = None, []
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            assert field in ("event", "data"), line
            if field == "event":
                name = value
            else:
                payload.append(value)
        assert payload, block
        messages.append((name, "\n".join(payload)))
    return messages


def payloads(data: bytes) -> list[dict[str, Any]]:
    """Every `data:` payload as JSON, named as its event when it has a name."""
    out = []
    for name, payload in sse(data):
        obj = json.loads(payload)
        assert isinstance(obj, dict)
        assert "error" not in obj and obj.get("type") != "error"
        if name is not None:
            assert obj["type"] == name
        out.append(obj)
    return out


def arguments(raw: str) -> dict[str, Any]:
    args = json.loads(raw)
    assert isinstance(args, dict), raw
    return args


def check_chat(data: bytes) -> Shown:
    messages = sse(data)
    assert messages[-1] == (None, "[DONE]")
    chunks = payloads(data.removesuffix(b"data: [DONE]\n\n"))
    finishes = [
        i for i, c in enumerate(chunks) if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert len(finishes) == 1
    last = finishes[0]
    assert all(c["choices"] == [] and "usage" in c for c in chunks[last + 1 :])
    text, calls = "", dict[int, dict[str, str]]()
    for chunk in chunks[: last + 1]:
        delta = chunk["choices"][0]["delta"]
        text += delta.get("content") or ""
        for call in delta.get("tool_calls") or ():
            if "id" in call:
                assert call["index"] not in calls
                calls[call["index"]] = {"name": call["function"]["name"], "arguments": ""}
            calls[call["index"]]["arguments"] += call["function"].get("arguments") or ""
    assert sorted(calls) == list(range(len(calls)))
    shown = [(c["name"], arguments(c["arguments"] or "{}")) for _, c in sorted(calls.items())]
    return Shown(text, shown, chunks[last]["choices"][0]["finish_reason"])


def check_anthropic(data: bytes) -> Shown:
    events = payloads(data)
    types = [e["type"] for e in events]
    assert types[0] == "message_start"
    assert types[-2:] == ["message_delta", "message_stop"]
    assert "message_delta" not in types[:-2] and "message_stop" not in types[:-2]
    block: dict[str, Any] | None = None
    starts = 0
    text, calls = "", list[tuple[str, dict[str, Any]]]()
    for event in events[1:-2]:
        kind = event["type"]
        if kind == "content_block_start":
            assert block is None  # blocks never interleave
            assert event["index"] == starts
            starts += 1
            block = {**event["content_block"], "index": event["index"], "json": []}
        elif kind == "content_block_delta":
            assert block is not None and event["index"] == block["index"]
            delta = event["delta"]
            if delta["type"] == "input_json_delta":
                assert block["type"] == "tool_use"
                block["json"].append(delta["partial_json"])
            elif delta["type"] == "text_delta":
                assert block["type"] == "text"
                text += delta["text"]
            else:
                assert block["type"] == "thinking"
                assert delta["type"] in ("thinking_delta", "signature_delta")
        elif kind == "content_block_stop":
            assert block is not None and event["index"] == block["index"]
            if block["type"] == "tool_use":
                raw = "".join(block["json"])
                calls.append((block["name"], arguments(raw) if raw else block["input"]))
            block = None
        else:
            assert kind == "ping"
    assert block is None  # every content_block_start has its content_block_stop
    return Shown(text, calls, events[-2]["delta"]["stop_reason"])


def check_responses(data: bytes) -> Shown:
    events = payloads(data)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    terminal = {"response.completed", "response.incomplete", "response.failed"}
    assert events[-1]["type"] in {"response.completed", "response.incomplete"}
    assert not any(e["type"] in terminal for e in events[:-1])
    added = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    done = [e["output_index"] for e in events if e["type"] == "response.output_item.done"]
    assert sorted(added) == sorted(done) == list(range(len(added)))
    for event in events:
        if event["type"] == "response.function_call_arguments.done":
            arguments(event["arguments"])
    final = events[-1]["response"]
    assert len(final["output"]) == len(added)
    text, calls = "", list[tuple[str, dict[str, Any]]]()
    for item in final["output"]:
        assert item["status"] in ("completed", "incomplete")
        if item["type"] == "function_call":
            assert item["status"] == "completed"
            calls.append((item["name"], arguments(item["arguments"])))
        elif item["type"] == "message":
            text += "".join(part["text"] for part in item["content"])
    finish = final["status"]
    if finish == "incomplete":
        finish += "/" + final["incomplete_details"]["reason"]
    return Shown(text, calls, finish)


def check_gemini(data: bytes) -> Shown:
    chunks = payloads(data)
    reasons = [chunk["candidates"][0].get("finishReason") for chunk in chunks]
    assert reasons[-1] and not any(reasons[:-1])
    text, calls = "", list[tuple[str, dict[str, Any]]]()
    for chunk in chunks:
        for part in chunk["candidates"][0]["content"]["parts"]:
            if "functionCall" in part:
                assert isinstance(part["functionCall"]["args"], dict)
                calls.append((part["functionCall"]["name"], part["functionCall"]["args"]))
            elif not part.get("thought"):
                text += part["text"]
    return Shown(text, calls, reasons[-1])


REQUEST = ChatRequest(model="m", tools=[Tool(name="read")], stream=True)
PROTOCOLS: dict[str, tuple[Callable[[], Encoder], Callable[[bytes], Shown], dict[str, str]]] = {
    "openai_chat": (
        lambda: openai_chat.StreamEncoder(include_usage=True),
        check_chat,
        {"stop": "stop", "content_filter": "content_filter", "tool_calls": "tool_calls"},
    ),
    "anthropic": (
        anthropic.StreamEncoder,
        check_anthropic,
        {"stop": "end_turn", "content_filter": "refusal", "tool_calls": "tool_use"},
    ),
    "openai_responses": (
        lambda: openai_responses.StreamEncoder(REQUEST, "resp_test"),
        check_responses,
        {
            "stop": "completed",
            "content_filter": "incomplete/content_filter",
            "tool_calls": "completed",
        },
    ),
    "gemini": (
        lambda: gemini.StreamEncoder(sse=True),
        check_gemini,
        {"stop": "STOP", "content_filter": "SAFETY", "tool_calls": "STOP"},
    ),
}

READ_A: list[Event] = [
    ToolCallStart(index=0, id="call_a", name="read"),
    ToolCallDelta(index=0, arguments='{"path": '),
    ToolCallDelta(index=0, arguments='"a.txt"}'),
    ToolCallEnd(index=0),
]


def partial(index: int) -> list[Event]:
    """A tool call cut in the middle of its arguments, after `{"path":`."""
    return [
        ToolCallStart(index=index, id=f"call_{index}", name="read"),
        ToolCallDelta(index=index, arguments='{"path":'),
    ]


# Upstream streams that stop in the middle of something, and what the client still sees
# (before the notice): text, and whole tool calls.
CUTS: dict[str, tuple[list[Event], str, list[tuple[str, dict[str, Any]]]]] = {
    "mid_text": ([START, TextDelta(text="Hello, "), TextDelta(text="wor")], "Hello, wor", []),
    "mid_tool_arguments": (
        [START, TextDelta(text="Reading."), *partial(0)],
        "Reading.",
        [],
    ),
    "mid_reasoning": ([START, ReasoningDelta(text="Let me th")], "", []),
    "after_start": ([START], "", []),
    "before_start": ([], "", []),
    "after_a_whole_call": ([START, *READ_A, *partial(1)], "", [("read", {"path": "a.txt"})]),
    "mid_two_interleaved_calls": (
        [START, partial(1)[0], READ_A[0], partial(1)[1], *READ_A[1:3]],
        "",
        [],
    ),
    "mid_reasoning_after_usage": (
        [
            START,
            Usage(input_tokens=9),
            ReasoningDelta(text="sig", signature="s1"),
            ReasoningDelta(text="x"),
        ],
        "",
        [],
    ),
}


async def cut_at_the_end(events: list[Event], reason: CutReason, notice: str) -> list[Event]:
    """A stage that releases every call and cuts where the upstream stops."""
    stream = StreamCutter(aiter_events(events))
    out = [event async for event in stream.events()]
    return out + stream.cut(reason, notice=notice)


@pytest.mark.parametrize("reason", ["stop", "content_filter"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("case", CUTS)
async def test_a_cut_is_valid_in_every_protocol(
    case: str, protocol: str, reason: CutReason
) -> None:
    events, text, calls = CUTS[case]
    make, check, finishes = PROTOCOLS[protocol]
    encoder = make()
    data = b"".join(encoder.event(e) for e in await cut_at_the_end(events, reason, NOTICE))
    finish = "tool_calls" if calls and reason == "stop" else reason
    assert check(data) == Shown(text + NOTICE, calls, finishes[finish])
    assert b'{\\"path\\":"' not in data  # the JSON string of a partial call's arguments


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_replaced_call_is_valid_in_every_protocol(protocol: str) -> None:
    make, check, finishes = PROTOCOLS[protocol]
    encoder = make()
    data = b"".join(encoder.event(e) for e in await replace_dangerous(RM_THEN_READ))
    assert check(data) == Shown(
        "[blocked rm {'path': '/'}]", [("read", {"path": "a"})], finishes["tool_calls"]
    )
    assert b'"rm"' not in data
