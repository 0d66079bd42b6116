"""The two detectors of `loop_detection`: a reply repeating one passage over and over, and
an agent making the same tool call (or alternating two) turn after turn.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# Windows start where a word starts: a word character after anything else.
_WORD_START = re.compile(r"(?<!\w)\w")
# A line that opens or closes a fence: up to 12 blanks (fences nest in lists), ``` or ~~~.
_FENCE_LINE = re.compile(r"(?<=\n)[ \t]{0,12}(`{3}|~{3})")
# The longest `_FENCE_LINE` match: once this much of a line is in, it is told apart.
_FENCE_REACH = 15
_OPEN = 1 << 62  # the end of a fence not closed yet
_NEVER = (-_OPEN, 0, 0)  # a window not seen within the spacing


@dataclass(frozen=True, slots=True)
class ContentLoop:
    """A passage the reply keeps repeating: one period of it (the text from one repetition
    to the next), how many times it occurred, and the offset in the text fed so far where
    the first of those repetitions began."""

    passage: str
    repeats: int
    start: int


class ContentLoopDetector:
    """Notices a streamed reply repeating one passage, from deltas split anywhere.

    A window is the `chunk_size` characters from an anchor: each word start and, in a
    stretch without one, every `chunk_size` characters after the last anchor. A loop is one
    window's text occurring `repeats` times, each within `max_spacing` characters of the one
    before: a passage of period up to `max_spacing`, said again and again. Anchors depend
    only on the text around them, so every repetition of a passage has the same ones; fixed
    chunk boundaries would line a period p up only every lcm(p, chunk_size) characters, and
    a window at every position costs a Python step per character. The window's text is its
    own dict key: Python hashes it in C and compares the text on a match, so a hash
    collision never makes a loop.

    Windows holding only whitespace, or overlapping a fenced code block (from a line
    starting with ``` or ~~~ after up to 12 blanks, to the line closing it with the same
    marker), never count; no loop is reported from a window ending before `min_text`
    characters. A window is looked at once the text tells whether a fence starts in it,
    `chunk_size + 15` characters after it starts, so where the deltas were split never
    changes the result. However long the stream, it holds about `max_spacing + chunk_size`
    characters of text and at most `2 * (max_spacing + 1)` windows.
    """

    __slots__ = (
        "_anchor_from",
        "_base",
        "_chunk",
        "_code",
        "_done",
        "_fence",
        "_fence_from",
        "_last_anchor",
        "_min_text",
        "_most",
        "_repeats",
        "_seen",
        "_spacing",
        "_text",
    )

    def __init__(
        self,
        *,
        chunk_size: int = 50,
        repeats: int = 8,
        max_spacing: int = 500,
        min_text: int = 1000,
    ) -> None:
        if chunk_size < 1 or max_spacing < 1:
            raise ValueError("chunk_size and max_spacing must be 1 or more")
        if repeats < 2:
            raise ValueError(f"repeats must be 2 or more, not {repeats}")
        self._chunk = chunk_size
        self._repeats = repeats
        self._spacing = max_spacing
        self._min_text = min_text
        # A line start before the first character, so a fence may open the reply.
        self._text = "\n"
        self._base = -1  # the offset of `_text[0]` in the text fed
        self._fence_from = 0  # the first line start not yet told apart
        self._anchor_from = 0  # the first offset not yet looked at for anchors
        self._last_anchor = 0
        self._fence: str | None = None  # the marker character of the open fence
        self._code: deque[list[int]] = deque()  # [start, end) of fenced text, oldest first
        self._seen: dict[str, tuple[int, int, int]] = {}  # window -> last, count, first
        self._most = 2 * (max_spacing + 1)  # windows held before forgetting old ones
        self._done = False

    @property
    def tracked(self) -> int:
        """How many characters and windows are held now (bounded by the spacing)."""
        return len(self._text) + len(self._seen) + len(self._code)

    def feed(self, text: str) -> ContentLoop | None:
        """Add a delta of text; the loop found once the text repeats, else None (after one
        is found, keep returning None)."""
        if self._done or not text:
            return None
        self._text += text
        end = self._base + len(self._text)
        self._tell_fences(end - _FENCE_REACH)
        loop = self._look(end - _FENCE_REACH - self._chunk)
        if loop is not None:
            self._done = True
            self._text, self._seen, self._code = "", {}, deque()
            return loop
        keep = min(self._anchor_from - self._spacing, self._fence_from) - 1 - self._base
        if keep > 0:
            self._text = self._text[keep:]
            self._base += keep
        return None

    def _tell_fences(self, limit: int) -> None:
        """Open and close fences on the lines starting up to `limit`."""
        if limit < self._fence_from:
            return
        for match in _FENCE_LINE.finditer(self._text, self._fence_from - self._base):
            start = match.start() + self._base
            if start > limit:
                break
            marker = match[1][0]
            if self._fence is None:
                self._fence = marker
                self._code.append([start, _OPEN])
            elif marker == self._fence:
                self._fence = None
                self._code[-1][1] = match.end() + self._base
        self._fence_from = limit + 1

    def _look(self, limit: int) -> ContentLoop | None:
        """Look at the windows from anchors up to `limit`, in order; the first loop."""
        if limit < self._anchor_from:
            return None
        chunk, base = self._chunk, self._base
        for match in _WORD_START.finditer(self._text, self._anchor_from - base, limit - base + 1):
            anchor = match.start() + base
            while anchor - self._last_anchor > chunk:
                self._last_anchor += chunk
                if loop := self._window(self._last_anchor):
                    return loop
            self._last_anchor = anchor
            if loop := self._window(anchor):
                return loop
        while limit - self._last_anchor >= chunk:
            self._last_anchor += chunk
            if loop := self._window(self._last_anchor):
                return loop
        self._anchor_from = limit + 1
        return None

    def _window(self, at: int) -> ContentLoop | None:
        """Count the window at offset `at`; the loop, once it has repeated enough."""
        i = at - self._base
        window = self._text[i : i + self._chunk]
        if window.isspace() or (self._code and self._in_code(at)):
            return None
        seen = self._seen
        last, count, first = seen.get(window, _NEVER)
        if at - last > self._spacing:
            count, first = 0, at
        elif count + 1 >= self._repeats and at + self._chunk >= self._min_text:
            return _loop(self._text[last - self._base : i], count + 1, first)
        seen[window] = (at, count + 1, first)
        if len(seen) > self._most:
            # Every offset may start a window, so at most `max_spacing + 1` are recent.
            self._seen = {k: v for k, v in seen.items() if at - v[0] <= self._spacing}
        return None

    def _in_code(self, at: int) -> bool:
        """Whether the window at `at` overlaps fenced text."""
        code = self._code
        while code and code[0][1] <= at:
            code.popleft()
        return bool(code) and code[0][0] < at + self._chunk


def _loop(span: str, count: int, start: int) -> ContentLoop:
    """The loop of `count` windows `span` apart, as its shortest period: windows from
    anchors spaced by `chunk_size` (a run without word starts) are whole periods apart."""
    period = (span + span).find(span, 1)
    return ContentLoop(span[:period], (count - 1) * (len(span) // period) + 1, start)


@dataclass(frozen=True, slots=True)
class CallLoop:
    """A tool call the conversation keeps making: its name, canonical arguments, and how
    many times it was made at the end of the conversation (in a row, or in the cycle)."""

    name: str
    arguments: str
    repeats: int


def call_key(name: str, arguments: str) -> str:
    """A normalised identity of a tool call, `name(arguments)`: the arguments as canonical
    JSON (keys sorted, no whitespace), or with surrounding whitespace stripped when they are
    not JSON; empty arguments are `{}`, as some providers send nothing for no arguments."""
    return f"{name}({_canonical(arguments)})"


def _canonical(arguments: str) -> str:
    text = arguments.strip()
    if not text:
        return "{}"
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
        return text
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def repeated_calls(
    calls: Sequence[tuple[str, str, str | None]], *, threshold: int = 3, same_result: bool = False
) -> CallLoop | None:
    """The loop at the end of `calls` (name, arguments, result) when the last `threshold` or
    more are the same call by `call_key` (and, with `same_result`, got the same result each
    time, None being a result like any other), or when they alternate two calls A,B,A,B,…
    with each made `threshold` times, as agents do when stuck; else None."""
    if threshold < 2:
        raise ValueError(f"threshold must be 2 or more, not {threshold}")
    newest: Iterator[tuple[str, str | None]] = (
        (call_key(name, arguments), result if same_result else None)
        for name, arguments, result in reversed(calls)
    )
    # The longest end where each call is the one two before: one call repeated, or two.
    end: list[tuple[str, str | None]] = []
    for call in newest:
        if len(end) >= 2 and call != end[-2]:
            break
        end.append(call)
    if len(end) < 2 or end[0] == end[1]:
        repeats = least = len(end)
    else:
        repeats, least = (len(end) + 1) // 2, len(end) // 2
    if least < threshold:
        return None
    name, arguments, _ = calls[-1]
    return CallLoop(name, _canonical(arguments), repeats)
