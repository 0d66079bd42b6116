"""The Anthropic Messages codec."""

from engine.codecs.anthropic.request import (
    DEFAULT_MAX_TOKENS,
    PROTOCOL,
    decode_request,
    encode_request,
    thinking_budget,
)
from engine.codecs.anthropic.response import (
    StreamDecoder,
    StreamEncoder,
    decode_error,
    decode_response,
    encode_error,
    encode_response,
    error_status,
    error_type,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "PROTOCOL",
    "StreamDecoder",
    "StreamEncoder",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_error",
    "encode_request",
    "encode_response",
    "error_status",
    "error_type",
    "thinking_budget",
]
