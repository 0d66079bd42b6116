"""Request parameters set outside the client's request: by a model selector
(``BACKEND:MODEL?temperature=0.2&reasoning_effort=high``), a route's target, or a session
command (``!/set(temperature=0.2)``).

Each is validated where it is written (an unknown name or a bad value says which and
why), and applied to the canonical request at send time, in the order of precedence:
the client's request, then the route's target, then the selector, then the session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args
from urllib.parse import parse_qsl

from engine.diagnostics import did_you_mean
from engine.model import ChatRequest, Effort, Reasoning

Parameters = tuple[tuple[str, Any], ...]  # (name, value) pairs, in the order they apply
EFFORTS: tuple[str, ...] = get_args(Effort)


class ParameterError(ValueError):
    """A parameter the engine does not know, or a value it cannot take."""


@dataclass(frozen=True, slots=True)
class _Kind:
    parse: Callable[[str], Any]  # text → value, ParameterError when it is not one
    help: str


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ParameterError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise ParameterError(f"{value:g} is not between {low:g} and {high:g}")
        return value

    return parse


def _count(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ParameterError(f"{text!r} is not a whole number") from None
        if value < low:
            raise ParameterError(f"{value} is less than {low}")
        return value

    return parse


def _effort(text: str) -> str:
    effort = text.strip().lower()
    if effort not in EFFORTS:
        raise ParameterError(f"{text!r} is not one of {', '.join(EFFORTS)}")
    return effort


KINDS: dict[str, _Kind] = {
    "temperature": _Kind(_number(0, 2), "sampling temperature, 0 to 2"),
    "top_p": _Kind(_number(0, 1), "nucleus sampling, 0 to 1"),
    "top_k": _Kind(_count(1), "sample from the k likeliest tokens"),
    "max_tokens": _Kind(_count(1), "the most tokens to generate"),
    "seed": _Kind(_count(0), "a seed, for repeatable sampling where the provider has one"),
    "reasoning_effort": _Kind(_effort, "how hard to think: " + ", ".join(EFFORTS)),
    "thinking_budget": _Kind(_count(0), "the tokens thinking may take (0: none)"),
}


_SAMPLING = ("temperature", "top_p", "top_k", "max_tokens", "seed")  # the `Sampling` fields


def name_of(text: str) -> str:
    """The parameter `text` names (`reasoning-effort` and `reasoning_effort` are one)."""
    return text.strip().lower().replace("-", "_")


def parse(name: str, text: str) -> tuple[str, Any]:
    """The parameter `name` with the value `text` means; ParameterError says why not."""
    key = name_of(name)
    kind = KINDS.get(key)
    if kind is None:
        hint = did_you_mean(key, KINDS)
        raise ParameterError(
            f"unknown parameter {name!r}"
            + (f"; {hint}" if hint else f" (known: {', '.join(KINDS)})")
        )
    try:
        return key, kind.parse(text)
    except ParameterError as exc:
        raise ParameterError(f"{key}: {exc}") from None


def split_selector(model: str) -> tuple[str, Parameters]:
    """`model` without its `?key=value&…` part, and the parameters that part sets."""
    model, sep, query = model.partition("?")
    if not sep:
        return model, ()
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    return model, tuple(parse(name, value) for name, value in pairs)


def apply(request: ChatRequest, parameters: Iterable[tuple[str, Any]]) -> ChatRequest:
    """`request` with `parameters` set, later ones over earlier ones."""
    values = dict(parameters)
    if not values:
        return request
    update: dict[str, Any] = {}
    sampling = {k: values[k] for k in _SAMPLING if k in values}
    if sampling:
        update["sampling"] = request.sampling.model_copy(update=sampling)
    reasoning: dict[str, Any] = {}
    if "reasoning_effort" in values:
        reasoning["effort"] = values["reasoning_effort"]
    if "thinking_budget" in values:
        reasoning["budget_tokens"] = values["thinking_budget"]
    if reasoning:
        update["reasoning"] = (request.reasoning or Reasoning()).model_copy(update=reasoning)
    return request.model_copy(update=update)


def shown(parameters: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """The parameters as `key=value, …`."""
    items = parameters.items() if isinstance(parameters, Mapping) else parameters
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)
