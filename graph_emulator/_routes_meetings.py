"""Online meeting routes: createOrGet, get (and `$filter` on JoinWebUrl), update and delete."""

from __future__ import annotations

from graph_emulator._backend import Backend
from graph_emulator._http import Route

__all__ = ["meeting_routes"]


def meeting_routes(backend: Backend) -> list[Route]:
    """Online meetings, served from `backend.meetings`."""
    return []
