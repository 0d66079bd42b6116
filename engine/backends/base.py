"""What a backend connector is: a configured upstream that turns a request into events."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from typing import Any, ClassVar

import httpx
from pydantic import Field, model_validator

from engine.config import StrictModel
from engine.logs import register_secret
from engine.model import ChatRequest, Event
from engine.notes import Dropped

_CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|cookie", re.IGNORECASE)


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
        client would send: the whitespace around keys and header values is not theirs."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("api_key"), str):
            data["api_key"] = data["api_key"].strip()
        if isinstance(data.get("headers"), dict):
            data["headers"] = {
                k: v.strip() if isinstance(v, str) else v for k, v in data["headers"].items()
            }
        return data


class Backend(ABC):
    """A named, configured upstream. Instances are built once per graph load."""

    kind: ClassVar[str]
    Config: ClassVar[type[BackendConfig]]
    # Whether it can continue a response the provider holds (`ChatRequest.continuation`).
    continues_responses: ClassVar[bool] = False

    def __init__(self, name: str, config: BackendConfig) -> None:
        self.name = name
        self.config = config
        register_secret(getattr(config, "api_key", None))
        for header, value in config.headers.items():
            if _CREDENTIAL_HEADER.search(header):
                register_secret(value)
        base_url = getattr(config, "base_url", None)
        if isinstance(base_url, str):  # a password in the URL's userinfo
            register_secret(httpx.URL(base_url).password)
        self.timeout = httpx.Timeout(config.timeout_secs, connect=config.connect_timeout_secs)

    def models(self) -> list[str]:
        """The model names the routing file declares for this backend."""
        return list(self.config.models)

    def can_list_models(self) -> bool:
        """Whether asking the upstream for its models can work: it has a key, or it is a
        server of the user's own (a base_url other than the kind's default)."""
        base_url = getattr(self.config, "base_url", None)
        if base_url is None:
            return False
        default = type(self.config).model_fields["base_url"].default
        return bool(getattr(self.config, "api_key", None)) or base_url != default

    async def list_models(self, http: httpx.AsyncClient) -> list[str]:
        """The model names the upstream's own list endpoint reports ([] when it has none).

        Raises ProxyError when the upstream cannot be asked; callers treat that as
        "unknown for now", never as an error of theirs.
        """
        return []

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
