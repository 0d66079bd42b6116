"""The shapes of common credentials, by name: what the log scrubber and `redact_secrets`
look for besides the secrets they are told.

Each shape is specific enough that ordinary text, code and identifiers do not match it
(a provider's key prefix and its length, or a structure such as a JWT's three parts or a
private key's armour). Every pattern is linear in its input: none can backtrack over a
long run. `detect-secrets` was measured for this and left: its line scan costs ~2.4 ms
for a 160-character line, and it knows neither Anthropic, Google nor current OpenAI keys.
"""

from __future__ import annotations

import re

# Not preceded by a character a key could continue with: `task-sk-…` is no key.
_START = r"(?<![A-Za-z0-9_-])"

SHAPES: dict[str, str] = {
    "anthropic": r"sk-ant-[A-Za-z0-9_-]{20,}",
    "openrouter": r"sk-or-v1-[A-Za-z0-9]{20,}",
    "openai": r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    "google": r"AIza[0-9A-Za-z_-]{35}",
    "github": r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
    "gitlab": r"glpat-[A-Za-z0-9_-]{20,}",
    "huggingface": r"hf_[A-Za-z0-9]{34,}",
    "aws": r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?![0-9A-Z])",
    "slack": r"(?:xox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_]+)",
    "stripe": r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}",
    "jwt": r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    "private_key": (
        r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
        r"[A-Za-z0-9+/=\s:,-]{0,16384}?-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
    ),
}


def shapes_pattern(names: list[str] | None = None) -> re.Pattern[str]:
    """One pattern for the shapes `names` (all by default, in the order above: the more
    specific first), each match's `lastgroup` naming its shape."""
    chosen = SHAPES if names is None else {name: SHAPES[name] for name in names}
    alternatives = "|".join(f"(?P<{name}>{shape})" for name, shape in chosen.items())
    return re.compile(f"{_START}(?:{alternatives})")


__all__ = ["SHAPES", "shapes_pattern"]
