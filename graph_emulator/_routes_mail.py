"""Mail routes: sendMail (JSON and MIME) and the sender's Sent Items."""

from __future__ import annotations

from graph_emulator._backend import Backend
from graph_emulator._http import Route

__all__ = ["mail_routes"]


def mail_routes(backend: Backend) -> list[Route]:
    """Mail, served from `backend.mail`."""
    return []
