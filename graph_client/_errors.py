"""Errors raised by the Graph client.

    GraphError                      anything that stops a Graph operation
    ├── TokenError                  the authority refused or could not be reached (msal)
    ├── GraphTransportError         no answer: connection, TLS, timeout
    ├── InvalidResponseError        an answer that is not Graph's (HTML from a proxy, cut-off JSON)
    └── GraphResponseError          Graph answered with an error status
        ├── BadRequestError         400
        ├── AuthenticationError     401 (after one fresh token)
        ├── ForbiddenError          403 (a permission is missing)
        ├── NotFoundError           404
        ├── ConflictError           409
        ├── GoneError               410 (a delta link too old: resync)
        ├── PreconditionFailedError 412 (the eTag changed under us)
        ├── ThrottledError          429 (still throttled after every retry)
        └── ServiceError            5xx (still failing after every retry)

Every error names the operation; a response error also its HTTP status,
Graph's error code and the request-id, which is what Microsoft support asks
for. Messages have email addresses masked: they end up in logs.
"""

from __future__ import annotations

import re

__all__ = [
    "AuthenticationError", "BadRequestError", "ConflictError", "ForbiddenError", "GoneError", "GraphError",
    "GraphResponseError", "GraphTransportError", "InvalidResponseError", "NotFoundError",
    "PreconditionFailedError", "ServiceError", "ThrottledError", "TokenError", "error_for_status", "mask",
]

_EMAIL = re.compile(r"[^\s'\"<>(),;:]+@[^\s'\"<>(),;:]+|[^\s'\"<>(),;:/?&=]+%40[^\s'\"<>(),;:/?&]+",
                    re.IGNORECASE)


def mask(text: str) -> str:
    """Text with email addresses (plain, or URL-encoded as `name%40domain`) replaced, safe for logs."""
    return _EMAIL.sub("<address>", text)


class GraphError(Exception):
    """A Graph operation failed. `operation` says which, in words."""

    def __init__(self, operation: str, detail: str) -> None:
        self.operation = operation
        self.detail = mask(detail)
        super().__init__(f"{operation}: {self.detail}")


class TokenError(GraphError):
    """No access token: `error` is the OAuth error (e.g. invalid_client), `aadsts` Entra's code."""

    def __init__(self, operation: str, error: str, description: str, correlation_id: str | None = None) -> None:
        self.error = error
        found = re.search(r"AADSTS\d+", description)
        self.aadsts = found.group(0) if found else None
        self.correlation_id = correlation_id
        first_line = description.strip().splitlines()[0] if description.strip() else ""
        first_line = re.sub(r"\s*Trace ID:.*", "", first_line)
        if error == UNREACHABLE:
            super().__init__(operation, f"cannot reach the token authority: {first_line}")
            return
        super().__init__(operation, f"the token authority refused: {error}: {first_line}"
                         + (f" (correlation id {correlation_id})" if correlation_id else ""))


UNREACHABLE = "unreachable"  # TokenError.error when no answer came


def reason(exc: BaseException) -> str:
    """The innermost reason of a connection failure (`Connection refused`, `Name or service not known`), not the
    paragraph requests and urllib3 wrap around it."""
    text = str(exc)
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return str(found[-1]).strip()
    for known in ("CERTIFICATE_VERIFY_FAILED", "timed out", "Read timed out"):
        if known in text:
            return "the certificate is not trusted (M365_CA_BUNDLE?)" if known.startswith("CERT") else "timed out"
    return f"{type(exc).__name__}: {text[:200]}"


class GraphTransportError(GraphError):
    """Graph could not be reached or did not answer in time."""

    def __init__(self, operation: str, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(operation, f"no answer from Graph ({type(cause).__name__}: {cause or 'no detail'})")


class InvalidResponseError(GraphError):
    """Graph's answer could not be read: not JSON, or not the expected shape."""

    def __init__(self, operation: str, status: int, content_type: str | None, problem: str,
                 request_id: str | None = None) -> None:
        self.status = status
        self.content_type = content_type
        self.request_id = request_id
        super().__init__(operation, f"HTTP {status}, an answer that is not valid Graph JSON "
                         f"({content_type or 'no content type'}): {problem}"
                         + (f" (request-id {request_id})" if request_id else ""))


class GraphResponseError(GraphError):
    """Graph answered with an error status."""

    def __init__(self, operation: str, status: int, code: str | None, message: str,
                 request_id: str | None, retry_after: float | None = None) -> None:
        self.status = status
        self.code = code
        self.message = mask(message)
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(operation, f"HTTP {status} {code or 'no error code'} "
                         f"(request-id {request_id or 'none'}): {self.message}")


class BadRequestError(GraphResponseError):
    """400: Graph refused the request as malformed."""


class AuthenticationError(GraphResponseError):
    """401: the token was refused even after a fresh one was fetched."""


class ForbiddenError(GraphResponseError):
    """403: the app registration lacks a permission (or admin consent)."""


class NotFoundError(GraphResponseError):
    """404: no such site, list, item, user or group."""


class ConflictError(GraphResponseError):
    """409: the thing already exists, or changed at the same time."""


class GoneError(GraphResponseError):
    """410: a delta link Graph no longer honours; start a new enumeration."""

    location: str | None = None


class PreconditionFailedError(GraphResponseError):
    """412: the item changed since it was read (eTag mismatch)."""


class ThrottledError(GraphResponseError):
    """429: still throttled when the retry budget ran out."""


class ServiceError(GraphResponseError):
    """5xx: Graph or the service behind it failed, still after every retry."""


_BY_STATUS: dict[int, type[GraphResponseError]] = {
    400: BadRequestError, 401: AuthenticationError, 403: ForbiddenError, 404: NotFoundError,
    409: ConflictError, 410: GoneError, 412: PreconditionFailedError, 429: ThrottledError,
}


def error_for_status(status: int) -> type[GraphResponseError]:
    if status >= 500:
        return ServiceError
    return _BY_STATUS.get(status, GraphResponseError)
