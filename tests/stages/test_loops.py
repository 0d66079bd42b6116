"""loops: content loops in a streamed reply and tool-call loops across turns, as tables."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import pytest

from stages.loops import CallLoop, ContentLoop, ContentLoopDetector, call_key, repeated_calls

SENTENCE = "The model keeps saying this very same sentence, once more. "
PARAGRAPH = (
    "We first check the configuration file, then we reload the routes, and after that we "
    "verify that every backend answers. If one of them does not, we log the problem with "
    "its name and retry in a few seconds; should it fail again, we mark it as down and send "
    "its traffic to the next backend in the list. "
)
CJK = "我们再试一次，好吗？"  # noqa: RUF001 (Chinese punctuation)
CODE = "```python\nfor item in items:\n    print(item)  # the same line again\n```\n"


def prose(length: int, seed: int = 0) -> str:
    """`length` characters of words that do not repeat, ending a line."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: list[str] = []
    size = 0
    while size < length:
        words.append("".join(rng.choices(letters, k=rng.randint(2, 9))))
        size += len(words[-1]) + 1
    return " ".join(words)[: length - 1] + "\n"


def numbered_list(items: int) -> str:
    return "".join(f"{i}. item number {i}, {prose(20, i).strip()}\n" for i in range(1, items + 1))


def table(rows: int) -> str:
    head = "| id | name | value | note |\n|----|------|-------|------|\n"
    return head + "".join(
        f"| {i} | name{i} | {i * 7} | {prose(12, i).strip()} |\n" for i in range(rows)
    )


def first_loop(
    pieces: Iterable[str], detector: ContentLoopDetector | None = None
) -> ContentLoop | None:
    detector = detector or ContentLoopDetector()
    for piece in pieces:
        if loop := detector.feed(piece):
            return loop
    return None


def random_pieces(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    pieces: list[str] = []
    i = 0
    while i < len(text):
        step = rng.randint(1, 60)
        pieces.append(text[i : i + step])
        i += step
    return pieces


@pytest.mark.parametrize(
    ("text", "period", "start"),
    [
        pytest.param(SENTENCE * 20, SENTENCE, None, id="sentence-20-times"),
        pytest.param(PARAGRAPH * 10, PARAGRAPH, 0, id="paragraph-300-chars"),
        pytest.param(prose(2000) + SENTENCE * 12, SENTENCE, 2000, id="after-2000-chars"),
        pytest.param(prose(1200) + "ha" * 1000, "ha", 1200, id="run-without-word-starts"),
        pytest.param(prose(1000) + CJK * 100, CJK, 1000, id="cjk-without-spaces"),
        pytest.param(
            prose(1000) + CODE * 5 + SENTENCE * 12, SENTENCE, 1000 + len(CODE) * 5, id="after-fence"
        ),
        pytest.param(prose(1000) + "```\n" + SENTENCE * 30, None, None, id="inside-open-fence"),
        pytest.param("```\n" + SENTENCE * 30, None, None, id="fence-opens-the-reply"),
        pytest.param(numbered_list(300), None, None, id="numbered-list"),
        pytest.param(table(300), None, None, id="table"),
        pytest.param(prose(1000) + CODE * 30, None, None, id="code-block-30-times"),
        pytest.param(
            prose(1000) + "```\n" + "x = compute(x)  # again\n" * 200 + "```\n",
            None,
            None,
            id="repeated-line-in-one-fence",
        ),
        pytest.param(
            prose(1000) + "~~~\n" + SENTENCE * 30 + "\n```\n" + SENTENCE * 30 + "\n~~~\n",
            None,
            None,
            id="tilde-fence-holds-backticks",
        ),
        pytest.param(
            prose(1000) + ("- step:\n    ```sh\n    make test\n    make lint\n    ```\n") * 40,
            None,
            None,
            id="indented-fences",
        ),
        pytest.param(SENTENCE * 16, None, None, id="shorter-than-min-text"),
        pytest.param(
            "".join(SENTENCE + prose(600, i) for i in range(20)), None, None, id="beyond-spacing"
        ),
        pytest.param(
            prose(1000) + (" " * 300 + "\n\n\t\n") * 30 + prose(500, 1), None, None, id="whitespace"
        ),
    ],
)
def test_content_loop(text: str, period: str | None, start: int | None) -> None:
    whole = first_loop([text])
    assert first_loop(text) == whole, "fed char by char"
    for seed in range(3):
        assert first_loop(random_pieces(text, seed)) == whole, f"random pieces, seed {seed}"
    if period is None:
        assert whole is None
        return
    assert whole is not None
    assert whole.repeats >= 8
    assert len(whole.passage) == len(period) and whole.passage in period * 2, "a rotation"
    if start is not None:
        assert (whole.start, whole.passage) == (start, period)
    else:
        assert whole.start < len(period)


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param([prose(1000), "`", "``python\n", *[SENTENCE] * 30], id="backticks-1-2"),
        pytest.param([prose(1000), "``", "`\n", *[SENTENCE] * 30], id="backticks-2-1"),
        pytest.param([prose(1000), "~", "~", "~", "\n", *[SENTENCE] * 30], id="tildes-1-1-1"),
        pytest.param([prose(999), " ", "  `", "``", "\n", *[SENTENCE] * 30], id="indented"),
    ],
)
def test_fence_split_across_deltas(pieces: list[str]) -> None:
    assert first_loop(pieces) is None


