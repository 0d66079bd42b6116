"""The diagnostic record, its text and JSON forms, and did-you-mean."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.diagnostics import Diagnostic, did_you_mean, format_json, format_text, has_errors

ERROR = Diagnostic("routes/a.yaml", 3, 7, "unknown-stage", "unknown stage 'comands'")
HINTED = Diagnostic(
    "routes/a.yaml", 3, 7, "unknown-stage", "unknown stage 'x'", hint="did you mean 'y'?"
)
WARNING = Diagnostic("b.yaml", 1, 1, "no-routes", "no routes are declared", "warning")


@pytest.mark.parametrize(
    ("diagnostic", "text"),
    [
        (ERROR, "routes/a.yaml:3:7: error[unknown-stage]: unknown stage 'comands'"),
        (HINTED, "routes/a.yaml:3:7: error[unknown-stage]: unknown stage 'x' (did you mean 'y'?)"),
        (WARNING, "b.yaml:1:1: warning[no-routes]: no routes are declared"),
    ],
)
def test_str_is_compiler_style(diagnostic: Diagnostic, text: str) -> None:
    assert str(diagnostic) == text


def test_diagnostic_is_an_immutable_value() -> None:
    same = Diagnostic("routes/a.yaml", 3, 7, "unknown-stage", "unknown stage 'comands'")
    assert same == ERROR
    assert ERROR.level == "error" and ERROR.hint is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        ERROR.line = 4  # type: ignore[misc]
    assert len({ERROR, HINTED, WARNING, ERROR}) == 3


@pytest.mark.parametrize(
    ("word", "choices", "hint"),
    [
        ("comands", ["commands", "model_rewrite"], "did you mean 'commands'?"),
        ("model_rewrte", ["commands", "model_rewrite"], "did you mean 'model_rewrite'?"),
        ("opena", {"openai": 1, "local": 2}, "did you mean 'openai'?"),  # any iterable of str
        ("claud", iter(["claude", "cloud"]), "did you mean 'claude'?"),  # closest first
        ("xyz", ["commands", "model_rewrite"], None),
        ("anything", [], None),
        ("", ["a"], None),
    ],
)
def test_did_you_mean(word: str, choices: object, hint: str | None) -> None:
    assert did_you_mean(word, choices) == hint  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("diagnostics", "errors"),
    [([], False), ([WARNING], False), ([WARNING, ERROR], True), ([HINTED], True)],
)
def test_has_errors_ignores_warnings(diagnostics: list[Diagnostic], errors: bool) -> None:
    assert has_errors(diagnostics) is errors
    assert has_errors(iter(diagnostics)) is errors


def test_format_text_is_one_line_each() -> None:
    assert format_text([ERROR, WARNING]) == f"{ERROR}\n{WARNING}"
    assert format_text([]) == ""


def test_format_json_is_a_list_of_records() -> None:
    parsed = json.loads(format_json([HINTED, WARNING]))
    assert parsed == [
        {
            "path": "routes/a.yaml",
            "line": 3,
            "col": 7,
            "code": "unknown-stage",
            "message": "unknown stage 'x'",
            "level": "error",
            "hint": "did you mean 'y'?",
        },
        {
            "path": "b.yaml",
            "line": 1,
            "col": 1,
            "code": "no-routes",
            "message": "no routes are declared",
            "level": "warning",
            "hint": None,
        },
    ]
    assert [Diagnostic(**record) for record in parsed] == [HINTED, WARNING]
    assert json.loads(format_json([])) == []
