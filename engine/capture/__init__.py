"""Capture: each exchange as it crossed the proxy's two boundaries (the client's call and
answer, every upstream call and answer), written to JSON lines and/or CBOR files so that
a bug report can be replayed.

`records` is the record and its plain form, `sink` writes records off the event loop
(bounded, redacted, rotated), `reader` reads them back and summarizes them.
"""

from engine.capture.files import safe_session_name
from engine.capture.reader import read_all, read_records, summarize
from engine.capture.records import (
    FORMAT_VERSION,
    CapturedExchange,
    Message,
    UpstreamCall,
    from_plain,
    to_plain,
)
from engine.capture.redaction import Redactor
from engine.capture.sink import CaptureSink

__all__ = [
    "FORMAT_VERSION",
    "CaptureSink",
    "CapturedExchange",
    "Message",
    "Redactor",
    "UpstreamCall",
    "from_plain",
    "read_all",
    "read_records",
    "safe_session_name",
    "summarize",
    "to_plain",
]
