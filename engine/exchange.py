"""One client call as the pipeline sees it: the HTTP call, its operation, session and request.

A front-end turns an HTTP request into a :class:`Call` (it never reads the web framework's
globals); the server makes an :class:`Exchange` of it for the executor, which runs the
stages over it. Every endpoint is an exchange: a chat, a count of tokens, a model listing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from engine.model import ChatRequest
from engine.notes import Dropped
from engine.parameters import Parameters
from engine.sessions import Session

# `chat`: a model answers; `count_tokens`: a read-only count; `models`: a model listing;
# `stored_response`: reading or deleting a stored Responses-API response.
Operation = Literal["chat", "count_tokens", "models", "stored_response"]
OPERATIONS: tuple[Operation, ...] = ("chat", "count_tokens", "models", "stored_response")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """The HTTP request an exchange came in, besides what its body decodes to."""

    method: str = "POST"
    path: str = ""
    path_params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""
    address: str = ""  # the client's IP address, as the connection shows it

    @property
    def bearer(self) -> str | None:
        """The token of an `Authorization: Bearer` header (OpenAI's SDKs, Claude Code's
        auth token); None without one."""
        authorization = self.headers.get("authorization", "")
        return authorization[7:].strip() if authorization[:7].lower() == "bearer " else None

    @property
    def client_key(self) -> str | None:
        """The client's API key from whichever header or query parameter its SDK uses:
        `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` or `?key=`."""
        bearer = self.bearer
        if bearer is not None:
            return bearer
        return (
            self.headers.get("x-api-key")
            or self.headers.get("x-goog-api-key")
            or self.query.get("key")
        )

    def with_params(self, **path_params: str) -> Call:
        """This call with more path parameters (what a front-end parsed from its path)."""
        return dataclasses.replace(self, path_params={**self.path_params, **path_params})


@dataclass(slots=True)
class Target:
    """Where a request goes: a declared backend and the model to ask it for."""

    backend: str
    model: str
    params: Parameters = ()  # set on the request for this target (`engine.parameters`)

    def __str__(self) -> str:
        return f"{self.backend}:{self.model}"


@dataclass(slots=True)
class Exchange:
    """What the stages of one client call share.

    The executor loads `session` from the store before the stages run and saves it when
    they changed it. `state` is the call's own scratch space; `local(Kind)` gives a stage
    a typed part of it, one `Kind()` per exchange. For a model listing, `request` is
    empty: there is no model to route yet.
    """

    request: ChatRequest
    frontend: str
    session: Session
    backends: frozenset[str]
    call: Call = Call()
    operation: Operation = "chat"
    targets: list[Target] | None = None  # a stage's choice, in order, for the strategy
    state: dict[Any, Any] = field(default_factory=dict)
    route: str | None = None  # set by the executor: the route that matched
    served_by: Target | None = None  # set by the executor: the target that answered
    dropped: Dropped | None = None  # … and what its request left out
    # Set by a session command (`!/set(temperature=0.2)`): over every target's own.
    parameters: Parameters = ()
    strategy: Any = None  # a stage's choice of strategy for its `targets` (else the route's)
    # Set by the executor once a route matched: its strategy's name, and the targets a
    # model would go to on it (for a stage that says where a request goes: `!/status`).
    route_strategy: str | None = None
    resolve: Callable[[str], list[Target]] | None = None
    # Set by the executor for a route with response stages: the route's strategy asked
    # again with another request, for a stage that retries (its events reach only the
    # stages after it).
    ask_again: Callable[[Any], Awaitable[AsyncIterator[Any]]] | None = None
    # Set by the server: the client keys, rate-limit windows and failed attempts
    # (`engine.access.Access`) that the `auth` and `rate_limit` stages use.
    access: Any = None

    @property
    def target(self) -> Target | None:
        """The one target a stage chose (the first, when it chose several)."""
        return self.targets[0] if self.targets else None

    @target.setter
    def target(self, target: Target | None) -> None:
        self.targets = None if target is None else [target]

    @property
    def headers(self) -> Mapping[str, str]:
        """The call's headers, names lower-cased."""
        return self.call.headers

    def local(self, kind: type[T]) -> T:
        """This exchange's instance of `kind` (made with `kind()` on first use): typed
        per-call state for a stage, such as what its request hook found for its event hook."""
        found = self.state.get(kind)
        if found is None:
            found = self.state[kind] = kind()
        return found


__all__ = ["OPERATIONS", "Call", "Exchange", "Operation", "Target"]
