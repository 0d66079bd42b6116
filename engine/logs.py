"""Logging for the server: credentials never reach a log line, at any level.

Every record is scrubbed when it is made (a log-record factory, so records of httpx,
hypercorn or any other library are covered, whatever handlers are configured): URL
userinfo, secret query parameters (`?key=…`), credential headers, common API key shapes
and every secret registered with :func:`register_secret` (the routing file's backend keys)
become `***`. Exception text is formatted and scrubbed the same way (long tracebacks are
cut in the middle, keeping the error at their end). Fields passed as `extra=` are set after
the factory and not scrubbed: the engine passes none.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from engine.secret_shapes import shapes_pattern

MASK = "***"
_MIN_SECRET_CHARS = 6  # shorter values would mask ordinary words
# A value under this length with no digit is a placeholder (Ollama's `ollama`, `lm-studio`,
# `not-needed`), not a credential: masking it would mask that word everywhere.
_PLACEHOLDER_CHARS = 16
MAX_MESSAGE_CHARS = 16_384  # longer messages are cut: client text can be megabytes
_SCHEMES = r"(?:bearer|basic|token|bot|digest)"

# Every pattern is linear in its input: nothing in them can backtrack over a long run.
_PATTERNS = [
    # userinfo in URLs: scheme://user:password@host
    (
        re.compile(r"(\b[a-z][a-z0-9+.-]{0,31}://)[^/\s]{0,256}@", re.IGNORECASE),
        rf"\1{MASK}@",
    ),
    # query parameters that carry keys
    (
        re.compile(
            r"([?&;](?:key|api[_-]?key|apikey|token|access[_-]?token|refresh[_-]?token|auth|"
            r"signature|sig|x-amz-signature|password|secret|client[_-]?secret)=)[^&#\s'\"]+",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
    # credential headers as they appear in reprs and dumps (also as bytes: b'…')
    (
        re.compile(
            r"((?:authorization|proxy-authorization|x-api-key|x-goog-api-key|api-key)"
            rf"['\"]?\s*[:=,]\s*b?['\"]?(?:{_SCHEMES}\s+)?)[^\s'\",}}]+",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
    # credentials after an auth scheme, wherever they stand (an upstream echoing them)
    (re.compile(rf"\b({_SCHEMES})\s+[A-Za-z0-9._~+/=-]{{8,}}", re.IGNORECASE), rf"\1 {MASK}"),
    # keyword arguments and fields named for secrets (reprs of configs in tracebacks)
    (
        re.compile(
            r"\b((?:api_?key|access_token|refresh_token|client_secret|password|secret)"
            r"\s*[=:]\s*['\"]?)[^\s'\",)}]+",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
    # well-known key prefixes, loosely (a log may mask a little too much, never too little)
    (
        re.compile(
            r"\b(?:sk-(?:ant-|or-|proj-)?[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}|"
            r"gh[pousr]_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,})"
        ),
        MASK,
    ),
    # the shapes `redact_secrets` finds too (JWTs, private keys, Stripe, …)
    (shapes_pattern(), MASK),
]

_secrets: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Mask `value` wherever it appears in a log line from now on: as it is, without the
    whitespace around it, and as Python would print it escaped."""
    global _secret_pattern
    if not value:
        return
    forms = {value, value.strip(), repr(value)[1:-1]}
    forms = {f for f in forms if _credential_like(f) and f not in _secrets}
    if not forms:
        return
    _secrets.update(forms)
    ordered = sorted(_secrets, key=len, reverse=True)
    _secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def secrets_pattern() -> re.Pattern[str] | None:
    """The pattern of every secret registered so far (a new object after each new one)."""
    return _secret_pattern


def _credential_like(value: str) -> bool:
    if len(value) < _MIN_SECRET_CHARS:
        return False
    return len(value) >= _PLACEHOLDER_CHARS or any(c.isdigit() for c in value)


def redact(text: str, *, keep_end: bool = False) -> str:
    """`text` with every credential it shows masked, cut at MAX_MESSAGE_CHARS (with
    `keep_end`, in the middle: a traceback's last line is the error)."""
    if len(text) > MAX_MESSAGE_CHARS:
        left_out = len(text) - MAX_MESSAGE_CHARS
        if keep_end:
            half = MAX_MESSAGE_CHARS // 2
            text = f"{text[:half]}\n… ({left_out} characters left out) …\n{text[-half:]}"
        else:
            text = f"{text[:MAX_MESSAGE_CHARS]}… ({left_out} more characters)"
    # Shapes first: a registered secret that is part of a longer key must not cut the key
    # into pieces no shape matches.
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    if _secret_pattern is not None:
        text = _secret_pattern.sub(MASK, text)
    return text


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: what a terminal
# or a log viewer may take for a line break or an escape sequence.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), *range(0x7F, 0xA0)) if c != 9}
_CONTROL.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


def clean(value: object, limit: int = 200) -> str:
    """A value a client chose (a path, a model name) as it may appear in one log line:
    control characters escaped, so that it cannot forge lines, and cut at `limit`."""
    text = str(value).translate(_CONTROL)
    return text if len(text) <= limit else f"{text[:limit]}…"


_formatter = logging.Formatter()
_installed = False


def install() -> None:
    """Scrub every log record made in this process from now on (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    make = logging.getLogRecordFactory()

    def scrubbed(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, scrubbed
            message = f"{record.msg} (arguments: {record.args!r})"
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[0] is not None:
            traceback = _formatter.formatException(record.exc_info)
            record.exc_text = redact(traceback, keep_end=True)
            # Formatters print exc_text; one that formats exc_info itself (a JSON or
            # error-reporting handler) would show the traceback unscrubbed.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info, keep_end=True)
        return record

    logging.setLogRecordFactory(scrubbed)


def configure(level: str = "info", form: str = "text") -> None:
    """The server's logging: one stream handler, scrubbed records, quiet HTTP clients;
    with `form="json"` each line is one JSON object (an access line's fields included).

    httpx logs every request URL at INFO; at WARNING it says only what went wrong.
    """
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if form == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    install()
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for noisy in ("httpx", "httpcore", "hpack", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON: time, level, logger, message, and the `fields`
    a record carries (`extra={"fields": {...}}`, as the access line does)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None) or {}
        line.update({k: redact(v) if isinstance(v, str) else v for k, v in fields.items()})
        if record.exc_text:
            line["traceback"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)
