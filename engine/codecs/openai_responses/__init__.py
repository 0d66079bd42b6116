"""The OpenAI Responses codec (client side: requests in, response objects and events out)."""

from engine.codecs.openai_chat.response import encode_error
from engine.codecs.openai_responses.request import (
    PROTOCOL,
    decode_items,
    decode_request,
    name_tool_results,
)
from engine.codecs.openai_responses.response import (
    ResponseBuilder,
    StreamEncoder,
    encode_response,
    encode_usage,
    new_response_id,
)

__all__ = [
    "PROTOCOL",
    "ResponseBuilder",
    "StreamEncoder",
    "decode_items",
    "decode_request",
    "encode_error",
    "encode_response",
    "encode_usage",
    "name_tool_results",
    "new_response_id",
]
