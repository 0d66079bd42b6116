"""Golden wire files for the Anthropic Messages codec, compared byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.codecs import anthropic
from engine.model import Event
from engine.response import Collector
from tests.golden.files import PAIRS, cases, check, decode_sse, dump_json


async def decode_stream(text: str) -> list[Event]:
    """The events of a provider's SSE body, read the way the connector reads it."""
    return await decode_sse(text, anthropic.StreamDecoder())


@pytest.mark.parametrize(("case", "source"), cases("anthropic"))
async def test_golden(case: Path, source: str) -> None:
    text = (case / source).read_text(encoding="utf-8")
    if source == "client_request.json":
        request = anthropic.decode_request(json.loads(text))
        actual = dump_json(anthropic.encode_request(request, request.model))
    elif source == "upstream_response.sse":
        encoder = anthropic.StreamEncoder()
        events = await decode_stream(text)
        actual = b"".join(encoder.event(event) for event in events).decode()
    else:
        collector = Collector()
        for event in anthropic.decode_response(json.loads(text)):
            collector.add(event)
        actual = dump_json(anthropic.encode_response(collector.response))
    check(case / PAIRS[source], actual)
