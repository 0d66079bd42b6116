"""Credentials never reach a log line: the scrubbing of every record."""

from __future__ import annotations

import logging

import pytest

from engine import logs


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
