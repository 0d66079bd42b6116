"""Golden wire files for the OpenAI Chat Completions codec, compared byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.codecs import openai_chat
from engine.model import Event
from engine.response import Collector
from tests.golden.files import PAIRS, cases, check, decode_sse, dump_json, read_json


async def decode_stream(text: str) -> list[Event]:
    """The events of a provider's SSE body, read the way the connector reads it."""
    return await decode_sse(text, openai_chat.StreamDecoder(), done_marker="[DONE]")


def _include_usage(case: Path) -> bool:
    request = case / "client_request.json"
    if not request.exists():
        return True
    return openai_chat.decode_request(read_json(request)).include_usage


@pytest.mark.parametrize(("case", "source"), cases("openai_chat"))
async def test_golden(case: Path, source: str) -> None:
    text = (case / source).read_text(encoding="utf-8")
    if source == "client_request.json":
        request = openai_chat.decode_request(json.loads(text))
        actual = dump_json(openai_chat.encode_request(request, request.model))
    elif source == "upstream_response.sse":
        encoder = openai_chat.StreamEncoder(include_usage=_include_usage(case))
        events = await decode_stream(text)
        actual = b"".join(encoder.event(event) for event in events).decode()
    else:
        collector = Collector()
        for event in openai_chat.decode_response(json.loads(text)):
            collector.add(event)
        actual = dump_json(openai_chat.encode_response(collector.response))
    check(case / PAIRS[source], actual)
