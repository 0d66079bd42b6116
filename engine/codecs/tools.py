"""Which tools a backend is offered, and a tool choice that still names one of them."""

from __future__ import annotations

from engine.model import ChatRequest
from engine.notes import Dropped


def offered(request: ChatRequest, dropped: Dropped | None, *, defers: bool = False) -> ChatRequest:
    """`request` as a backend sees it: without its deferred tools unless the backend
    `defers` them itself (tool search), a deferred tool the tool choice forces included,
    and no tool choice naming a tool that is not offered (it would be refused)."""
    choice = request.tool_choice
    forced = choice.name if choice is not None and choice.mode == "tool" else None
    tools = [t for t in request.tools if defers or not t.deferred or t.name == forced]
    if len(tools) < len(request.tools) and dropped is not None:
        dropped.add("deferred tools")
    if forced is not None and forced not in {t.name for t in tools}:
        if dropped is not None:
            dropped.add("tool_choice")
        choice = None
    if tools is request.tools or (
        len(tools) == len(request.tools) and choice is request.tool_choice
    ):
        return request
    return request.model_copy(update={"tools": tools, "tool_choice": choice})
