"""The Chat Completions stream encoder on relayed chunks: as they came where they say
what it would say, re-encoded where they carry what the client did not ask for, and all
encoded from the first chunk it would have said otherwise."""

from __future__ import annotations

from engine.codecs.openai_chat import StreamEncoder
from engine.model import Finish, Relayed, ResponseStart, TextDelta, ToolCallStart, Usage

START = ResponseStart(id="chatcmpl-1", model="m", created=1)
RAW = b'data: {"id":"chatcmpl-1","upstream_only":true}\n\n'


def test_chunks_saying_what_the_encoder_would_go_out_as_they_came() -> None:
    encoder = StreamEncoder(include_usage=True)
    assert encoder.event(Relayed(RAW, (START, TextDelta(text="hi")))) == RAW
    assert encoder.event(Relayed(RAW, (Usage(input_tokens=1, output_tokens=2),))) == RAW
    assert encoder.event(Relayed(b"data: [DONE]\n\n", (Finish(reason="stop"),))) == (
        b"data: [DONE]\n\n"
    )


def test_usage_the_client_did_not_ask_for_is_left_out() -> None:
    encoder = StreamEncoder(include_usage=False)
    encoder.event(Relayed(RAW, (START,)))
    usage = Usage(input_tokens=1, output_tokens=2)
    assert encoder.event(Relayed(RAW, (usage,))) == b""
    text_and_usage = encoder.event(Relayed(RAW, (TextDelta(text="end"), usage)))
    assert text_and_usage.startswith(b'data: {"id":"chatcmpl-1"') and b'"end"' in text_and_usage
    assert b"usage" not in text_and_usage and b"upstream_only" not in text_and_usage


def test_from_a_chunk_it_would_say_otherwise_on_the_encoder_says_all() -> None:
    encoder = StreamEncoder(include_usage=True)
    encoder.event(Relayed(RAW, (START,)))
    call = encoder.event(Relayed(RAW, (ToolCallStart(index=0, id="c", name="f"),)))
    assert b'"tool_calls"' in call and b"upstream_only" not in call
    later = encoder.event(Relayed(RAW, (TextDelta(text="more"),)))
    assert b'"more"' in later and b"upstream_only" not in later


def test_a_relayed_stream_without_done_gets_one_finish() -> None:
    """A server that never says [DONE]: its finish chunk went out as it came; the
    engine's finish adds the [DONE] alone."""
    encoder = StreamEncoder(include_usage=True)
    finish_chunk = b'data: {"id":"chatcmpl-1","choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
    encoder.event(Relayed(RAW, (START, TextDelta(text="hi"))))
    assert encoder.event(Relayed(finish_chunk, ())) == finish_chunk
    assert encoder.event(Finish(reason="stop")) == b"data: [DONE]\n\n"


def test_a_stream_never_relayed_is_encoded_whole() -> None:
    encoder = StreamEncoder(include_usage=False)
    encoder.event(START)
    assert b'"finish_reason":"stop"' in encoder.event(Finish(reason="stop"))
