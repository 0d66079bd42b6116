"""The matrix report: results JSON → Markdown table → the README's marked section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.matrix.report import END, START, main, render, splice


def _results() -> dict[str, object]:
    cells = [
        {
            "frontend": "openai_chat",
            "backend": "openai",
            "mode": mode,
            "case": case,
            "passed": not (mode == "stream" and case == "usage"),
        }
        for mode in ("whole", "stream")
        for case in ("plain_text", "usage")
    ]
    return {
        "frontends": {"openai_chat": True, "gemini": False},
        "backends": {"openai": True, "anthropic": False},
        "modes": ["whole", "stream"],
        "cases": ["plain_text", "usage"],
        "cells": cells,
    }


def test_render_counts_passes_names_failures_and_marks_what_is_not_built() -> None:
    table = render(_results()).splitlines()

    assert table[0] == "| front-end | mode | OpenAI Chat | Anthropic |"
    assert table[2] == "| OpenAI Chat | whole | ✓ 2/2 | not built |"
    assert table[3] == "| OpenAI Chat | stream | 1/2 ✗ usage | not built |"
    assert table[4] == "| Gemini | whole | not built | not built |"
    assert table[-1] == "3 of 4 cells pass; cases: plain_text, usage."


def test_splice_replaces_only_between_the_markers() -> None:
    readme = f"# T\n\nintro\n{START}\nold\n{END}\ntail\n"

    assert splice(readme, "new") == f"# T\n\nintro\n{START}\nnew\n{END}\ntail\n"
    with pytest.raises(ValueError, match="markers"):
        splice("# no markers\n", "new")


def test_main_rewrites_the_readme_then_check_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_results()), encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{START}\n{END}\ny\n", encoding="utf-8")

    assert main([str(results), "--readme", str(readme), "--check"]) == 1
    assert main([str(results), "--readme", str(readme)]) == 0
    assert main([str(results), "--readme", str(readme), "--check"]) == 0
    assert "| OpenAI Chat | whole | ✓ 2/2 | not built |" in readme.read_text(encoding="utf-8")
    capsys.readouterr()
