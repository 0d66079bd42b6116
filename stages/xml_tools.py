"""Tool calls written as XML in a reply's text, for clients without native tool calling.

Cline, Roo Code and Kilo Code have the model write a call as a tag named after the tool with
one child tag per parameter (``<read_file><path>a.py</path></read_file>``); older Anthropic
prompts use ``<function_calls><invoke name="…"><parameter name="…">…`` (all its tags may
carry one prefix, such as ``antml:``). :class:`XmlCallParser` finds both in a streamed reply,
:func:`to_xml` writes a call in the client's form, and :func:`tool_names_in` reads the tool
names a Cline-style system prompt declares.

What counts as a call, so that text that only talks about tags stays text:

- its opening tag (``<name>`` for a name the parser was given, or ``<function_calls>``)
  starts a line, after optional spaces or tabs, or directly follows another call; a tag in
  a sentence or in backticks is text, and nothing opens inside a fenced code block;
- between its tags there is only whitespace; a parameter's text runs verbatim (``<``,
  ``</div>``, even ``</read_file>``) up to that parameter's own closing tag; other text or
  another tag proves it no call, and it is released as text at once;
- it ends within ``max_held_chars`` of its start; if not, it is released as text.

In lenient mode the parser reads calls as Cline and Roo themselves do, for a proxy that must
see every call the client would run (to check it for safety, say): an opening tag opens a
call anywhere, mid-line, in backticks or in a fenced block; inside a call, text and tags
with no place there (a tool's opening tag among them) are skipped, except that a tool's
opening tag ends a ``function_calls`` block, as no call, so that its call is read; and a call
still open at the end of the text is a call too, marked not ``complete``.

Joined in order, the text pieces and the calls' ``raw`` give back exactly the text pushed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Style = Literal["tool_tag", "invoke"]

# The tools Cline, Roo Code and Kilo Code have models write as tags: their calls are found
# even when a system prompt's tool list is not in the form `tool_names_in` reads.
CLINE_TOOLS = (
    "access_mcp_resource",
    "apply_diff",
    "ask_followup_question",
    "attempt_completion",
    "browser_action",
    "codebase_search",
    "condense",
    "edit_file",
    "execute_command",
    "fetch_instructions",
    "generate_image",
    "insert_content",
    "list_code_definition_names",
    "list_files",
    "load_mcp_documentation",
    "new_rule",
    "new_task",
    "plan_mode_respond",
    "read_file",
    "replace_in_file",
    "report_bug",
    "run_slash_command",
    "search_and_replace",
    "search_files",
    "summarize_task",
    "switch_mode",
    "update_todo_list",
    "use_mcp_tool",
    "web_fetch",
    "write_to_file",
)


@dataclass(frozen=True, slots=True)
class XmlCall:
    """One call found in the text: the tool, its arguments as text, the text it was, and
    whether it was closed (in lenient mode, a call open at the end of the text is not)."""

    name: str
    arguments: dict[str, str]
    style: Style
    raw: str
    complete: bool = True


Piece = str | XmlCall

_NAME = re.compile(r"[A-Za-z_][\w.-]*")  # a tool or parameter name that can be a tag
_PREFIX = re.compile(r"[A-Za-z_][\w.-]{0,31}")  # the `antml` of `<invoke>`
_BLOCK = "function_calls>"
_BLOCK_OPEN = re.compile(r"<((?:[A-Za-z_][\w.-]{0,31}:)?)function_calls>")
_PARAMETER_OPEN = re.compile(r"<([A-Za-z_][\w.-]*)>")
_TAG_LIMIT = 256  # a tag inside a call not closed by then proves it no call (lenient: skipped)
_ENTITIES = r"lt|gt|amp|quot|apos|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}"
_ENTITY = re.compile(rf"&({_ENTITIES});")
_ENTITY_AHEAD = re.compile(rf"&(?=(?:{_ENTITIES});)")  # a `&` the parser would read as one
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_HEADING = re.compile(r"^#{1,6}[ \t]+(.*?)[ \t]*$", re.MULTILINE)
_USAGE = re.compile(r"^Usage:", re.MULTILINE)

# Where the parser is: in text, on a `<` that may open a call, in a tool-tag call, in a
# `function_calls` block between invokes, or in an invoke.
_TEXT, _OPEN, _TOOL, _BLOCK_BODY, _INVOKE = range(5)
# Where in the current line: only whitespace so far, in a run of backticks or tildes, after
# a run that closes the open fence (if only whitespace follows), or past all that.
_INDENT, _RUN, _CLOSER, _REST = range(4)


class XmlCallParser:
    """Splits a streamed reply into text and the XML tool calls in it (rules: module doc).

    Text is held back only from a `<` that could begin a call's opening tag until the call
    is complete or proven not to be one, and never more than ``max_held_chars``.
    """

    __slots__ = (
        "_args", "_fence", "_lenient", "_limit", "_mark", "_max_held", "_mode", "_name",
        "_openings", "_param", "_parts", "_pending", "_phase", "_prefix", "_run_char",
        "_run_len", "_size", "_starts", "_tail",
    )  # fmt: skip
    _mode: int
    _parts: list[str]
    _args: dict[str, str]
    _param: tuple[str, str, int] | None
    _pending: tuple[str, dict[str, str], int] | None

    def __init__(
        self, tool_names: Iterable[str], *, max_held_chars: int = 65536, lenient: bool = False
    ) -> None:
        """`tool_names`: the names recognised in the tool-tag form (the invoke form is always
        recognised). `lenient`: read calls as the Cline/Roo clients do (module doc) rather
        than by the strict rules; a call is still released as text past `max_held_chars`."""
        if isinstance(tool_names, str):
            raise TypeError("tool_names is a list of names, not one string")
        names = set(tool_names)
        if bad := sorted(name for name in names if not _NAME.fullmatch(name)):
            raise ValueError(f"tool names that cannot be tags: {bad}")
        if max_held_chars < 1:
            raise ValueError(f"max_held_chars must be 1 or more, not {max_held_chars}")
        self._openings = frozenset(f"<{name}>" for name in names)
        self._starts = frozenset(tag[:i] for tag in self._openings for i in range(1, len(tag)))
        self._limit = max([len(tag) for tag in self._openings] + [len(_BLOCK) + 34])
        self._max_held = max_held_chars
        self._lenient = lenient
        self._phase, self._run_char, self._run_len = _INDENT, "", 0
        self._fence: tuple[str, int] | None = None  # the open fence's character and length
        self._clear()

    @property
    def holding(self) -> bool:
        """Whether text is held back (a possible call not decided yet)."""
        return self._mode != _TEXT

    def push(self, text: str) -> list[Piece]:
        """Add a delta of the model's text: the plain text safe to show now and each call
        completed, in order (how text is cut into pieces depends on the deltas)."""
        if self._mode == _TEXT and "<" not in text:  # most deltas: nothing to hold
            if not self._lenient:
                self._follow(text, detect=False)
            return [text] if text else []
        out: list[Piece] = []
        while text:
            if self._mode == _TEXT:
                at = self._next_open(text)
                _add(out, text[:at])
                text = text[at:]
                self._mode = _OPEN if text else _TEXT
            elif self._mode == _OPEN:
                text = self._open(text, out)
            else:
                text = self._call(text, out)
        return out

    def flush(self) -> list[Piece]:
        """At the end of the text: everything held, as text (an unfinished call is given
        back as its raw text, or in lenient mode is a call not `complete`; invokes already
        closed in an unclosed block are calls)."""
        out: list[Piece] = []
        if self._mode != _TEXT:
            held = self._joined()
            start = self._emit_pending(held, out)
            if self._lenient and self._mode in (_TOOL, _INVOKE):
                out.append(self._unfinished(held[start:]))
            else:
                _add(out, held[start:])
        self._clear()
        self._phase, self._fence = _INDENT, None
        return out

    def _clear(self) -> None:
        """Hold nothing and be in text."""
        self._mode = _TEXT
        self._parts = []  # the held text, from the `<` of the call
        self._size = 0  # its length
        self._tail = ""  # its part from `_mark` on, still to read
        self._mark = 0
        self._name = ""  # the tool, or the invoke's name
        self._prefix = ""  # the tag prefix of a `function_calls` block, with its colon
        self._args = {}
        self._param = None  # name, closing tag, content start
        self._pending = None  # a closed invoke, its end

    def _joined(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def _unfinished(self, held: str) -> XmlCall:
        """The call still open at the end of the text, `held`, with the arguments it has (an
        open parameter's text runs to the end)."""
        arguments = dict(self._args)
        if self._param is not None:
            name, _, start = self._param
            arguments[name] = _unescape(held[start:].removeprefix("\n"))
        style: Style = "tool_tag" if self._mode == _TOOL else "invoke"
        return XmlCall(self._name, arguments, style, held, complete=False)

    def _next_open(self, text: str) -> int:
        """Where in `text` a `<` that may open a call is, else its end."""
        if not self._lenient:
            return self._follow(text, detect=True)
        at = text.find("<")
        return len(text) if at < 0 else at

    def _follow(self, text: str, *, detect: bool) -> int:
        """Follow lines and code fences through `text`: where a `<` that may open a call
        is (when `detect`), else the end."""
        at, end = 0, len(text)
        while at < end:
            phase = self._phase
            if phase == _REST:  # skip to the next line at C speed
                newline = text.find("\n", at)
                if newline < 0:
                    return end
                self._phase, at = _INDENT, newline + 1
                continue
            char = text[at]
            if phase == _RUN and char == self._run_char:
                self._run_len += 1
            elif phase == _RUN:
                self._end_run()
                continue
            elif char == "\n":
                if phase == _CLOSER:
                    self._fence = None
                self._phase = _INDENT
            elif char in "`~" and phase == _INDENT:
                self._phase, self._run_char, self._run_len = _RUN, char, 1
            elif char not in " \t":
                self._phase = _REST
                if detect and char == "<" and phase == _INDENT and self._fence is None:
                    return at
                continue
            at += 1
        return end

    def _end_run(self) -> None:
        """A run of backticks or tildes at the start of a line has ended: a fence opens, may
        close, or it was text."""
        fence, self._phase = self._fence, _REST
        if self._run_len < 3:
            return
        if fence is None:
            self._fence = (self._run_char, self._run_len)
        elif fence[0] == self._run_char and self._run_len >= fence[1]:
            self._phase = _CLOSER

    def _open(self, text: str, out: list[Piece]) -> str:
        """Read on from a `<` that starts a line (any `<` in lenient mode); the text left to
        read."""
        candidate = self._joined() + text
        close = candidate.find(">", 0, self._limit)
        tag = candidate[: close + 1]
        if close >= 0 and tag in self._openings:
            self._mode, self._name = _TOOL, tag[1:-1]
        elif close >= 0 and (block := _BLOCK_OPEN.fullmatch(tag)):
            self._mode, self._prefix = _BLOCK_BODY, block[1]
        elif close < 0 and len(candidate) < self._limit and self._could_open(candidate):
            self._parts = [candidate]
            return ""
        else:
            self._clear()
            _add(out, "<")
            return candidate[1:]
        self._parts, self._size, self._mark = [tag], len(tag), len(tag)
        return candidate[len(tag) :]

    def _could_open(self, start: str) -> bool:
        """Whether `start` (from `<`, no `>` yet) could still become an opening tag."""
        if start in self._starts:
            return True
        prefix, colon, rest = start[1:].partition(":")
        if colon:
            return bool(_PREFIX.fullmatch(prefix)) and _BLOCK.startswith(rest)
        return _BLOCK.startswith(prefix) or bool(_PREFIX.fullmatch(prefix))

    def _call(self, text: str, out: list[Piece]) -> str:
        """Read `text` into the held call; the text after the call, or from where it proved
        not to be one."""
        room = max(0, self._max_held - self._size)
        piece, rest = text[:room], text[room:]
        self._parts.append(piece)
        self._size += len(piece)
        self._tail += piece
        verdict = self._scan(out)
        if verdict is None:
            if self._size < self._max_held:
                return rest
            verdict = False, self._size  # the bound: give it all back
        ended, at = verdict
        held = self._joined()
        if not ended:
            start = self._emit_pending(held, out)
            _add(out, held[start:at])
            if not self._lenient:
                self._follow(held[start:at], detect=False)
        self._clear()
        if ended:
            self._phase = _INDENT  # another call may follow at once
        return held[at:] + rest

    def _scan(self, out: list[Piece]) -> tuple[bool, int] | None:
        """Read the held call on from `_mark`: (True, end) when it has ended (its calls are in
        `out`), (False, at) when the text at `at` proves it no call, None while undecided."""
        while True:
            tail = self._tail
            if self._param is not None:
                name, closing, start = self._param
                found = tail.find(closing)
                if found < 0:  # keep what could be the start of the closing tag
                    self._step(max(0, len(tail) - len(closing) + 1))
                    return None
                self._args[name] = _value(self._joined()[start : self._mark + found])
                self._param = None
                self._step(found + len(closing))
                continue
            lt = tail.find("<")
            gap = tail if lt < 0 else tail[:lt]
            if gap and not gap.isspace() and not self._lenient:
                return False, self._mark + len(gap) - len(gap.lstrip())
            if lt < 0:
                self._step(len(tail))
                return None
            gt = tail.find(">", lt, lt + _TAG_LIMIT)
            self._step(lt)
            if gt < 0 and len(self._tail) < _TAG_LIMIT:
                return None
            at, tag = self._mark, self._tail[: gt - lt + 1] if gt >= 0 else "<"  # unclosed: `<`
            self._step(len(tag))
            ended = self._tag(tag, at, out)
            if ended is not None:
                return (True, self._mark) if ended else (False, at)

    def _step(self, count: int) -> None:
        self._mark += count
        self._tail = self._tail[count:]

    def _tag(self, tag: str, at: int, out: list[Piece]) -> bool | None:
        """Take a tag found inside the call at `at`: True when it ends the call, False when it
        proves it no call, None to read on."""
        if self._mode == _TOOL:
            if tag == f"</{self._name}>":
                raw = self._joined()[: self._mark]
                out.append(XmlCall(self._name, self._args, "tool_tag", raw))
                return True
            opened = _PARAMETER_OPEN.fullmatch(tag)
            if opened and not (self._lenient and tag in self._openings):
                self._param = (opened[1], f"</{opened[1]}>", self._mark)
                return None
            return self._unknown(tag, at)
        invoke, parameter, invoke_close, parameter_close, block_close = _block_tags(self._prefix)
        if self._mode == _INVOKE:
            if tag == invoke_close:
                self._pending, self._mode = (self._name, self._args, self._mark), _BLOCK_BODY
                return None
            if opened := parameter.fullmatch(tag):
                self._param = (_attribute(opened), parameter_close, self._mark)
                return None
            return self._unknown(tag, at)
        if tag == block_close and self._pending is not None:
            self._emit_pending(self._joined(), out, self._mark)
            return True
        if opened := invoke.fullmatch(tag):
            if self._pending is not None:  # the previous invoke's text ends here
                held = self._joined()
                self._emit_pending(held, out, at)
                self._parts, self._size, self._mark = [held[at:]], self._size - at, self._mark - at
            self._mode, self._name, self._args = _INVOKE, _attribute(opened), {}
            return None
        return False if tag == block_close else self._unknown(tag, at)  # an empty block: no call

    def _unknown(self, tag: str, at: int) -> bool | None:
        """A tag at `at` with no place in the call: False, it proves it no call; in lenient
        mode None, it is skipped from its `<` on (it may hide a tag that has a place), but a
        tool's opening tag still ends a `function_calls` block so that its call is read."""
        if not self._lenient or (self._mode != _TOOL and tag in self._openings):
            return False
        self._mark, self._tail = at + 1, tag[1:] + self._tail
        return None

    def _emit_pending(self, held: str, out: list[Piece], end: int | None = None) -> int:
        """Add the closed invoke still held, as the text of `held` up to `end` (by default up
        to its closing tag); where that text ends (0 when none was held)."""
        if self._pending is None:
            return 0
        name, args, closed = self._pending
        end = closed if end is None else end
        out.append(XmlCall(name, args, "invoke", held[:end]))
        self._pending, self._phase = None, _INDENT
        return end


@lru_cache(maxsize=16)
def _block_tags(prefix: str) -> tuple[re.Pattern[str], re.Pattern[str], str, str, str]:
    """The tags inside a `function_calls` block whose tags carry `prefix`: the invoke and
    parameter openings, then the invoke, parameter and block closings."""
    named = r"\s+name\s*=\s*(?:\"([^\"]*)\"|'([^']*)')\s*>"
    p = re.escape(prefix)
    return (
        re.compile(rf"<{p}invoke{named}"),
        re.compile(rf"<{p}parameter{named}"),
        f"</{prefix}invoke>",
        f"</{prefix}parameter>",
        f"</{prefix}function_calls>",
    )


def _attribute(opened: re.Match[str]) -> str:
    """The `name` attribute's value in a matched invoke or parameter tag."""
    return _unescape(opened[1] if opened[1] is not None else opened[2])


def _value(content: str) -> str:
    """A parameter's text as written: one newline trimmed at each end, entities read."""
    content = content.removeprefix("\n")
    return _unescape(content.removesuffix("\n"))


def _unescape(text: str) -> str:
    return _ENTITY.sub(_entity, text) if "&" in text else text


def _entity(match: re.Match[str]) -> str:
    code = match[1]
    if code[0] != "#":
        return _NAMED[code]
    number = int(code[2:], 16) if code[1] in "xX" else int(code[1:])
    if number == 0 or number > 0x10FFFF or 0xD800 <= number <= 0xDFFF:
        return match[0]  # not a character: keep the text
    return chr(number)


def _add(out: list[Piece], text: str) -> None:
    """Append `text`, joined to the text before it."""
    if text and out and isinstance(out[-1], str):
        out[-1] += text
    elif text:
        out.append(text)


def tool_names_in(system_prompt: str) -> list[str]:
    """The tool names a Cline/Roo-style system prompt declares: headings like `## read_file`
    followed by a `Usage:` block with `<read_file>`, in order, deduplicated."""
    headings = list(_HEADING.finditer(system_prompt))
    ends = [heading.start() for heading in headings[1:]] + [len(system_prompt)]
    names: dict[str, None] = {}
    for heading, end in zip(headings, ends, strict=False):  # no headings: one end
        name, section = heading[1], system_prompt[heading.end() : end]
        usage = _USAGE.search(section)
        if _NAME.fullmatch(name) and usage and f"<{name}>" in section[usage.end() :]:
            names.setdefault(name)
    return list(names)


def is_tag_name(name: str) -> bool:
    """Whether a tool or parameter name can be written as a tag (`<name>`)."""
    return bool(_NAME.fullmatch(name))


@lru_cache(maxsize=64)
def declared_tool_names(system_prompt: str) -> tuple[str, ...]:
    """`tool_names_in`, remembered for the last prompts read (an agent sends the same system
    prompt turn after turn); () at once for a prompt with no `Usage:` block."""
    return tuple(tool_names_in(system_prompt)) if "Usage:" in system_prompt else ()


def to_xml(name: str, arguments: Mapping[str, object], style: Style = "tool_tag") -> str:
    """A call written in the client's form (non-string values as compact JSON; text escaped
    only where needed so that `XmlCallParser` reads back the same arguments)."""
    if style == "invoke":
        return invokes_xml([(name, arguments)])
    values = _texts(arguments)
    if bad := [tag for tag in (name, *values) if not _NAME.fullmatch(tag)]:
        raise ValueError(f"names that cannot be tags: {bad}")
    lines = [
        f"<{name}>",
        *(f"<{key}>{_content(value, f'</{key}>')}</{key}>" for key, value in values.items()),
        f"</{name}>",
    ]
    return "\n".join(lines)


def invokes_xml(calls: Iterable[tuple[str, Mapping[str, object]]]) -> str:
    """Calls written as one `<function_calls>` block, an `<invoke>` each (values as in
    `to_xml`)."""
    lines = ["<function_calls>"]
    for name, arguments in calls:
        lines.append(f'<invoke name="{_quoted(name)}">')
        for key, value in _texts(arguments).items():
            content = _content(value, "</parameter>")
            lines.append(f'<parameter name="{_quoted(key)}">{content}</parameter>')
        lines.append("</invoke>")
    lines.append("</function_calls>")
    return "\n".join(lines)


def _texts(arguments: Mapping[str, object]) -> dict[str, str]:
    """Argument values as parameter texts: strings as they are, others as compact JSON."""
    return {
        key: value
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        for key, value in arguments.items()
    }


def _content(value: str, closing: str) -> str:
    """`value` as a parameter's text: only `&` that would read as an entity and the
    parameter's own closing tag are escaped; text with newlines goes on lines of its own."""
    text = _ENTITY_AHEAD.sub("&amp;", value).replace(closing, "&lt;" + closing[1:])
    return f"\n{text}\n" if "\n" in text else text


def _quoted(value: str) -> str:
    """`value` inside a double-quoted attribute."""
    return _ENTITY_AHEAD.sub("&amp;", value).replace('"', "&quot;").replace(">", "&gt;")


__all__ = [
    "CLINE_TOOLS",
    "Piece",
    "XmlCall",
    "XmlCallParser",
    "declared_tool_names",
    "invokes_xml",
    "is_tag_name",
    "to_xml",
    "tool_names_in",
]
