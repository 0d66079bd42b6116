"""The checks every request decoder shares."""

from __future__ import annotations

from typing import Any

import pytest

from engine.codecs.validation import expect, refusals_are_bad_requests
from engine.errors import BadRequest
from engine.model import Reasoning


@pytest.mark.parametrize(
    ("value", "kind", "ok"),
    [
        ("x", str, True),
        (3, int, True),
        (True, int, False),  # JSON's true is no integer
        (2.5, (int, float), True),
        (None, str, False),
        ([], dict, False),
    ],
)
def test_expect(value: Any, kind: Any, ok: bool) -> None:
    if ok:
        assert expect(value, kind, "field", "something") is value
    else:
        with pytest.raises(BadRequest) as raised:
            expect(value, kind, "messages[0].role", "a string")
        assert raised.value.param == "messages[0].role"
        assert raised.value.message == "'messages[0].role' must be a string"


def test_expect_takes_a_protocols_own_wording() -> None:
    with pytest.raises(BadRequest) as raised:
        expect(1, str, "model", "a string", template="{param}: must be {what}")
    assert raised.value.message == "model: must be a string"


def test_a_value_the_canonical_model_refuses_is_a_bad_request() -> None:
    with pytest.raises(BadRequest) as raised, refusals_are_bad_requests():
        Reasoning(effort="extreme")  # type: ignore[arg-type]
    assert raised.value.status == 400
    assert raised.value.message.startswith("invalid request: effort: ")
