"""Loading and checking golden wire files.

A case is a folder `tests/golden/PROTOCOL/CASE/` holding some of: `client_request.json`,
`upstream_request.json`, `upstream_response.sse`, `client_response.sse`,
`upstream_response.json`, `client_response.json`. Each input file has its expected output
beside it, compared exactly. `UPDATE_GOLDENS=1 pytest …` rewrites the expected files from
what the code produces now; review the result as a diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.backends.upstream import StreamDecoder, stream_events
from engine.errors import ProxyError
from engine.model import Event

ROOT = Path(__file__).parent
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"

# input file → the expected file produced from it
PAIRS = {
    "client_request.json": "upstream_request.json",
    "upstream_response.sse": "client_response.sse",
    "upstream_response.json": "client_response.json",
}


def cases(protocol: str) -> list[pytest.ParameterSet]:
    """One param per (case, input file) present under `protocol`, with a readable id."""
    params = []
    for case in sorted(p for p in (ROOT / protocol).iterdir() if p.is_dir()):
        for source in PAIRS:
            if (case / source).exists():
                params.append(pytest.param(case, source, id=f"{case.name}:{source}"))
    return params


def read_json(path: Path) -> Any:
    """A JSON fixture."""
    return json.loads(path.read_text(encoding="utf-8"))


def dump_json(obj: Any) -> str:
    """JSON the way golden files store it: indented, key order kept, trailing newline."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def check(path: Path, actual: str) -> None:
    """Compare `actual` with the golden file at `path`, or rewrite it under UPDATE_GOLDENS=1."""
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; run the tests with UPDATE_GOLDENS=1 to create it")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path} differs; rerun with UPDATE_GOLDENS=1 and review the diff"


async def decode_sse(
    text: str, decoder: StreamDecoder, *, done_marker: str | None = None
) -> list[Event]:
    """The events of a provider's SSE body, read by the reader every connector uses."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        stream = stream_events(
            http,
            "http://upstream.invalid/v1",
            lambda: b"{}",
            {},
            httpx.Timeout(5),
            lambda status, body: ProxyError(status, str(body)),
            decoder,
            done_marker=done_marker,
        )
        return [event async for event in stream]
