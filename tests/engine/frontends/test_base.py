"""Which front-end owns a path, for the shape of errors no endpoint answered."""

from __future__ import annotations

import pytest

from engine.frontends import FRONTENDS


@pytest.mark.parametrize(
    ("path", "owner"),
    [
        ("/v1/chat/completions/x", "openai_chat"),
        ("/v1/models/ft-model", "openai_chat"),
        ("/v1/models/gemini-2.5-flash:generateContent", "gemini"),
        ("/v1beta/models", "gemini"),
        ("/anthropic/v1/whatever", "anthropic"),
    ],
)
def test_the_most_specific_claim_wins(path: str, owner: str) -> None:
    best = max(FRONTENDS, key=lambda frontend: frontend.claim(path))
    assert best.claim(path) > 0
    assert best.name == owner


def test_paths_outside_every_api_are_claimed_by_none() -> None:
    assert all(frontend.claim("/elsewhere") == 0 for frontend in FRONTENDS)
