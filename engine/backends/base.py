"""What a backend connector is: a configured upstream that turns a request into events."""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from typing import Any, ClassVar

import httpx
from pydantic import Field, model_validator

from engine.config import StrictModel
from engine.logs import register_secret
from engine.model import ChatRequest, Event
from engine.notes import Dropped
from engine.response import direct_to

_CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|cookie", re.IGNORECASE)
_SCHEME = re.compile(r"^(?:bearer|basic|token|bot|digest)\s+", re.IGNORECASE)


class BackendConfig(StrictModel):
    """Settings every backend kind has."""

    kind: str = Field(description="the connector: openai, mock, …")
    models: list[str] = Field(
        default_factory=list, description="model names to list in `GET /v1/models`"
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra HTTP headers sent with every upstream request"
    )
    timeout_secs: float = Field(
        default=600.0, gt=0, description="longest wait for the upstream to send the next bytes"
    )
    connect_timeout_secs: float = Field(
        default=10.0, gt=0, description="longest wait to open a connection to the upstream"
    )

    @model_validator(mode="before")
    @classmethod
    def _strip_credentials(cls, data: Any) -> Any:
        """Keys read from files or `.env` files often end in a newline, which no HTTP
        client would send: the whitespace around keys and header values is not theirs.
        Header names are lower-cased, so that a configured one and the connector's own
        (`authorization`, `x-api-key`) are one header, not two."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("api_key"), str):
            data["api_key"] = data["api_key"].strip()
        if isinstance(data.get("headers"), dict):
            data["headers"] = {
                k.lower() if isinstance(k, str) else k: v.strip() if isinstance(v, str) else v
                for k, v in data["headers"].items()
            }
        return data

    @model_validator(mode="after")
    def _sendable(self) -> BackendConfig:
        """What goes on the wire must be something HTTP can carry, said at load time
        rather than as a failure of every request."""
        api_key = getattr(self, "api_key", None)
        if isinstance(api_key, str):
            _check_header_text(api_key, "api_key")
        for name, value in self.headers.items():
            _check_header_text(name, "headers", shown=f"the name {name!r}")
            _check_header_text(value, f"headers.{name}")
        base_url = getattr(self, "base_url", None)
        if isinstance(base_url, str):
            _check_url(base_url)
        return self


def _check_header_text(text: str, where: str, *, shown: str = "the value") -> None:
    """Refuse what an HTTP header cannot hold (the text may be a key: name the character
    and its position, not the text)."""
    for i, char in enumerate(text):
        if not (" " <= char <= "~"):
            raise ValueError(
                f"{where}: {shown} has {_described(char)} at position {i + 1}; "
                "HTTP headers carry printable ASCII only (was it pasted with it?)"
            )


def _described(char: str) -> str:
    """`U+200B (ZERO WIDTH SPACE)`, for messages about a character one cannot see."""
    return f"U+{ord(char):04X} ({unicodedata.name(char, 'a control character')})"


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"base_url {url!r} is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(
            f"base_url {url!r} must be an http:// or https:// URL with a host, such as "
            "https://api.openai.com/v1"
        )


class Backend(ABC):
    """A named, configured upstream. Instances are built once per graph load."""

    kind: ClassVar[str]
    Config: ClassVar[type[BackendConfig]]
    # Whether it can continue a response the provider holds (`ChatRequest.continuation`).
    continues_responses: ClassVar[bool] = False
    # The front-end whose stream its upstream speaks byte for byte: when a stream goes
    # straight to a client of that front-end (`relaying`), `send` may hand each upstream
    # message over whole (`engine.model.Relayed`) with its events.
    relays: ClassVar[str | None] = None

    def __init__(self, name: str, config: BackendConfig) -> None:
        self.name = name
        self.config = config
        register_secret(getattr(config, "api_key", None))
        for header, value in config.headers.items():
            if _CREDENTIAL_HEADER.search(header):
                register_secret(value)
                register_secret(_SCHEME.sub("", value))  # the token an upstream may echo
        base_url = getattr(config, "base_url", None)
        if isinstance(base_url, str):  # a password in the URL's userinfo
            register_secret(httpx.URL(base_url).password)
        self.timeout = httpx.Timeout(config.timeout_secs, connect=config.connect_timeout_secs)

    def models(self) -> list[str]:
        """The model names the routing file declares for this backend."""
        return list(self.config.models)

    def can_list_models(self) -> bool:
        """Whether asking the upstream for its models can work: it has a key (`api_key`
        or a credential header), or it is a server of the user's own (a base_url other
        than the kind's default)."""
        base_url = getattr(self.config, "base_url", None)
        if base_url is None:
            return False
        default = type(self.config).model_fields["base_url"].default
        keyed = bool(getattr(self.config, "api_key", None)) or any(
            _CREDENTIAL_HEADER.search(name) for name in self.config.headers
        )
        return keyed or base_url != default

    async def list_models(self, http: httpx.AsyncClient) -> list[str]:
        """The model names the upstream's own list endpoint reports ([] when it has none).

        Raises ProxyError when the upstream cannot be asked; callers treat that as
        "unknown for now", never as an error of theirs.
        """
        return []

    async def count_tokens(
        self, request: ChatRequest, model: str, http: httpx.AsyncClient
    ) -> int | None:
        """How many input tokens the upstream counts in `request` (None: it cannot say,
        and the front-end estimates). Raises ProxyError when asking failed."""
        return None

    @abstractmethod
    def send(
        self,
        request: ChatRequest,
        model: str,
        http: httpx.AsyncClient,
        dropped: Dropped | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Ask the upstream for `model`; yield the response's events.

        Raises ProxyError (UpstreamError, UpstreamUnavailable) for failures before or
        during the response; streams when `request.stream` is true. What the upstream
        request leaves out of `request` is named in `dropped`.
        """

    def relaying(self) -> bool:
        """Whether the stream being started goes straight to a client of the front-end
        this backend `relays` (see `engine.response.direct_to`)."""
        return self.relays is not None and direct_to.get() == self.relays
