"""The in-chat commands: what each does to the session's state, and what it answers.

A handler gets a `Command` (the exchange, the arguments, the session's command state to
change) and returns the reply. Bad input is answered, never raised: the reply says what
is wrong and how to write it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from engine import parameters
from engine.diagnostics import did_you_mean
from engine.exchange import Exchange, Target
from engine.parameters import ParameterError
from engine.sessions import SWITCH_NAMES
from stages.command_arguments import Arguments

# Keys of the session's command state (the `commands` namespace).
MODEL_KEY = "model"  # "BACKEND:MODEL[?key=value…]": every request goes there
BACKEND_KEY = "backend"  # a backend name: the client's model, on that backend
ONEOFF_KEY = "oneoff"  # "BACKEND:MODEL": the next request only
PARAMS_KEY = "params"  # {parameter: value}: set on every request
PREFIX_KEY = "prefix"  # what starts a command in this session
ROUTES_KEY = "routes"  # {name: ["BACKEND:MODEL", …]}: failover routes usable as models

SHORTCUTS = {"max": "high", "medium": "medium", "low": "low"}  # !/max → reasoning_effort=high
_ON = {"on", "true", "yes", "1", "enable", "enabled"}
_OFF = {"off", "false", "no", "0", "disable", "disabled"}


@dataclass
class Command:
    """One command being run: where, with what, and the session state it may change."""

    name: str
    arguments: Arguments | None  # None: written without parentheses
    exchange: Exchange
    state: dict[str, Any]  # the session's command state, a copy to change
    prefix: str  # what starts a command in this session
    route_prefix: str  # … and in the route's, without the session's own
    usages: list[str]
    switches: dict[str, bool] = field(default_factory=dict)  # the session's on/off switches

    @property
    def backends(self) -> frozenset[str]:
        return self.exchange.backends

    def keep(self, key: str, values: dict[str, Any]) -> None:
        """Keep `values` under `key` of the session's state; nothing, when it is empty."""
        if values:
            self.state[key] = values
        else:
            self.state.pop(key, None)

    def only(self) -> str | None:
        """The one positional argument, if that is all there is."""
        args = self.arguments
        if args and len(args.positional) == 1 and not args.named:
            return args.positional[0].strip()
        return None


Handler = Callable[[Command], Awaitable[str]]
HANDLERS: dict[str, tuple[Handler, str]] = {}


def command(name: str, usage: str) -> Callable[[Handler], Handler]:
    """Register `handler` as the command `name`, with its usage line for `!/help`."""

    def register(handler: Handler) -> Handler:
        HANDLERS[name] = (handler, usage)
        return handler

    return register


# --- helpers -----------------------------------------------------------------------------


def check_model(text: str, command: Command) -> str | None:
    """Why `text` is not a usable `BACKEND:MODEL[?params]` (None when it is)."""
    name, _, query = text.partition("?")
    backend, sep, model = name.partition(":")
    if not sep or not model:
        routes = command.state.get(ROUTES_KEY, {})
        if not sep and name in routes:
            return None if not query else "A route takes no parameters."
        listed = ", ".join(sorted(command.backends))
        return f"Write the model as BACKEND:MODEL (backends: {listed})."
    if backend not in command.backends:
        return _unknown_backend(backend, command.backends)
    try:
        parameters.split_selector(text)
    except ParameterError as exc:
        return f"{_capital(str(exc))}."
    return None


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _switch_value(text: str) -> bool | None:
    lowered = text.strip().lower()
    return True if lowered in _ON else False if lowered in _OFF else None


