"""xml_tools: XML tool calls read from a streamed reply, and written back, as tables."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from typing import Any

import pytest

from stages.xml_tools import Piece, XmlCall, XmlCallParser, to_xml, tool_names_in

TOOLS = ["read_file", "write_to_file", "execute_command", "attempt_completion", "apply_diff"]


def call(name: str, style: str = "tool_tag", **arguments: str) -> tuple[str, dict[str, str], str]:
    return (name, arguments, style)


def merged(pieces: Iterable[Piece]) -> list[Piece]:
    """The pieces with adjacent text joined (how text is cut depends on the deltas)."""
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str) and out and isinstance(out[-1], str):
            out[-1] += piece
        elif piece != "":
            out.append(piece)
    return out


def parsed(chunks: Iterable[str], **options: Any) -> list[Piece]:
    parser = XmlCallParser(TOOLS, **options)
    return merged([piece for chunk in chunks for piece in parser.push(chunk)] + parser.flush())


def unfinished(name: str, style: str = "tool_tag", **arguments: str) -> tuple[Any, ...]:
    return (name, arguments, style, False)


def shape(pieces: Iterable[Piece]) -> list[Any]:
    """The pieces as text and (name, arguments, style), with False after a call not complete."""
    return [
        p
        if isinstance(p, str)
        else (p.name, p.arguments, p.style) + (() if p.complete else (False,))
        for p in pieces
    ]


def prefixed(text: str, prefix: str) -> str:
    """`text` with its function_calls, invoke and parameter tags carrying `prefix`."""
    return re.sub(r"<(/?)(function_calls|invoke|parameter)\b", rf"<\1{prefix}\2", text)


def random_chunks(text: str, seed: int) -> list[str]:
    rng, chunks, at = random.Random(seed), [], 0
    while at < len(text):
        size = rng.randint(1, 9)
        chunks.append(text[at : at + size])
        at += size
    return chunks


HTML = """<!doctype html>
<html>
  <body>
    <div class="a">1 < 2 && 3 > 2</div>
    <path>not a parameter</path> </write_to_file>
  </body>
