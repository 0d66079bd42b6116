"""Golden wire files for the Responses backend, with a Responses client: the lossless path.

`client_request.json` → `upstream_request.json` (what the `openai_responses` backend
sends); the upstream's answer (`upstream_response.json` / `.sse`) → the Responses body or
event stream the client gets. Namespaces, custom and hosted tools, hosted-tool items,
encrypted reasoning and the client's own fields go through as they came.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.codecs import openai_responses
from engine.codecs.openai_responses import upstream
from engine.model import ChatRequest
from engine.response import Collector
from tests.golden.files import PAIRS, cases, check, decode_sse, dump_json

CASES = "openai_responses_upstream"
RESPONSE_ID = "resp_golden"


def _request(case: Path) -> ChatRequest:
    return openai_responses.decode_request(json.loads((case / "client_request.json").read_text()))


@pytest.mark.parametrize(("case", "source"), cases(CASES))
async def test_golden(case: Path, source: str) -> None:
    text = (case / source).read_text(encoding="utf-8")
    request = _request(case)
    if source == "client_request.json":
        actual = dump_json(upstream.encode_request(request, request.model))
    elif source == "upstream_response.sse":
        encoder = openai_responses.StreamEncoder(request, RESPONSE_ID)
        events = await decode_sse(text, upstream.StreamDecoder())
        actual = b"".join(encoder.event(event) for event in events).decode()
    else:
        collector = Collector()
        for event in upstream.decode_response(json.loads(text)):
            collector.add(event)
        actual = dump_json(
            openai_responses.encode_response(collector.response, request, RESPONSE_ID)
        )
    check(case / PAIRS[source], actual)
