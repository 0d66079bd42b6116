"""The stream toolkit for response stages: whole tool calls, held-back text, and a clean cut.

A response stage reads the canonical events and yields what the client should see. Three
pieces cover what such stages need, so that none writes its own state machine:

- :class:`ToolCallAssembler` follows tool calls by ``index`` and hands back each
  :class:`ToolCall` whole (id, name, arguments, parsed arguments) when it ends.
- :class:`HoldBack` holds the end of the text while it could still be the start of a
  pattern (a secret, a ``<think>`` tag split over deltas) and releases the rest.
- :class:`StreamCutter` wraps the events, holds every tool call until it is whole, and
  ``cut(reason, notice=...)`` returns the events that end the stream validly in every
  protocol at any point: a client never sees part of a tool call's arguments.

A stage that stops at a dangerous call and redacts a known secret from the text::

    async def on_events(self, ctx, events):
        stream = StreamCutter(events)
        text = HoldBack(prefixes=[self.secret])
        async for item in stream:
            if isinstance(item, ToolCall):
                if item.name == "shell" and "rm -rf" in str(item.parsed):
                    for event in stream.cut("content_filter", notice="[blocked: rm -rf]"):
                        yield event
                    return
                for event in stream.release(item):
                    yield event
            elif isinstance(item, TextDelta):
                if piece := text.push(item.text):
                    yield TextDelta(text=piece.replace(self.secret, "[redacted]"))
            else:
                if isinstance(item, Finish) and (rest := text.flush()):
                    yield TextDelta(text=rest.replace(self.secret, "[redacted]"))
                yield item

After a cut the stage returns: the executor then closes the upstream, which cancels the
request to the provider.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any, Literal

from engine.model import (
    Bundle,
    ErrorEvent,
    Event,
    Finish,
    OpaqueBlock,
    ReasoningDelta,
    Relayed,
    ResponseStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)

# Why a stage cut the stream, as the client will see it. `stop` ends the turn as a normal
# one (agents then wait for the user); `content_filter` says the proxy withheld content,
# which clients show as a refusal or safety stop (Anthropic `refusal`, Responses
# `incomplete`, Gemini `SAFETY`), and some agents retry: keep it for withheld content.
CutReason = Literal["stop", "content_filter"]

_CALL_EVENTS = (ToolCallStart, ToolCallDelta, ToolCallEnd)
_UNPARSED: Any = object()
_CONTENT = (TextDelta, ReasoningDelta, OpaqueBlock)


# --- tool calls ----------------------------------------------------------------------------


class ToolCall:
    """One tool call: its id, name and argument text, and the events that carried it.

    The assembler builds these from the stream; a stage makes its own (a virtual tool
    call, a call with redacted arguments) with ``ToolCall(id, name, arguments)``.
    """

    __slots__ = ("_parsed", "_pieces", "ended", "events", "id", "index", "name")

    def __init__(self, id: str, name: str, arguments: str = "", *, index: int = -1) -> None:
        self.id = id
        self.name = name
        self.index = index  # the index it had upstream; -1 for a call a stage made
        self.ended = index < 0  # a stage's own call is whole from the start
        self.events: list[Event] = []  # what carried it, when the assembler keeps them
        self._pieces = [arguments] if arguments else []
        self._parsed: dict[str, Any] | None = _UNPARSED

    def __repr__(self) -> str:
        return f"ToolCall({self.id!r}, {self.name!r}, {self.arguments!r}, index={self.index})"

    @property
    def arguments(self) -> str:
        """The argument text so far (joined on demand: read it when the call has ended)."""
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    @property
    def parsed(self) -> dict[str, Any] | None:
        """The arguments as a JSON object (no text counts as ``{}``, as the codecs read
        it); None when they are not one: invalid or unfinished JSON, or another value."""
        if self.ended and self._parsed is not _UNPARSED:
            return self._parsed
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError:
            value = None
        parsed = value if isinstance(value, dict) else None
        if self.ended:
            self._parsed = parsed
        return parsed

    def with_arguments(self, arguments: str) -> ToolCall:
        """The same call (id, name) with other arguments, e.g. redacted ones."""
        return ToolCall(self.id, self.name, arguments)

    def _add(self, piece: str) -> None:
        self._pieces.append(piece)


class ToolCallAssembler:
    """Follows tool calls by ``index`` as their events go by; `feed` hands back each one
    whole when its ToolCallEnd arrives. With ``keep_events`` each call keeps the events
    that carried it, so that a stage can hold them and release them later."""

    __slots__ = ("_keep", "open")

    def __init__(self, *, keep_events: bool = False) -> None:
        self._keep = keep_events
        self.open: dict[int, ToolCall] = {}  # calls started and not ended, by index

    def feed(self, event: Event) -> ToolCall | None:
        """Fold in one event: the whole call when `event` ends one, else None."""
        if isinstance(event, ToolCallDelta):
            call = self.open.get(event.index)
            if call is not None:
                call._add(event.arguments)
                if self._keep:
                    call.events.append(event)
        elif isinstance(event, ToolCallStart):
            call = self.open[event.index] = ToolCall(event.id, event.name, index=event.index)
            if self._keep:
                call.events.append(event)
        elif isinstance(event, ToolCallEnd):
            ended = self.open.pop(event.index, None)
            if ended is not None:
                ended.ended = True
                if self._keep:
                    ended.events.append(event)
            return ended
        return None

    def end_all(self) -> list[ToolCall]:
        """End the open calls, in index order (the response finished without ending them)."""
        calls = [self.open[index] for index in sorted(self.open)]
        self.open.clear()
        for call in calls:
            call.ended = True
            if self._keep:
                call.events.append(ToolCallEnd(index=call.index))
        return calls


def call_events(call: ToolCall, index: int) -> list[Event]:
    """The events that show `call` whole as tool call number `index`."""
    if call.events and call.ended:
        if call.index == index:
            return call.events
        return [
            event.model_copy(update={"index": index})
            for event in call.events
            if not isinstance(event, Relayed | Bundle)  # no stage ever sees these
        ]
    events: list[Event] = [ToolCallStart(index=index, id=call.id, name=call.name)]
    if call.arguments:
        events.append(ToolCallDelta(index=index, arguments=call.arguments))
    events.append(ToolCallEnd(index=index))
    return events


# --- held-back text ------------------------------------------------------------------------


class HoldBack:
    """Text held back while its end could still be the start of a match; give one of:

    - ``tail=n``: always hold the last n characters. A match of up to n + 1 characters
      that later text completes was never partly released; one the pushed text completes
      may straddle what `push` returns and what it holds, so look for those in
      ``held + text`` before pushing.
    - ``prefixes=words``: hold the longest end that is the start of a word (``<thi`` of
      ``<think>``). Every whole word then comes out inside one piece, cut between the
      matches that ``pattern`` (the words, longest first) finds, so a stage can redact or
      split each piece on its own; at most ``len(longest word) - 1`` characters are held.
    - ``hold=fn``: ``fn(pending)`` says how many trailing characters of the pending text
      (what is held plus the new text) to keep holding. Keep it bounded.

    Each push looks only at what is held and the new text, never at the text so far.
    """

    __slots__ = ("_first", "_held", "_hold", "_longest", "_proper", "_tail", "pattern")

    def __init__(
        self,
        *,
        tail: int | None = None,
        prefixes: Iterable[str] | None = None,
        hold: Callable[[str], int] | None = None,
    ) -> None:
        if sum(given is not None for given in (tail, prefixes, hold)) != 1:
            raise ValueError("HoldBack takes exactly one of tail, prefixes or hold")
        if isinstance(prefixes, str):
            raise TypeError("prefixes is a list of words, not one string")
        if tail is not None and tail < 0:
            raise ValueError(f"tail must be 0 or more, not {tail}")
        self._held = ""
        self._tail = tail
        self._hold = hold
        self.pattern: re.Pattern[str] | None = None
        self._proper: frozenset[str] = frozenset()
        self._first: frozenset[str] = frozenset()
        self._longest = 0
        if prefixes is not None:
            words = sorted(set(prefixes), key=len, reverse=True)
            if not words or "" in words:
                raise ValueError("prefixes must be one or more non-empty words")
            self.pattern = re.compile("|".join(map(re.escape, words)))
            self._proper = frozenset(w[:i] for w in words for i in range(1, len(w)))
            self._first = frozenset(w[0] for w in words)
            self._longest = len(words[0])

    @property
    def held(self) -> str:
        """The text held back now."""
        return self._held

    def push(self, text: str) -> str:
        """Add `text`; what is safe to release now (possibly nothing)."""
        pending = self._held + text if self._held else text
        if self._tail is not None:
            keep = min(self._tail, len(pending))
        elif self._hold is not None:
            keep = max(0, min(self._hold(pending), len(pending)))
        else:
            keep = self._prefix_keep(pending)
        if not keep:
            self._held = ""
            return pending
        cut = len(pending) - keep
        self._held = pending[cut:]
        return pending[:cut]

    def flush(self) -> str:
        """Release everything held (at the end of the text)."""
        rest, self._held = self._held, ""
        return rest

    def _prefix_keep(self, pending: str) -> int:
        """How much of the end of `pending` could still start a word: the first position,
        among the last ``longest - 1``, where a word could start and that is not inside a
        whole word the scan found (the scan would never start a match there)."""
        end = len(pending)
        i = max(0, end - self._longest + 1)
        whole: list[tuple[int, int]] | None = None
        while i < end:
            if pending[i] in self._first and pending[i:] in self._proper:
                if whole is None:
                    assert self.pattern is not None
                    whole = [m.span() for m in self.pattern.finditer(pending)]
                inside = next((stop for start, stop in whole if start < i < stop), None)
                if inside is None:
                    return end - i
                i = inside
                continue
            i += 1
        return 0


# --- cutting -------------------------------------------------------------------------------


class StreamCutter:
    """A response's events for a stage, each tool call held until it is whole, and a
    `cut` that ends the stream validly at any point.

    Iterating yields the events, except tool-call events: each call comes as one
    :class:`ToolCall` once it has ended (a Finish ends the open ones), and the stage
    yields ``release(call)`` to show it, or something else (an explanation as text) to
    replace it. `events()` releases every call as it comes, for stages that judge only
    the rest. Released calls are numbered in the order they are released, so that a
    dropped call leaves no gap. The Finish handed out says ``tool_calls`` exactly when
    calls were released (a ``stop`` or ``tool_calls`` one; other reasons are kept), so
    release calls before reading on to it.
    """

    __slots__ = ("_calls", "_cut", "_finish", "_next", "_ready", "_started", "_upstream", "usage")

    def __init__(self, events: AsyncIterable[Event]) -> None:
        self._upstream = aiter(events)
        self._calls = ToolCallAssembler(keep_events=True)
        self._ready: list[ToolCall] = []  # calls a Finish ended, handed out before it
        self._finish: Finish | None = None  # that Finish
        self._next = 0  # the index of the next released call
        self._started = False
        self._cut = False
        self.usage: Usage | None = None  # the last usage seen

    def __aiter__(self) -> StreamCutter:
        return self

    async def __anext__(self) -> Event | ToolCall:
        if self._finish is not None:
            if self._ready:
                return self._ready.pop(0)
            finish, self._finish = self._finish, None
            return self._settled(finish)
        while not self._cut:
            event = await anext(self._upstream)
            if isinstance(event, _CONTENT):
                return event
            if isinstance(event, _CALL_EVENTS):
                call = self._calls.feed(event)
                if call is not None:
                    return call
                continue
            if isinstance(event, Finish):
                self._ready = self._calls.end_all()
                if self._ready:
                    self._finish = event
                    return self._ready.pop(0)
                return self._settled(event)
            if isinstance(event, Usage):
                self.usage = event
            elif isinstance(event, ResponseStart):
                self._started = True
            elif isinstance(event, ErrorEvent):
                self._calls.open.clear()  # never shown: the error ends the response
            return event
        raise StopAsyncIteration

    @property
    def held(self) -> list[ToolCall]:
        """The tool calls started and not yet ended, in index order."""
        return [self._calls.open[index] for index in sorted(self._calls.open)]

    @property
    def is_cut(self) -> bool:
        """Whether `cut` was called."""
        return self._cut

    def events(self) -> AsyncIterator[Event]:
        """The events, every tool call released whole as it ends."""
        return _Released(self)

    def release(self, call: ToolCall) -> list[Event]:
        """The events that show a whole `call` (held, or a stage's own) to the client."""
        if not call.ended:
            raise ValueError(f"tool call {call.id!r} has not ended: only whole calls show")
        if self._cut:
            return []
        index, self._next = self._next, self._next + 1
        return call_events(call, index)

    def cut(self, reason: CutReason, *, notice: str | None = None) -> list[Event]:
        """The events that end the stream now, to yield instead of anything else still to
        come; the stage then returns. Held tool calls are dropped; the client gets the
        `notice` as text, the usage seen so far and a Finish for `reason` (``tool_calls``
        for a ``stop`` after released calls, so that clients answer them). Text the stage
        holds itself (in a :class:`HoldBack`) it yields first, or drops."""
        if self._cut:
            return []
        self._cut = True
        self._calls.open.clear()
        self._ready.clear()
        self._finish = None
        out: list[Event] = []
        if not self._started:
            out.append(ResponseStart(id="", model=""))
        if notice:
            out.append(TextDelta(text=notice))
        if self.usage is not None:
            out.append(self.usage)
        out.append(Finish(reason="tool_calls" if reason == "stop" and self._next else reason))
        return out

    def _settled(self, finish: Finish) -> Finish:
        """`finish`, saying `tool_calls` exactly when calls were released."""
        if finish.reason == "tool_calls" and not self._next:
            return Finish(reason="stop")
        if finish.reason == "stop" and self._next:
            return Finish(reason="tool_calls")
        return finish


class _Released:
    """A cutter's events with every tool call released as it ends."""

    __slots__ = ("_cutter", "_queue")

    def __init__(self, cutter: StreamCutter) -> None:
        self._cutter = cutter
        self._queue: list[Event] = []  # a released call's events still to give, reversed

    def __aiter__(self) -> _Released:
        return self

    async def __anext__(self) -> Event:
        while not self._queue:
            item = await anext(self._cutter)
            if not isinstance(item, ToolCall):
                return item
            self._queue = self._cutter.release(item)[::-1]
        return self._queue.pop()


__all__ = [
    "CutReason",
    "HoldBack",
    "StreamCutter",
    "ToolCall",
    "ToolCallAssembler",
    "call_events",
]
