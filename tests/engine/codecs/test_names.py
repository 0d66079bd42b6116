"""Flat names for namespaced tools: what every provider accepts, distinct per pair."""

from __future__ import annotations

import re

from engine.codecs.names import MAX_CHARS, flat_name

ACCEPTED = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$")  # OpenAI's, Gemini's and Anthropic's


def test_a_clean_pair_keeps_codex_spelling() -> None:
    assert flat_name("multi_agent_v1", "spawn_agent") == "multi_agent_v1__spawn_agent"


def test_pairs_that_fit_to_the_same_characters_stay_apart() -> None:
    names = {
        flat_name("my.server", "read"),
        flat_name("my_server", "read"),
        flat_name("my server", "read"),
        flat_name("1tools", "read"),
        flat_name("_1tools", "read"),
    }
    assert len(names) == 5 and all(ACCEPTED.match(n) for n in names)


def test_long_pairs_are_cut_to_the_limit_and_stay_apart() -> None:
    first, second = flat_name("n" * 80, "alpha"), flat_name("n" * 80, "beta")
    assert first != second
    assert len(first) == len(second) == MAX_CHARS
    assert ACCEPTED.match(first) and ACCEPTED.match(second)