def _set_one(command: Command, key: str, value: str) -> str:
    """Set one `!/set` key; the reply line (saying what is wrong, when it is)."""
    name = key.strip().lower().replace("_", "-")
    if name == "model":
        return _set_model(command, value.strip())
    if name == "backend":
        return _set_backend(command, value.strip())
    if name == "command-prefix":
        prefix = value.strip()
        if not prefix or any(c.isspace() or c.isalnum() for c in prefix):
            return "A command prefix is one or more symbols, such as !/ or //."
        command.state[PREFIX_KEY] = prefix
        return f"Commands now start with {prefix} in this session."
    if name in SWITCH_NAMES:
        on = _switch_value(value)
        if on is None:
            return f"{name} is on or off, not {value.strip()!r}."
        command.switches[name] = on
        return f"{name} {'on' if on else 'off'} for this session."
    try:
        key, parsed = parameters.parse(name, value)
    except ParameterError as exc:
        known = ["model", "backend", *parameters.KINDS, "command-prefix", *SWITCH_NAMES]
        if str(exc).startswith("unknown"):
            hint = did_you_mean(name, known)
            return f"Unknown setting {name!r}." + (
                f" {_capital(hint)}" if hint else f" Settings: {', '.join(known)}."
            )
        return f"Not set: {exc}."
    params = dict(command.state.get(PARAMS_KEY, {}))
    params[key] = parsed
    if key == "reasoning_effort" and parsed != "none":
        params.pop("thinking_budget", None)  # `!/no-think`'s budget of 0 goes with it
    command.state[PARAMS_KEY] = params
    return f"{parameters.shown({key: parsed})} for this session."


def _set_model(command: Command, value: str) -> str:
    problem = check_model(value, command)
    if problem:
        return problem
    command.state[MODEL_KEY] = value
    command.state.pop(BACKEND_KEY, None)
    return f"Model set to {value} for this session."


def _set_backend(command: Command, value: str) -> str:
    if value not in command.backends:
        return _unknown_backend(value, command.backends)
    command.state[BACKEND_KEY] = value
    command.state.pop(MODEL_KEY, None)
    return f"Backend set to {value} for this session (the client's model, on {value})."


def _override(command: Command, key: str, what: str, set_to: Callable[[Command, str], str]) -> str:
    """`!/model`-like commands: show the override (no parentheses), clear it (empty
    ones) or set it (one value)."""
    if command.arguments is None:
        current = command.state.get(key)
        return (
            f"{_capital(what)} override: {current}." if current else f"No {what} override is set."
        )
    value = command.only()
    if value:
        return set_to(command, value)
    if command.arguments:
        return f"Give one {what}: {command.prefix}{command.name}(…)."
    command.state.pop(key, None)
    return f"{_capital(what)} override cleared."


def _unknown_backend(name: str, backends: frozenset[str]) -> str:
    hint = did_you_mean(name, backends)
    return f"Unknown backend {name!r}." + (
        f" {_capital(hint)}" if hint else f" Backends: {', '.join(sorted(backends))}."
    )


def _bad_targets(command: Command, targets: list[str]) -> str | None:
    """Why one of a session route's `targets` is not usable (None when all are)."""
    for target in targets:
        if ":" not in target.partition("?")[0]:
            return f"Write each target as BACKEND:MODEL, not {target!r}."
        problem = check_model(target, command)
        if problem:
            return problem
    return None


def _unset_one(command: Command, key: str) -> str:
    name = key.strip().lower().replace("_", "-")
    if name in ("model", "backend"):
        removed = command.state.pop(MODEL_KEY if name == "model" else BACKEND_KEY, None)
        return f"{_capital(name)} override cleared." if removed else f"No {name} override is set."
    if name == "command-prefix":
        command.state.pop(PREFIX_KEY, None)
        return f"Commands start with the route's prefix again ({command.route_prefix})."
    if name in SWITCH_NAMES:
        command.switches.pop(name, None)
        return f"{name} as the route configures it."
    key = parameters.name_of(name)
    params = dict(command.state.get(PARAMS_KEY, {}))
    if key not in params:
        known = ["model", "backend", *params, "command-prefix", *SWITCH_NAMES]
        hint = did_you_mean(name, known)
        return f"{name!r} is not set." + (f" {_capital(hint)}" if hint else "")
    del params[key]
    command.keep(PARAMS_KEY, params)
    return f"{key} unset: the client's own value again."