</html>"""

INVOKE_LS = """<function_calls>
<invoke name="Bash">
<parameter name="command">ls -la</parameter>
</invoke>
</function_calls>"""

INVOKE_TWO = """<function_calls>
<invoke name='Read'>
<parameter name="file_path">/a.py</parameter>
<parameter name="limit">10</parameter>
</invoke>
<invoke name="Bash">
<parameter name="command">echo &quot;hi&quot; &gt; out.txt</parameter>
</invoke>
</function_calls>"""

CASES = [
    pytest.param(
        "I'll read the file.\n<read_file>\n<path>src/main.py</path>\n</read_file>\nThen more.",
        ["I'll read the file.\n", call("read_file", path="src/main.py"), "\nThen more."],
        id="tool-tag",
    ),
    pytest.param(
        f"Listing.\n{INVOKE_LS}\n",
        ["Listing.\n", call("Bash", "invoke", command="ls -la"), "\n"],
        id="invoke",
    ),
    pytest.param(
        f"Listing.\n{prefixed(INVOKE_LS, 'antml:')}",
        ["Listing.\n", call("Bash", "invoke", command="ls -la")],
        id="invoke-antml-prefix",
    ),
    pytest.param(
        INVOKE_TWO,
        [
            call("Read", "invoke", file_path="/a.py", limit="10"),
            call("Bash", "invoke", command='echo "hi" > out.txt'),
        ],
        id="invoke-two-calls-one-block",
    ),
    pytest.param(
        "<read_file>\n<path>a.py</path>\n</read_file>\nNow the tests:\n"
        "<execute_command>\n<command>pytest -q</command>\n"
        "<requires_approval>false</requires_approval>\n</execute_command>",
        [
            call("read_file", path="a.py"),
            "\nNow the tests:\n",
            call("execute_command", command="pytest -q", requires_approval="false"),
        ],
        id="several-calls",
    ),
    pytest.param(
        "<read_file><path>a</path></read_file><read_file><path>b</path></read_file>",
        [call("read_file", path="a"), call("read_file", path="b")],
        id="call-right-after-call",
    ),
    pytest.param(
        "Steps:\n  \t<read_file>\n  <path>a</path>\n  </read_file>",
        ["Steps:\n  \t", call("read_file", path="a")],
        id="indented-call",
    ),
    pytest.param(
        f"<write_to_file>\n<path>index.html</path>\n<content>\n{HTML}\n</content>\n"
        "</write_to_file>",
        [call("write_to_file", path="index.html", content=HTML)],
        id="write-to-file-html-content",
    ),
    pytest.param(
        "<apply_diff>\n<path>a.py</path>\n<diff>\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n"
        ">>>>>>> REPLACE\n</diff>\n</apply_diff>",
        [
            call(
                "apply_diff",
                path="a.py",
                diff="<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE",
            )
        ],
        id="apply-diff-markers",
    ),
    pytest.param(
        "<execute_command>\n<command>echo &lt;b&gt; &amp;&amp; cat &quot;a&apos; &#65;&#x42;"
        " &copy; &amp &#0;</command>\n</execute_command>",
        [call("execute_command", command="echo <b> && cat \"a' AB &copy; &amp &#0;")],
        id="entities-unescaped",
    ),
    pytest.param(
        "<write_to_file>\n<content>\n\nx\n\n</content>\n<path></path>\n</write_to_file>",
        [call("write_to_file", content="\nx\n", path="")],
        id="one-newline-trimmed-empty-parameter",
    ),
    pytest.param(
        "<read_filex>\n<path>a</path>\n</read_filex>\n",
        ["<read_filex>\n<path>a</path>\n</read_filex>\n"],
        id="unknown-tag-name",
    ),
    pytest.param(
        "<browser_action>\n<action>launch</action>\n</browser_action>",
        ["<browser_action>\n<action>launch</action>\n</browser_action>"],
        id="tool-not-given-to-parser",
    ),
    pytest.param(
        "Here is the page:\n<div>\n<p>hi</p>\n</div>\n<b>x</b> <br>\n< not a tag\n<<\n",
        ["Here is the page:\n<div>\n<p>hi</p>\n</div>\n<b>x</b> <br>\n< not a tag\n<<\n"],
        id="html-in-answer",
    ),
    pytest.param(
        "Use the `<read_file>` tool, then\n`<read_file>\n<path>a</path>\n</read_file>`",
        ["Use the `<read_file>` tool, then\n`<read_file>\n<path>a</path>\n</read_file>`"],
        id="inline-mention-in-backticks",
    ),
    pytest.param(
        "Then I call <read_file><path>a</path></read_file> again.",
        ["Then I call <read_file><path>a</path></read_file> again."],
        id="inline-mention-mid-line",
    ),
    pytest.param(
        "Format:\n```xml\n<read_file>\n<path>a</path>\n</read_file>\n```\n"
        "<read_file>\n<path>b</path>\n</read_file>",
        [
            "Format:\n```xml\n<read_file>\n<path>a</path>\n</read_file>\n```\n",
            call("read_file", path="b"),
        ],
        id="fenced-code-not-parsed",
    ),
    pytest.param(
        "~~~~\n```\n<read_file>\n<path>a</path>\n</read_file>\n~~~~  \n"
        "<read_file><path>b</path></read_file>",
        [
            "~~~~\n```\n<read_file>\n<path>a</path>\n</read_file>\n~~~~  \n",
            call("read_file", path="b"),
        ],
        id="fence-closes-only-on-its-own-kind",
    ),
    pytest.param(
        "```\n<read_file><path>a</path></read_file>\n```python\n<read_file></read_file>\n",
        ["```\n<read_file><path>a</path></read_file>\n```python\n<read_file></read_file>\n"],
        id="fence-with-info-string-does-not-close",
    ),
    pytest.param(
        "<read_file> is the tool for that.\n<read_file>\n<path>a</path>\n</read_file>",
        ["<read_file> is the tool for that.\n", call("read_file", path="a")],
        id="prose-after-opening-tag",
    ),
    pytest.param(
        "<read_file>\n<path>a</path>\nand then\n</read_file>",
        ["<read_file>\n<path>a</path>\nand then\n</read_file>"],
        id="text-between-parameters",
    ),
    pytest.param(
        "<read_file>\n</path>\n</read_file>",
        ["<read_file>\n</path>\n</read_file>"],
        id="stray-closing-tag",
    ),
    pytest.param(
        "Deleting.\n<execute_command>\n<command>rm -rf build",
        ["Deleting.\n<execute_command>\n<command>rm -rf build"],
        id="unfinished-call-at-end",
    ),
    pytest.param(
        "Deleting.\n<read_fi",
        ["Deleting.\n<read_fi"],
        id="unfinished-opening-tag-at-end",
    ),
    pytest.param(
        INVOKE_LS.removesuffix("</function_calls>"),
        [call("Bash", "invoke", command="ls -la"), "\n"],
        id="invoke-block-unclosed-at-end",
    ),
    pytest.param(
        "<function_calls>\n</function_calls>\nok",
        ["<function_calls>\n</function_calls>\nok"],
        id="empty-invoke-block",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parse(text: str, expected: list[Any]) -> None:
    assert shape(parsed([text])) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_pieces_give_back_the_text_exactly(text: str, expected: list[Any]) -> None:
    pieces = parsed([text])
    assert "".join(p if isinstance(p, str) else p.raw for p in pieces) == text


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_any_split_reads_the_same(text: str, expected: list[Any]) -> None:
    whole = parsed([text])
    assert parsed(text) == whole, "char by char"
    for seed in range(5):
        assert parsed(random_chunks(text, seed)) == whole, f"seed {seed}"
    for cut in range(len(text) + 1):
        assert parsed([text[:cut], text[cut:]]) == whole, f"cut at {cut}"


def test_raw_is_the_text_each_call_came_from() -> None:
    text = f"A.\n{INVOKE_TWO}\n<read_file><path>x</path></read_file>"
    raws = [p.raw for p in parsed([text]) if isinstance(p, XmlCall)]
    second = INVOKE_TWO.index('<invoke name="Bash">')
    assert raws == [
        INVOKE_TWO[:second],
        INVOKE_TWO[second:],
        "<read_file><path>x</path></read_file>",
    ]


@pytest.mark.parametrize(
    "deltas",
    [
        pytest.param(
            [
                ("Hi.\n<rea", ["Hi.\n"]),
                ("d_file>\n<path>a</pa", []),
                ("th>\n</read_file>\nok", [call("read_file", path="a"), "\nok"]),
            ],
            id="text-before-a-call-is-not-held",
        ),
        pytest.param(
            [("No tags at all.\n", ["No tags at all.\n"]), ("if a < b:", ["if a < b:"])],
            id="no-call-start-is-not-held",
        ),
        pytest.param(
            [("<read_file> is how\n", ["<read_file> is how\n"]), ("<div>", ["<div>"])],
            id="proven-not-a-call-is-released-on-push",
        ),
        pytest.param(
            [
                (INVOKE_TWO[:-30], [call("Read", "invoke", file_path="/a.py", limit="10")]),
                (INVOKE_TWO[-30:], [call("Bash", "invoke", command='echo "hi" > out.txt')]),
            ],
            id="invoke-released-when-the-next-begins",
        ),
    ],
)
def test_what_each_push_releases(deltas: list[tuple[str, list[Any]]]) -> None:
    parser = XmlCallParser(TOOLS)
    for delta, expected in deltas:
        assert shape(parser.push(delta)) == expected, delta
    assert parser.flush() == []


CONTENT = "x = 1\n" * 20  # 120 characters


@pytest.mark.parametrize(
    ("max_held_chars", "calls"),
    [
        pytest.param(1000, ["a", "b"], id="within-bound"),
        pytest.param(100, ["b"], id="over-bound-given-back-as-text"),
    ],
)
def test_held_text_is_bounded(max_held_chars: int, calls: list[str]) -> None:
    text = (
        f"<write_to_file>\n<path>a</path>\n<content>\n{CONTENT}</content>\n</write_to_file>\n"
        "<write_to_file><path>b</path><content>y</content></write_to_file>"
    )
    parser = XmlCallParser(TOOLS, max_held_chars=max_held_chars)
    pieces: list[Piece] = []
    for at, char in enumerate(text, 1):
        pieces += parser.push(char)
        given = sum(len(p if isinstance(p, str) else p.raw) for p in pieces)
        assert at - given <= max_held_chars, "held more than the bound"
    found = merged(pieces + parser.flush())
    assert found == parsed([text], max_held_chars=max_held_chars)
    assert [p.arguments["path"] for p in found if isinstance(p, XmlCall)] == calls


def test_default_bound_is_64_kib() -> None:
    def write(size: int) -> str:
        return f"<write_to_file>\n<content>\n{'.' * size}\n</content>\n</write_to_file>"

    small, large = write(60_000), write(70_000)
    assert isinstance(parsed(random_chunks(small, 0))[0], XmlCall)
    assert parsed(random_chunks(large, 0)) == [large]


LENIENT_CASES = [
    pytest.param(
        "Then I call <read_file><path>a</path></read_file> again.",
        ["Then I call ", call("read_file", path="a"), " again."],
        id="mid-line",
    ),
    pytest.param(
        "Run `<execute_command><command>ls</command></execute_command>` now.",
        ["Run `", call("execute_command", command="ls"), "` now."],
        id="in-backticks",
    ),
    pytest.param(
        "Format:\n```xml\n<read_file>\n<path>a</path>\n</read_file>\n```\n",
        ["Format:\n```xml\n", call("read_file", path="a"), "\n```\n"],
        id="in-fenced-block",
    ),
    pytest.param(
        "<read_file>\nI read\n<path>a</path>\nand then\n</read_file>",
        [call("read_file", path="a")],
        id="text-between-parameters-ignored",
    ),
    pytest.param(
        '<read_file>\n</path><br/><a href="x">\n<path>a</path>\n</read_file>',
        [call("read_file", path="a")],
        id="unknown-tags-ignored",
    ),
    pytest.param(
        "Use the `<read_file>` tool:\n<read_file>\n<path>a</path>\n</read_file>",
        ["Use the `", call("read_file", path="a")],
        id="tool-tag-inside-a-call-is-no-parameter",
    ),
    pytest.param(
        "<read_file><path>a</path> if 1 < 2 </read_file>.",
        [call("read_file", path="a"), "."],
        id="stray-lt-does-not-hide-the-closing-tag",
    ),
    pytest.param(
        f"<read_file>\n<{'x' * 300}\n<path>a</path></read_file>",
        [call("read_file", path="a")],
        id="unclosed-lt-past-the-tag-limit-skipped",
    ),
    pytest.param(
        "<write_to_file><path>a</path><content><div></write_to_file> x</content></write_to_file>",
        [call("write_to_file", path="a", content="<div></write_to_file> x")],
        id="parameter-text-verbatim",
    ),
    pytest.param(
        "Deleting.\n<execute_command>\n<command>rm -rf build",
        ["Deleting.\n", unfinished("execute_command", command="rm -rf build")],
        id="unfinished-at-end",
    ),
    pytest.param(
        "<write_to_file><path>a&amp;b</path> and\n<content>\nx &lt; y \n\n",
        [unfinished("write_to_file", path="a&b", content="x < y \n\n")],
        id="unfinished-open-parameter-to-the-end",
    ),
    pytest.param(
        "<read_file>\n<path>a</path>\n</read_",
        [unfinished("read_file", path="a")],
        id="unfinished-between-parameters",
    ),
    pytest.param(
        "Now <function_calls><invoke name='Bash'><parameter name='command'>ls</parameter>"
        "</invoke></function_calls> done.",
        ["Now ", call("Bash", "invoke", command="ls"), " done."],
        id="invoke-mid-line",
    ),
    pytest.param(
        '<function_calls>\nSure:\n<invoke name="Bash">\nnote <br>\n'
        '<parameter name="command">ls</parameter>\n</b>\n</invoke>\nbye\n</function_calls>',
        [call("Bash", "invoke", command="ls")],
        id="invoke-text-and-tags-ignored",
    ),
    pytest.param(
        INVOKE_TWO[: INVOKE_TWO.index("&quot;")],
        [
            call("Read", "invoke", file_path="/a.py", limit="10"),
            unfinished("Bash", "invoke", command="echo "),
        ],
        id="invoke-unfinished-at-end",
    ),
    pytest.param(
        '<function_calls>\n<invoke name="Bash">\n<parameter name="command">ls</parameter>\n',
        [unfinished("Bash", "invoke", command="ls")],
        id="invoke-unfinished-between-parameters",
    ),
    pytest.param(
        "<function_calls>\n<read_file><path>a</path></read_file>",
        ["<function_calls>\n", call("read_file", path="a")],
        id="tool-tag-ends-an-invoke-block",
    ),
    pytest.param(
        "Here <div>\n<p>hi</p>\n</div> 1 < 2 <browser_action><action>x</action>",
        ["Here <div>\n<p>hi</p>\n</div> 1 < 2 <browser_action><action>x</action>"],
        id="other-tags-stay-text",
    ),
]


# Strict cases that read the same in lenient mode.
SAME_IN_BOTH = {
    "unfinished-opening-tag-at-end",
    "invoke-block-unclosed-at-end",
    "empty-invoke-block",
}


@pytest.mark.parametrize(
    ("text", "expected"), LENIENT_CASES + [case for case in CASES if case.id in SAME_IN_BOTH]
)
def test_lenient_parse(text: str, expected: list[Any]) -> None:
    assert shape(parsed([text], lenient=True)) == expected


LENIENT_TEXTS = [pytest.param(case.values[0], id=case.id) for case in LENIENT_CASES + CASES]


@pytest.mark.parametrize("text", LENIENT_TEXTS)
def test_lenient_any_split_reads_the_same(text: str) -> None:
    whole = parsed([text], lenient=True)
    assert "".join(p if isinstance(p, str) else p.raw for p in whole) == text
    assert parsed(text, lenient=True) == whole, "char by char"
    for seed in range(5):
        assert parsed(random_chunks(text, seed), lenient=True) == whole, f"seed {seed}"
    for cut in range(len(text) + 1):
        assert parsed([text[:cut], text[cut:]], lenient=True) == whole, f"cut at {cut}"


def test_unfinished_call_is_text_in_strict_mode_and_a_call_in_lenient() -> None:
    text = "Deleting.\n<execute_command>\n<command>rm -rf build"
    assert parsed([text]) == [text]
    assert parsed([text], lenient=True) == [
        "Deleting.\n",
        XmlCall(
            "execute_command", {"command": "rm -rf build"}, "tool_tag", text[10:], complete=False
        ),
    ]
    assert XmlCall("a", {}, "invoke", "").complete


def test_lenient_what_each_push_releases() -> None:
    parser = XmlCallParser(TOOLS, lenient=True)
    deltas = [
        ("See `", ["See `"]),
        ("<read_file>` and", []),
        ("<path>a</path></read_file>` ok", [call("read_file", path="a"), "` ok"]),
        ("a < b", ["a < b"]),
        (" <exec", [" "]),
    ]
    for delta, expected in deltas:
        assert shape(parser.push(delta)) == expected, delta
    assert parser.flush() == ["<exec"]


@pytest.mark.parametrize(
    ("max_held_chars", "calls"),
    [
        pytest.param(1000, ["a", "b"], id="within-bound"),
        pytest.param(100, ["b"], id="over-bound-given-back-as-text"),
    ],
)
def test_lenient_held_text_is_bounded(max_held_chars: int, calls: list[str]) -> None:
    text = (
        f"Writing <write_to_file>\n<path>a</path> now\n<content>\n{CONTENT}</content>\n"
        "</write_to_file> then <write_to_file><path>b</path><content>y</content>"
    )
    parser = XmlCallParser(TOOLS, max_held_chars=max_held_chars, lenient=True)
    pieces: list[Piece] = []
    for at, char in enumerate(text, 1):
        pieces += parser.push(char)
        given = sum(len(p if isinstance(p, str) else p.raw) for p in pieces)
        assert at - given <= max_held_chars, "held more than the bound"
    found = merged(pieces + parser.flush())
    assert found == parsed([text], max_held_chars=max_held_chars, lenient=True)
    assert [p.arguments["path"] for p in found if isinstance(p, XmlCall)] == calls
    assert [p.complete for p in found if isinstance(p, XmlCall)][-1] is False


def test_lenient_unfinished_call_past_the_bound_is_text() -> None:
    text = f"<write_to_file>\n<content>\n{CONTENT}"
    assert parsed(random_chunks(text, 0), max_held_chars=100, lenient=True) == [text]


PROMPT = """You are Quill, a careful engineer who works in the user's editor.

