"""Golden wire files for the Gemini codec, compared byte for byte.

Client requests name no model in the body (Gemini puts it in the URL); the cases use
MODEL. Upstream streams are `alt=sse` bodies, read the way the Gemini connector reads them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.codecs import gemini
from engine.model import Event
from engine.response import Collector
from tests.golden.files import PAIRS, cases, check, decode_sse, dump_json

MODEL = "gemini-2.5-flash"


async def decode_stream(text: str) -> list[Event]:
    """The events of a provider's SSE body, read the way the connector reads it."""
    return await decode_sse(text, gemini.StreamDecoder())


@pytest.mark.parametrize(("case", "source"), cases("gemini"))
async def test_golden(case: Path, source: str) -> None:
    text = (case / source).read_text(encoding="utf-8")
    if source == "client_request.json":
        request = gemini.decode_request(json.loads(text), MODEL)
        actual = dump_json(gemini.encode_request(request))
    elif source == "upstream_response.sse":
        encoder = gemini.StreamEncoder()
        events = await decode_stream(text)
        actual = b"".join(encoder.event(event) for event in events).decode()
    else:
        collector = Collector()
        for event in gemini.decode_response(json.loads(text)):
            collector.add(event)
        actual = dump_json(gemini.encode_response(collector.response))
    check(case / PAIRS[source], actual)