def test_found_once() -> None:
    detector = ContentLoopDetector()
    assert first_loop([SENTENCE * 30], detector) is not None
    assert [detector.feed(piece) for piece in [SENTENCE] * 30 + [PARAGRAPH] * 10] == [None] * 40


def test_options() -> None:
    detector = ContentLoopDetector(chunk_size=20, repeats=3, max_spacing=100, min_text=0)
    loop = first_loop(["Say it again please. " * 4], detector)
    assert loop == ContentLoop("Say it again please. ", 3, 0)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"chunk_size": 0}, id="chunk_size"),
        pytest.param({"repeats": 1}, id="repeats"),
        pytest.param({"max_spacing": 0}, id="max_spacing"),
    ],
)
def test_bad_options(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ContentLoopDetector(**options)


# Held at most: text for the spacing, a window, the fence reach and a delta (plus the line
# start before it), and the windows of 2 * (max_spacing + 1) offsets.
MOST_HELD = (500 + 50 + 15 + 1) + 2 * (500 + 1)


def test_memory_stays_bounded() -> None:
    detector = ContentLoopDetector()
    text = prose(5_000_000, seed=7)
    most = 0
    for i in range(0, len(text), 40):
        assert detector.feed(text[i : i + 40]) is None
        most = max(most, detector.tracked)
    assert most <= MOST_HELD + 40


def test_memory_stays_bounded_in_fences() -> None:
    detector = ContentLoopDetector()
    most = 0
    for i in range(20_000):
        delta = f"```\ncode {i}\n```\n{prose(30, i)}"
        assert detector.feed(delta) is None
        most = max(most, detector.tracked)
    assert most <= MOST_HELD + len(delta) + 3  # and the fences


CALLS = {
    "read": ("read", '{"path": "a.txt", "lines": 10}'),
    "read_b": ("read", '{"path": "b.txt"}'),
    "grep": ("grep", '{"pattern": "TODO"}'),
}


def calls(
    *names: str, results: Iterable[str | None] | None = None
) -> list[tuple[str, str, str | None]]:
    """The `CALLS` named, with their results (None if not given)."""
    given = list(results) if results is not None else [None] * len(names)
    return [(*CALLS[name], result) for name, result in zip(names, given, strict=True)]


def read_loop(repeats: int) -> CallLoop:
    return CallLoop("read", '{"lines":10,"path":"a.txt"}', repeats)


@pytest.mark.parametrize(
    ("history", "options", "expected"),
    [
        pytest.param(calls("read", "read", "read"), {}, read_loop(3), id="same-call-3-times"),
        pytest.param(
            calls("grep", "read", "read", "read", "read"), {}, read_loop(4), id="4-at-end"
        ),
        pytest.param(calls("read", "read"), {}, None, id="twice"),
        pytest.param(calls("read", "read", "read", "grep"), {}, None, id="loop-then-other"),
        pytest.param(calls("read", "read_b", "read"), {}, None, id="same-name-other-arguments"),
        pytest.param(calls("read", "read"), {"threshold": 2}, read_loop(2), id="threshold-2"),
        pytest.param(calls("read", "read", "read"), {"threshold": 4}, None, id="threshold-4"),
        pytest.param([], {}, None, id="empty"),
        pytest.param(calls("read"), {}, None, id="one-call"),
        pytest.param(
            calls("grep", "read", "grep", "read", "grep", "read"), {}, read_loop(3), id="a-b-cycle"
        ),
        pytest.param(
            calls("read", "grep", "read", "grep", "read"), {}, None, id="a-b-cycle-b-only-twice"
        ),
        pytest.param(
            calls("read", "grep", "read", "grep", "read", "grep", "read"),
            {},
            read_loop(4),
            id="a-b-cycle-odd",
        ),
        pytest.param(
            calls("grep", "read", "read_b", "read", "grep", "read"), {}, None, id="not-a-cycle"
        ),
        pytest.param(
            calls("read", "read", "read", results=["1", "1", "1"]),
            {"same_result": True},
            read_loop(3),
            id="same-result",
        ),
        pytest.param(
            calls("read", "read", "read", results=["1", "2", "3"]),
            {"same_result": True},
            None,
            id="same-result-differing",
        ),
        pytest.param(
            calls("read", "read", "read", results=["1", "2", "3"]),
            {},
            read_loop(3),
            id="results-ignored",
        ),
        pytest.param(
            calls("read", "grep", "read", "grep", "read", "grep", results="ababab"),
            {"same_result": True},
            CallLoop("grep", '{"pattern":"TODO"}', 3),
            id="cycle-same-results",
        ),
        pytest.param(
            calls("read", "grep", "read", "grep", "read", "grep", results="abcbab"),
            {"same_result": True},
            None,
            id="cycle-differing-results",
        ),
        pytest.param(
            [("run", "ls -la ", None), ("run", " ls -la", None), ("run", "ls -la", None)],
            {},
            CallLoop("run", "ls -la", 3),
            id="not-json",
        ),
    ],
)
def test_repeated_calls(
    history: list[tuple[str, str, str | None]], options: dict[str, Any], expected: CallLoop | None
) -> None:
    assert repeated_calls(history, **options) == expected


def test_threshold_below_two() -> None:
    with pytest.raises(ValueError):
        repeated_calls(calls("read"), threshold=1)


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        pytest.param(
            ("read", '{"a": 1, "b": [1, 2]}'), ("read", '{"b":[1,2],"a":1}'), True, id="key-order"
        ),
        pytest.param(("read", ' {"a":\n 1} '), ("read", '{"a":1}'), True, id="whitespace"),
        pytest.param(
            ("read", '{"a": {"y": 1, "x": 2}}'), ("read", '{"a":{"x":2,"y":1}}'), True, id="nested"
        ),
        pytest.param(("read", '{"a": "é"}'), ("read", '{"a": "\\u00e9"}'), True, id="escapes"),
        pytest.param(("read", ""), ("read", "{}"), True, id="empty-is-no-arguments"),
        pytest.param(("read", " {bad "), ("read", "{bad"), True, id="not-json-stripped"),
        pytest.param(("read", "{bad"), ("read", "{ bad"), False, id="not-json-inner-space"),
        pytest.param(("read", '{"a": 1}'), ("read", '{"a": 2}'), False, id="other-value"),
        pytest.param(("read", '{"a": 1}'), ("write", '{"a": 1}'), False, id="other-name"),
        pytest.param(("read", '{"a": 1}'), ("read", '{"a": "1"}'), False, id="number-or-string"),
    ],
)
def test_call_key(one: tuple[str, str], other: tuple[str, str], same: bool) -> None:
    assert (call_key(*one) == call_key(*other)) is same


def test_call_key_reads() -> None:
    assert call_key("read", '{"path": "a", "n": 1}') == 'read({"n":1,"path":"a"})'
