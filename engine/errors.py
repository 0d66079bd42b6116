"""Errors the engine raises; front-end codecs render them in their client's protocol shape."""

from __future__ import annotations


class ProxyError(Exception):
    """An error with an HTTP status, a stable code and a message meant for the client."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = "error",
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        # Response headers the client should see with the error (an upstream's Retry-After).
        self.headers = headers or {}
        # Set once the error is in the log (with its traceback): it is not logged again.
        self.logged = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r}, code={self.code!r})"


class BadRequest(ProxyError):
    """The client's request is malformed or invalid (400)."""

    def __init__(self, message: str, *, code: str = "invalid_request", param: str | None = None):
        super().__init__(400, message, code=code, param=param)


class NotFound(ProxyError):
    """No route, backend or model matches what the client asked for (404)."""

    def __init__(self, message: str, *, code: str = "not_found", param: str | None = None):
        super().__init__(404, message, code=code, param=param)


class UpstreamError(ProxyError):
    """The provider answered with an error; its status is passed through."""


class UpstreamUnavailable(ProxyError):
    """The provider could not be reached (502) or did not answer in time (504)."""

    retryable = True