def _route_targets(command: Command) -> tuple[str | None, list[str], str | None]:
    """The route name and the targets a route command was given; the problem, if any."""
    args = command.arguments
    if not args or not args.positional or args.named:
        return None, [], "Give the route's name first: !/route-append(NAME, BACKEND:MODEL)."
    name, *targets = (a.strip() for a in args.positional)
    if not re.fullmatch(r"[\w.-]+", name):
        return None, [], f"A route's name is a plain word, not {name!r}."
    return name, targets, None


def _described(target: Target) -> str:
    """A target, with the parameters its selector sets."""
    return f"{target} with {parameters.shown(target.params)}" if target.params else str(target)


# --- the commands ------------------------------------------------------------------------


@command("help", "!/help: list the commands")
async def _help(command: Command) -> str:
    usages = [usage.replace("!/", command.prefix) for usage in command.usages]
    return "Commands:\n" + "\n".join(f"- {u}" for u in usages)


@command("hello", "!/hello: check that the proxy hears you")
async def _hello(command: Command) -> str:
    ctx = command.exchange
    route = f" on route {ctx.route}" if ctx.route else ""
    return (
        f"Hello from the engine proxy{route}, session {ctx.session.id}. "
        f"{command.prefix}help lists the commands."
    )


@command(
    "model",
    "!/model(BACKEND:MODEL): use this model for the session; "
    "!/model(): back to the client's model; !/model: show it",
)
async def _model(command: Command) -> str:
    return _override(command, MODEL_KEY, "model", _set_model)


@command(
    "backend",
    "!/backend(NAME): the client's model, on that backend; !/backend(): back to the route's",
)
async def _backend(command: Command) -> str:
    return _override(command, BACKEND_KEY, "backend", _set_backend)


@command("oneoff", "!/oneoff(BACKEND:MODEL): the next request only goes to this model")
async def _oneoff(command: Command) -> str:
    value = command.only()
    if not value:
        return "Give the model: !/oneoff(BACKEND:MODEL)."
    problem = check_model(value, command)
    if problem:
        return problem
    command.state[ONEOFF_KEY] = value
    return f"The next request goes to {value}."


@command(
    "set",
    "!/set(key=value, …): model, backend, temperature, top_p, top_k, max_tokens, seed, "
    "reasoning-effort, thinking-budget, command-prefix, loop-detection, redaction, "
    "tool-safety (on/off)",
)
async def _set(command: Command) -> str:
    args = command.arguments
    if not args or not args.named or args.positional:
        return "Write !/set(key=value, …), for example !/set(temperature=0.2)."
    return "\n".join(_set_one(command, key, value) for key, value in args.named.items())


@command("unset", "!/unset(key, …): back to the client's (or the route's) value")
async def _unset(command: Command) -> str:
    args = command.arguments
    if not args or not args.positional or args.named:
        return "Write !/unset(key), for example !/unset(temperature)."
    return "\n".join(_unset_one(command, key) for key in args.positional)


@command("temperature", "!/temperature(x): the sampling temperature, 0 to 2")
async def _temperature(command: Command) -> str:
    value = command.only()
    if value is None:
        current = command.state.get(PARAMS_KEY, {}).get("temperature")
        return f"Temperature: {current:g}." if current is not None else "No temperature is set."
    return _set_one(command, "temperature", value)


async def _effort(command: Command, effort: str) -> str:
    return _set_one(command, "reasoning_effort", effort)


for _name, _level in SHORTCUTS.items():

    async def _shortcut(command: Command, level: str = _level) -> str:
        return await _effort(command, level)

    command(_name, f"!/{_name}: reasoning effort {_level}")(_shortcut)


@command("no-think", "!/no-think: no reasoning")
async def _no_think(command: Command) -> str:
    reply = _set_one(command, "reasoning_effort", "none")
    command.state[PARAMS_KEY] = {**command.state[PARAMS_KEY], "thinking_budget": 0}
    return reply


