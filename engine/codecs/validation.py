"""Checks every request decoder makes, so that a bad body is a 400 naming the bad field."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

from engine.errors import BadRequest


def expect(
    value: Any,
    kind: type | tuple[type, ...],
    param: str,
    what: str,
    *,
    template: str = "'{param}' must be {what}",
) -> Any:
    """`value` when it is a `kind` (a bool is no int); else BadRequest naming `param`."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(template.format(param=param, what=what), param=param)
    return value


@contextmanager
def refusals_are_bad_requests() -> Iterator[None]:
    """Turn the canonical model's refusal of a value into a 400.

    A value of the right JSON type that the model still refuses (an unknown reasoning
    effort, non-string metadata…) is the client's mistake, not a server error.
    """
    try:
        yield
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise BadRequest(f"invalid request: {where}: {error['msg']}") from None
