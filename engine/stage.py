"""The stage API: everything a stage author imports, from this one module.

A stage kind is a class decorated with ``@stage("name")``. It has a one-paragraph
docstring, a ``Config`` model (a :class:`StrictModel`: unknown keys refused, frozen, every
field described) and one or both hooks:

``async def on_request(self, exchange) -> Answer | None``
    Runs before the backend. It may change ``exchange.request`` (or choose where it goes:
    ``exchange.targets``, the list the route's strategy tries, or ``exchange.target``)
    and return ``None`` to continue, or return an :class:`Answer` to answer the client
    itself (or ``Answer.refuse(status, message)`` to refuse with an error status in the
    client's protocol's shape): the backend and the remaining request stages are then
    skipped. Short-circuiting is this return value, never an exception; an exception is a
    failure, and the executor turns it into a protocol-shaped error.

``async def on_events(self, exchange, events) -> AsyncIterator[Event]``
    An async generator over the response's event stream. It sees every event and yields
    what the client should see (the same, changed, fewer or more). A stage without it adds
    no per-event cost. The stream toolkit (:class:`ToolCallAssembler`, :class:`HoldBack`,
    :class:`StreamCutter`, from :mod:`engine.stream`) holds back what must be seen whole
    and ends a stream validly.

``operations`` (a class attribute) names the operations a stage runs for: ``chat`` (the
default), ``count_tokens``, ``models`` (a model listing), ``stored_response`` (reading or
deleting a stored Responses-API response). A read-only call runs only the stages that
say so, so that it never has a chat's side effects (a session's `!/model` changed by a
count of tokens). A stage that guards access (auth) names them all.

State: ``exchange.local(Kind)`` is typed per-call state (one ``Kind()`` per exchange);
``self.session_state(exchange)`` / ``self.set_session_state(exchange, values)`` are the
stage's own namespace of the client's session, which the executor loads before the stages
and saves when changed. The canonical parts are immutable: change one with
``part.model_copy(update=...)``, which keeps its vendor fields (Anthropic's
``cache_control``…).

``__init__(self, config)`` runs once per graph load; do all preparation there (compile
regexes with :func:`compile_pattern`, build tables) so the hooks do only per-request work.
It also runs for `engine check` and for an edit that is rejected, so it acquires nothing
(no files, pools or threads): open those on first use. ``aclose()`` runs once when the
graph the instance belongs to is retired, after its last request, or when the server
stops; it releases what the hooks opened. The executor,
not the stage, times each hook and turns exceptions into errors.

Third-party stages register through the ``engine.stages`` entry-point group; the routing
file names stages by registered name only. ``engine.testing`` drives a stage with tables.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from engine.config import ModelPattern, RegexPattern, StrictModel, compile_pattern
from engine.errors import ProxyError
from engine.exchange import OPERATIONS, Call, Exchange, Operation, Target
from engine.model import Event, TextPart
from engine.registry import Registry, RegistryError
from engine.response import ChatResponse, replay
from engine.sessions import Session
from engine.stream import CutReason, HoldBack, StreamCutter, ToolCall, ToolCallAssembler

ENTRY_POINT_GROUP = "engine.stages"


@dataclass
class Answer:
    """A request stage's own reply to the client, instead of asking a backend: a response,
    or a refusal (an error status, sent in the client's protocol's error shape)."""

    response: ChatResponse | None = None
    error: ProxyError | None = None

    @classmethod
    def refuse(
        cls,
        status: int,
        message: str,
        *,
        code: str = "refused",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """A refusal with an HTTP error status (a stage's 401, 403 or 429), and the headers
        the client should see with it (`Retry-After`)."""
        return cls(error=ProxyError(status, message, code=code, headers=headers))

    @classmethod
    def text(cls, text: str, *, model: str = "engine") -> Answer:
        """An answer made of one text message."""
        return cls(
            ChatResponse(
                id=f"answer-{uuid.uuid4().hex}", model=model, content=[TextPart(text=text)]
            )
        )

    def events(self) -> Iterable[Event]:
        """The answer as an event stream (a refusal has none: the executor raises it)."""
        if self.response is None:
            raise ValueError("a refusal is raised, not replayed")
        return replay(self.response)


class Stage:
    """Base class of stage kinds. Subclasses set ``Config`` and define at least one hook."""

    name: ClassVar[str]
    Config: ClassVar[type[BaseModel]]
    operations: ClassVar[frozenset[Operation]] = frozenset({"chat"})

    def __init__(self, config: BaseModel) -> None:
        self.config = config

    def models(self) -> list[str]:
        """Model names this stage makes available (aliases), for `GET /models` listings."""
        return []

    def counters(self) -> Mapping[str, Mapping[str, int]]:
        """What this instance counted since its graph was loaded, by event and reason
        (`{"blocked": {"git-reset-hard": 2}}`), for `/metrics`."""
        return {}

    def session_state(self, exchange: Exchange) -> Mapping[str, Any]:
        """What this stage kept in the exchange's session (its own namespace, read-only)."""
        return exchange.session.get(self.name)

    def set_session_state(self, exchange: Exchange, values: Mapping[str, Any]) -> None:
        """Replace what this stage keeps in the session; the executor saves it."""
        exchange.session.set(self.name, values)

    async def aclose(self) -> None:
        """Release what `__init__` acquired (files, pools); called once, when the graph
        this instance belongs to is retired, after its last request finished."""


HOOKS = {
    "on_request": inspect.iscoroutinefunction,
    "on_events": inspect.isasyncgenfunction,
    "on_client_events": inspect.isasyncgenfunction,
}
HOOK_KINDS = {
    "on_request": "an async def",
    "on_events": "an async generator",
    "on_client_events": "an async generator",
}


def _check_stage(where: str, cls: type) -> None:
    """A stage's own rules: known operations, and the hooks of the right kind."""
    unknown = set(getattr(cls, "operations", ())) - set(OPERATIONS)
    if unknown:
        raise RegistryError(f"{where}: unknown operations {sorted(unknown)} (known: {OPERATIONS})")
    hooks = [hook for hook in HOOKS if hook in vars(cls)]
    if "on_client_events" in hooks and not has_hook(cls, "on_events"):
        raise RegistryError(f"{where}: on_client_events needs an on_events hook")
    if not hooks:
        raise RegistryError(f"{where}: a stage needs an on_request or on_events hook")
    for hook in hooks:
        if not HOOKS[hook](vars(cls)[hook]):
            raise RegistryError(f"{where}: {hook} must be {HOOK_KINDS[hook]}")


STAGES: Registry[type[Stage]] = Registry("stage", Stage, BaseModel, ENTRY_POINT_GROUP, _check_stage)
S = TypeVar("S", bound=type[Stage])


def stage(name: str) -> Callable[[S], S]:
    """Register a stage class under `name`, refusing classes that break the stage rules."""
    return STAGES.register(name)  # type: ignore[return-value]


def registry() -> dict[str, type[Stage]]:
    """All registered stage kinds by name, loading entry-point plug-ins on first use."""
    return STAGES.all()


def has_hook(stage_obj: Stage | type[Stage], hook: str) -> bool:
    """Whether a stage (class or instance) defines `hook` (``on_request`` or ``on_events``)."""
    cls = stage_obj if isinstance(stage_obj, type) else type(stage_obj)
    return callable(getattr(cls, hook, None))


async def passthrough(events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """Yield events unchanged (a helper for stage authors)."""
    async for event in events:
        yield event


__all__ = [
    "OPERATIONS",
    "Answer",
    "Call",
    "CutReason",
    "Event",
    "Exchange",
    "HoldBack",
    "ModelPattern",
    "Operation",
    "RegexPattern",
    "RegistryError",
    "Session",
    "Stage",
    "StreamCutter",
    "StrictModel",
    "Target",
    "ToolCall",
    "ToolCallAssembler",
    "compile_pattern",
    "has_hook",
    "passthrough",
    "registry",
    "stage",
]
