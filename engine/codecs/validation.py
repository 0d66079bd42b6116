"""Checks every request decoder makes, so that a bad body is a 400 naming the bad field."""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

import orjson
from pydantic import ValidationError

from engine.errors import BadRequest

# orjson re-encodes at most this many levels of arrays and objects; deeper bodies are
# refused, as no real request nests this far and everything after the decoder would have
# to survive the depth too.
MAX_NESTING = 254


def parse_body(raw: bytes | str) -> Any:
    """A client's JSON body, strictly: a 400 for anything a provider would not parse.

    Refused: malformed JSON, `NaN` and `Infinity`, numbers too large for a double, lone
    UTF-16 surrogates (`"\\ud800"`: no UTF-8 can carry them), invalid UTF-8 and nesting
    beyond MAX_NESTING levels.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        message = f"the request body is not valid JSON: {exc}"
        raise BadRequest(message, code="invalid_json") from None
    try:
        orjson.dumps(body)  # ~10 µs for 50 kB, and it fails exactly when the body nests too deep
    except orjson.JSONEncodeError:
        raise BadRequest(
            f"the request body nests more than {MAX_NESTING} levels deep", code="invalid_json"
        ) from None
    return body


def expect(
    value: Any,
    kind: type | tuple[type, ...],
    param: str,
    what: str,
    *,
    template: str = "'{param}' must be {what}",
) -> Any:
    """`value` when it is a `kind` (a bool is no number); else BadRequest naming `param`."""
    if isinstance(value, kind) and (
        value.__class__ is not bool or kind is bool or (isinstance(kind, tuple) and bool in kind)
    ):
        return value
    raise BadRequest(template.format(param=param, what=what), param=param)


def optional(
    body: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    what: str,
    *,
    param: str | None = None,
    template: str = "'{param}' must be {what}",
) -> Any:
    """`body[key]` when it is a `kind`, None when it is absent or null; else BadRequest
    naming `param` (by default `key`)."""
    value = body.get(key)
    return None if value is None else expect(value, kind, param or key, what, template=template)


def expect_number(
    value: Any,
    param: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    template: str = "'{param}' must be {what}",
) -> Any:
    """`value` when it is a number (an integer if `integer`) within the bounds, which
    are inclusive; else BadRequest naming `param` and saying what it must be."""
    kind: type | tuple[type, ...] = int if integer else (int, float)
    typed = isinstance(value, kind) and value.__class__ is not bool
    if typed and (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        return value
    what = "an integer" if integer else "a number"
    if minimum is not None and maximum is not None:
        what += f" from {minimum:g} to {maximum:g}"
    elif minimum is not None:
        what += f" of at least {minimum:g}"
    elif maximum is not None:
        what += f" of at most {maximum:g}"
    raise BadRequest(template.format(param=param, what=what), param=param)


class _Refusals(AbstractContextManager[None]):
    """See `refusals_are_bad_requests`; a class, not a generator: it is on every request."""

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, ValidationError):
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise BadRequest(f"invalid request: {where}: {error['msg']}") from None


_REFUSALS = _Refusals()


def refusals_are_bad_requests() -> AbstractContextManager[None]:
    """Turn the canonical model's refusal of a value into a 400.

    A value of the right JSON type that the model still refuses (an unknown reasoning
    effort, non-string metadata…) is the client's mistake, not a server error.
    """
    return _REFUSALS
