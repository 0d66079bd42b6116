"""Golden wire files for the OpenAI Responses front-end codec, compared byte for byte.

A Responses client in front of a Chat Completions upstream: `client_request.json` →
`canonical_request.json` (the decoded request) and `upstream_request.json` (what an
OpenAI-compatible backend sends); the upstream's Chat Completions answer
(`upstream_response.json` / `.sse`) → the Responses body or event stream the client gets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.codecs import openai_chat, openai_responses
from engine.model import ChatRequest
from engine.response import Collector
from tests.engine.codecs.test_openai_chat_golden import decode_stream
from tests.golden.files import PAIRS, cases, check, dump_json, read_json

PROTOCOL = "openai_responses"
RESPONSE_ID = "resp_golden"


def _request(case: Path) -> ChatRequest:
    path = case / "client_request.json"
    return openai_responses.decode_request(read_json(path) if path.exists() else {"model": "m"})


@pytest.mark.parametrize(("case", "source"), cases(PROTOCOL))
async def test_golden(case: Path, source: str) -> None:
    text = (case / source).read_text(encoding="utf-8")
    request = _request(case) if source != "client_request.json" else None
    if source == "client_request.json":
        decoded = openai_responses.decode_request(json.loads(text))
        check(case / "canonical_request.json", dump_json(decoded.model_dump(exclude_none=True)))
        actual = dump_json(openai_chat.encode_request(decoded, decoded.model))
    elif source == "upstream_response.sse":
        assert request is not None
        encoder = openai_responses.StreamEncoder(request, RESPONSE_ID)
        events = await decode_stream(text)
        actual = b"".join(encoder.event(event) for event in events).decode()
    else:
        assert request is not None
        collector = Collector()
        for event in openai_chat.decode_response(json.loads(text)):
            collector.add(event)
        actual = dump_json(
            openai_responses.encode_response(collector.response, request, RESPONSE_ID)
        )
    check(case / PAIRS[source], actual)
