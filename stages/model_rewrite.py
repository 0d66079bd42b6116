"""Model aliases and per-model parameter overrides."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from engine.config import ModelPattern, StrictModel, compile_pattern
from engine.model import Reasoning
from engine.stage import Answer, Exchange, Stage, stage

_GLOB_CHARS = set("*?[")


class Overrides(StrictModel):
    """Request parameters to set when a rule matches."""

    temperature: float | None = Field(default=None, description="sampling temperature")
    top_p: float | None = Field(default=None, description="nucleus sampling mass")
    top_k: int | None = Field(default=None, description="top-k sampling")
    max_tokens: int | None = Field(default=None, gt=0, description="output token limit")
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = Field(
        default=None, description="reasoning effort"
    )


class Rule(StrictModel):
    """Rewrite models matching `from` to `to`, and set parameters."""

    from_: ModelPattern = Field(alias="from", description="glob or `{regex: …}` on the model")
    to: str | None = Field(
        default=None,
        description="the new model (`BACKEND:MODEL` or a bare model); `\\1` refers to regex groups",
    )
    set: Overrides = Field(default_factory=Overrides, description="parameters to set")


_GROUP_REFERENCE = re.compile(r"\\(\d+)|\\g<(\w+)>")


def _check_group_references(to: str, matcher: re.Pattern[str]) -> None:
    """Refuse, at load, a `to` naming a group its pattern does not have (else every
    matching request would fail)."""
    for number, name in _GROUP_REFERENCE.findall(to):
        ref = number or name
        exists = int(ref) <= matcher.groups if ref.isdigit() else ref in matcher.groupindex
        if not exists:
            raise ValueError(f"`to` refers to group {ref!r}, which `from` does not have")


@stage("model_rewrite")
class ModelRewrite(Stage):
    """Rewrites the request's model by the first matching rule and applies its parameters.

    Rules match the model by glob or regex; `to` may use the regex's groups. Literal `from`
    names are advertised as model aliases in `GET /v1/models`.
    """

    class Config(StrictModel):
        """Rewrite rules, tried in order; the first match applies."""

        rules: list[Rule] = Field(min_length=1, description="tried in order; first match wins")

    config: Config
    operations = frozenset({"chat", "count_tokens"})

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._rules: list[tuple[re.Pattern[str], Rule, dict[str, Any]]] = []
        # Precomputed per rule: the sampling fields to set (reasoning effort is separate).
        for rule in config.rules:
            pattern = rule.from_
            try:
                matcher = compile_pattern(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
            sampling = rule.set.model_dump(exclude_none=True, exclude={"reasoning_effort"})
            if rule.to is not None:
                _check_group_references(rule.to, matcher)
            self._rules.append((matcher, rule, sampling))

    def models(self) -> list[str]:
        """Literal `from` names: they are aliases a client may ask for."""
        return [
            r.from_
            for r in self.config.rules
            if isinstance(r.from_, str) and not _GLOB_CHARS & set(r.from_)
        ]

    async def on_request(self, ctx: Exchange) -> Answer | None:
        """Apply the first rule matching the request's model."""
        request = ctx.request
        for matcher, rule, sampling in self._rules:
            match = matcher.match(request.model)
            if match is None:
                continue
            update: dict[str, Any] = {}
            if rule.to is not None:
                update["model"] = match.expand(rule.to) if match.re.groups else rule.to
            if sampling:
                update["sampling"] = request.sampling.model_copy(update=sampling)
            if rule.set.reasoning_effort is not None:
                reasoning = request.reasoning or Reasoning()
                update["reasoning"] = reasoning.model_copy(
                    update={"effort": rule.set.reasoning_effort}
                )
            ctx.request = request.model_copy(update=update)
            break
        return None