@command("status", "!/status: where this session's requests go, with what, and why")
async def _status(command: Command) -> str:
    ctx = command.exchange
    state = command.state
    lines = []
    route = ctx.route or "?"
    lines.append(f"Route: {route} (strategy {ctx.route_strategy or 'single'}).")
    asked = ctx.request.model
    model, why = asked, "the client's model"
    if state.get(ONEOFF_KEY):
        model, why = state[ONEOFF_KEY], "!/oneoff, for the next request"
    elif state.get(MODEL_KEY):
        model, why = state[MODEL_KEY], "!/model"
    elif state.get(BACKEND_KEY):
        model, why = f"{state[BACKEND_KEY]}:{asked.partition(':')[2] or asked}", "!/backend"
    routes = state.get(ROUTES_KEY, {})
    if model in routes:
        targets = ", ".join(routes[model]) or "(no targets yet)"
        lines.append(f"Model: session route {model} (failover: {targets}), by {why}.")
    else:
        lines.append(f"Model: {model}, by {why}.")
        if ctx.resolve is not None:
            try:
                targets = ", ".join(map(_described, ctx.resolve(model)))
            except Exception as exc:  # a model the route cannot send anywhere
                targets = f"nowhere: {exc}"
            lines.append(f"Targets: {targets}.")
    params = state.get(PARAMS_KEY)
    if params:
        lines.append(f"Session parameters: {parameters.shown(params)} (over the client's).")
    if command.switches:
        shown = ", ".join(f"{k} {'on' if v else 'off'}" for k, v in command.switches.items())
        lines.append(f"Switches: {shown}.")
    if state.get(PREFIX_KEY):
        lines.append(f"Command prefix: {state[PREFIX_KEY]}.")
    if routes:
        lines.append(f"Session routes: {', '.join(sorted(routes))}.")
    return "\n".join(lines)


@command("route-create", "!/route-create(NAME): a failover route for this session, used as a model")
async def _route_create(command: Command) -> str:
    name, targets, problem = _route_targets(command)
    if problem or name is None:
        return problem or ""
    routes = dict(command.state.get(ROUTES_KEY, {}))
    if name in routes:
        return f"Route {name} exists: {', '.join(routes[name]) or 'no targets'}."
    problem = _bad_targets(command, targets)
    if problem:
        return problem
    routes[name] = targets
    command.state[ROUTES_KEY] = routes
    return f"Route {name} created; use it as the model {name!r}, or !/model({name})."


async def _route_add(command: Command, *, first: bool) -> str:
    name, targets, problem = _route_targets(command)
    if problem or name is None:
        return problem or ""
    if not targets:
        return f"Give the targets too: !/route-{'prepend' if first else 'append'}({name}, B:M)."
    routes = dict(command.state.get(ROUTES_KEY, {}))
    if name not in routes:
        return f"No route {name}: create it with !/route-create({name})."
    problem = _bad_targets(command, targets)
    if problem:
        return problem
    routes[name] = [*targets, *routes[name]] if first else [*routes[name], *targets]
    command.state[ROUTES_KEY] = routes
    return f"Route {name}: {', '.join(routes[name])}."


@command("route-append", "!/route-append(NAME, BACKEND:MODEL, …): add targets at the end")
async def _route_append(command: Command) -> str:
    return await _route_add(command, first=False)


@command("route-prepend", "!/route-prepend(NAME, BACKEND:MODEL, …): add targets first")
async def _route_prepend(command: Command) -> str:
    return await _route_add(command, first=True)


@command("route-list", "!/route-list: this session's routes")
async def _route_list(command: Command) -> str:
    routes = command.state.get(ROUTES_KEY, {})
    if not routes:
        return "No session routes. Create one with !/route-create(NAME)."
    return "Session routes:\n" + "\n".join(
        f"- {name}: {', '.join(targets) or 'no targets'}"
        for name, targets in sorted(routes.items())
    )


@command("route-delete", "!/route-delete(NAME): forget a session route")
async def _route_delete(command: Command) -> str:
    name = command.only()
    routes = dict(command.state.get(ROUTES_KEY, {}))
    if not name or name not in routes:
        return f"No route {name!r}." + (f" Routes: {', '.join(sorted(routes))}." if routes else "")
    del routes[name]
    command.keep(ROUTES_KEY, routes)
    for key in (MODEL_KEY, ONEOFF_KEY):
        if command.state.get(key) == name:
            command.state.pop(key)
    return f"Route {name} deleted."