====

TOOLS

You call one tool per message and wait for its result. Write a call as tags:

<tool_name>
<parameter_name>value</parameter_name>
</tool_name>

# Tools

## execute_command
Description: Run a command line in the workspace's shell.
Parameters:
- command: (required) The command line.
- requires_approval: (required) true when it changes the system.
Usage:
<execute_command>
<command>Your command</command>
<requires_approval>true or false</requires_approval>
</execute_command>

## read_file
Description: Read one file's text.
Parameters:
- path: (required) Relative to the workspace.
Usage:
<read_file>
<path>File path</path>
</read_file>

## Notes
Paths are relative. Usage: see each tool.

## list_files
Description: List a folder (no Usage block here, so not declared).

## attempt_completion
Usage:
<attempt_completion>
<result>What you did</result>
</attempt_completion>

## Example 1: Running a command
<execute_command>
<command>npm test</command>
</execute_command>

## read_file
Usage:
<read_file>
<path>again</path>
</read_file>
"""


def test_tool_names_in_a_cline_style_prompt() -> None:
    assert tool_names_in(PROMPT) == ["execute_command", "read_file", "attempt_completion"]
    assert tool_names_in("You are helpful.") == []


@pytest.mark.parametrize(
    ("name", "arguments", "style", "expected"),
    [
        pytest.param(
            "read_file",
            {"path": "a.py"},
            "tool_tag",
            "<read_file>\n<path>a.py</path>\n</read_file>",
            id="tool-tag",
        ),
        pytest.param(
            "write_to_file",
            {"content": "a\n</content>&lt;", "line": 3, "flags": {"x": [1, "é"]}},
            "tool_tag",
            "<write_to_file>\n<content>\na\n&lt;/content>&amp;lt;\n</content>\n"
            '<line>3</line>\n<flags>{"x":[1,"é"]}</flags>\n</write_to_file>',
            id="tool-tag-escapes-and-json",
        ),
        pytest.param("Bash", {"command": "ls -la"}, "invoke", INVOKE_LS, id="invoke"),
        pytest.param(
            'a"b>',
            {"p": "1 < 2 && ok"},
            "invoke",
            '<function_calls>\n<invoke name="a&quot;b&gt;">\n'
            '<parameter name="p">1 < 2 && ok</parameter>\n</invoke>\n</function_calls>',
            id="invoke-attribute-escaped",
        ),
    ],
)
def test_to_xml(name: str, arguments: dict[str, Any], style: Any, expected: str) -> None:
    assert to_xml(name, arguments, style) == expected


VALUES = [
    "",
    "plain",
    "\n",
    "\n\nlead and trail\n\n",
    "a < b && c > d",
    "&amp; &lt; &#60; &#x3c; &bogus;",
    "</content></path></parameter></write_to_file></function_calls>",
    "<![CDATA[ x ]]> ]]>",
    "line 1\nline 2\r\n\tindented",
    "<div>\n  <p>html</p>\n</div>\n",
    "```\n<read_file>\n```",
]


@pytest.mark.parametrize("style", ["tool_tag", "invoke"])
@pytest.mark.parametrize("value", VALUES, ids=[f"value-{i}" for i in range(len(VALUES))])
def test_to_xml_reads_back_the_same(value: str, style: Any) -> None:
    arguments = {"content": value, "path": value[::-1]}
    text = to_xml("write_to_file", arguments, style)
    for chunks in ([f"Writing.\n{text}\nDone."], f"Writing.\n{text}\nDone."):
        pieces = parsed(chunks)
        assert [type(p) for p in pieces] == [str, XmlCall, str]
        found = pieces[1]
        assert isinstance(found, XmlCall)
        assert (found.name, found.arguments, found.style) == ("write_to_file", arguments, style)


@pytest.mark.parametrize(
    ("make", "error"),
    [
        pytest.param(lambda: to_xml("bad name", {}), ValueError, id="to-xml-bad-tool-name"),
        pytest.param(lambda: to_xml("t", {"a b": "x"}), ValueError, id="to-xml-bad-parameter"),
        pytest.param(lambda: XmlCallParser("read_file"), TypeError, id="names-as-one-string"),
        pytest.param(lambda: XmlCallParser(["a b"]), ValueError, id="name-not-a-tag"),
        pytest.param(lambda: XmlCallParser([], max_held_chars=0), ValueError, id="no-room"),
    ],
)
def test_refuses(make: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        make()
