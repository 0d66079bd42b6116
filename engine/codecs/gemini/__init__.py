"""The Gemini `generateContent` codec."""

from engine.codecs.gemini.request import PROTOCOL, decode_request, encode_request
from engine.codecs.gemini.response import (
    StreamDecoder,
    StreamEncoder,
    decode_error,
    decode_response,
    encode_error,
    encode_response,
)

__all__ = [
    "PROTOCOL",
    "StreamDecoder",
    "StreamEncoder",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_error",
    "encode_request",
    "encode_response",
]
