"""Graph's error answer, as a Python exception the HTTP layer turns into JSON."""

from __future__ import annotations

__all__ = ["GraphFault"]


class GraphFault(Exception):
    """An answer in Graph's error shape: `{"error": {"code", "message", "innerError"}}`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def bad_request(message: str, code: str = "invalidRequest") -> GraphFault:
    return GraphFault(400, code, message)


def not_found(message: str = "The resource could not be found.", code: str = "itemNotFound") -> GraphFault:
    return GraphFault(404, code, message)
