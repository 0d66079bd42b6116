"""Credentials never reach a log line: the scrubbing of every record."""

from __future__ import annotations

import logging
import sys

import pytest

from engine import logs
from engine.backends.openai import OpenAIBackend, OpenAIConfig


@pytest.mark.parametrize(
    ("line", "hidden"),
    [
        ("HTTP Request: POST https://user:pa55word@api.example.com/v1 200", "pa55word"),
        (
            "POST https://gemini.example.com/v1beta/models/x?key=AIzaVerySecret&alt=sse",
            "Verysecret",
        ),
        ("GET http://h/p?alt=sse&api_key=abc123def456", "abc123def456"),
        ("headers={'authorization': 'Bearer tok-123456789'}", "tok-123456789"),
        ('{"x-api-key": "abcdefghijkl"}', "abcdefghijkl"),
        ("x-goog-api-key: qwertyuiop123", "qwertyuiop123"),
        ("a key sk-ant-api03-0123456789abcdefABCDEF in the text", "0123456789abcdef"),
        ("and sk-proj-AAAABBBBCCCCDDDDEEEE here", "AAAABBBBCCCCDDDD"),
    ],
)
def test_redact_masks_credentials(line: str, hidden: str) -> None:
    scrubbed = logs.redact(line)
    assert hidden.lower() not in scrubbed.lower()
    assert logs.MASK in scrubbed


def test_redact_leaves_ordinary_text_alone() -> None:
    line = "POST /v1/chat/completions 200 route=default backend=mock:mock-1 2.1 ms"
    assert logs.redact(line) == line


def test_a_registered_secret_is_masked_anywhere() -> None:
    logs.register_secret("correct-horse-battery")
    assert logs.redact("upstream said: correct-horse-battery is wrong") == (
        "upstream said: *** is wrong"
    )


def test_short_values_are_not_registered_as_secrets() -> None:
    logs.register_secret("abc")
    assert logs.redact("abc abc") == "abc abc"


def test_every_record_is_scrubbed_at_every_level(caplog: pytest.LogCaptureFixture) -> None:
    logs.install()
    logger = logging.getLogger("httpx")
    with caplog.at_level(logging.DEBUG, logger="httpx"):
        logger.debug("HTTP Request: %s", "https://u:hunter2hunter2@host/v1?key=k3y-value-1")
        try:
            raise RuntimeError("failed https://host/v1?token=tok-tok-tok-tok")
        except RuntimeError:
            logger.exception("call failed")

    text = caplog.text
    assert "hunter2hunter2" not in text and "k3y-value-1" not in text
    assert "tok-tok-tok-tok" not in text
    assert "call failed" in text and "RuntimeError" in text


def test_a_registered_secret_inside_a_longer_key_does_not_unmask_the_rest() -> None:
    logs.register_secret("sk-ant-api")
    line = "a key sk-ant-api03-0123456789abcdefABCDEF in the text"
    assert logs.redact(line) == "a key *** in the text"


@pytest.mark.parametrize(
    ("line", "hidden"),
    [
        ("[(b'authorization', b'Bearer xyz123456')]", "xyz123456"),  # h2 header dumps
        ("Authorization: Token abc123456789", "abc123456789"),
        ("Incorrect API key provided: Basic YWxpY2U6VXNlcmluZm9Qdzk5", "YWxpY2U6VXNlcmluZm9Qdzk5"),
        ("https://user:pa@ss@host/x", "pa@ss"),
        ("OpenAIConfig(api_key='live-1234567', base_url='x')", "live-1234567"),
        ("GET /cb?refresh_token=rt-1234567&x=1", "rt-1234567"),
    ],
)
def test_redact_masks_credentials_in_other_spellings(line: str, hidden: str) -> None:
    assert hidden not in logs.redact(line)


def test_a_secret_with_trailing_whitespace_is_masked_as_python_prints_it() -> None:
    logs.register_secret("NewlineKey-0123456789\n")
    assert "NewlineKey" not in logs.redact(
        "Illegal header value b'Bearer NewlineKey-0123456789\\n'"
    )


def test_a_huge_message_is_cut_before_it_is_scrubbed() -> None:
    scrubbed = logs.redact("a." * 500_000)
    assert len(scrubbed) < logs.MAX_MESSAGE_CHARS + 100
    assert scrubbed.endswith(f"({1_000_000 - logs.MAX_MESSAGE_CHARS} more characters)")


def test_clean_escapes_what_could_forge_a_line() -> None:
    assert logs.clean("x\nFORGED\r\x00end") == "x\\x0aFORGED\\x0d\\x00end"
    assert logs.clean("m" * 300, limit=10) == "m" * 10 + "…"
    assert logs.clean("a\x85b\x9bc\u2028d\te") == "a\\x85b\\x9bc\\u2028d\te"


@pytest.mark.parametrize("placeholder", ["ollama", "lm-studio", "not-needed", "dummy-key"])
def test_placeholder_keys_are_not_masked_as_words(placeholder: str) -> None:
    logs.register_secret(placeholder)
    line = f"backend {placeholder}: 12 models listed by its upstream"
    assert logs.redact(line) == line


def test_the_token_of_a_credential_header_is_masked_alone() -> None:
    OpenAIBackend("gw", OpenAIConfig(headers={"Authorization": "Bearer gwtok_9f8e7d6c5b"}))
    assert logs.redact("credential 'gwtok_9f8e7d6c5b' is not valid") == (
        "credential '***' is not valid"
    )


def test_a_long_traceback_keeps_its_error_and_handlers_get_no_raw_exception() -> None:
    logs.install()
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8" * 2
    try:
        raise RuntimeError(f"the real cause, with {key}")
    except RuntimeError:
        record = logging.getLogger("test").makeRecord(
            "test", logging.ERROR, __file__, 1, "x" * 10, None, sys.exc_info()
        )
    assert record.exc_info is None  # no formatter can print it unscrubbed
    assert "the real cause" in record.exc_text and key not in record.exc_text

    long = "frame\n" * 10_000 + "ValueError: the end"
    assert logs.redact(long, keep_end=True).endswith("ValueError: the end")
