"""Hosted tools across protocols: a web search declared in one protocol, for another.

Every provider that runs a web search itself declares it differently (Anthropic's
`web_search_20250305` server tool, the Responses API's `web_search` tool, Gemini's
`googleSearch`); :func:`web_search_options` reads the options they share out of any of
them, and each codec writes its own declaration from those.
"""

from __future__ import annotations

from typing import Any

from engine.model import HostedTool
from engine.notes import Dropped

_LOCATION_KEYS = ("city", "region", "country", "timezone")


def web_search_options(tool: HostedTool) -> dict[str, Any]:
    """`allowed_domains`, `blocked_domains` and `user_location` (city, region, country,
    timezone) of a web search tool, as far as its declaration says them."""
    data = tool.data
    out: dict[str, Any] = {}
    filters = data.get("filters")
    filters = filters if isinstance(filters, dict) else {}
    for key in ("allowed_domains", "blocked_domains"):
        value = data.get(key, filters.get(key))
        if isinstance(value, list) and value:
            out[key] = [str(domain) for domain in value]
    location = data.get("user_location")
    if isinstance(location, dict) and isinstance(location.get("approximate"), dict):
        location = location["approximate"]  # Chat Completions' `web_search_options`
    if isinstance(location, dict):
        found = {k: location[k] for k in _LOCATION_KEYS if isinstance(location.get(k), str)}
        if found:
            out["user_location"] = found
    if isinstance(data.get("max_uses"), int):
        out["max_uses"] = data["max_uses"]
    return out


def offline_only(tool: HostedTool) -> bool:
    """Whether a web search may only read the provider's cached index (the Responses
    API's `external_web_access: false`): another provider's live search is not that."""
    return tool.data.get("external_web_access") is False


def split(
    tools: list[HostedTool], protocol: str
) -> tuple[list[dict[str, Any]], list[HostedTool], list[HostedTool]]:
    """`tools` for a backend of `protocol`: the declarations it takes verbatim, the web
    searches it must declare its own way, and the rest, which it cannot run."""
    own = [t.data for t in tools if t.protocol == protocol]
    foreign = [t for t in tools if t.protocol != protocol]
    searches = [t for t in foreign if t.kind == "web_search" and not offline_only(t)]
    others = [t for t in foreign if t not in searches]
    return own, searches, others


def unwritten(options: dict[str, Any], written: set[str], dropped: Dropped | None) -> None:
    """Note the web search options a backend's own declaration has no place for."""
    if dropped is not None:
        dropped.add(*(f"web_search {key}" for key in options if key not in written))
