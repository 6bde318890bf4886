"""Small helpers for the plain English the service prints."""

from __future__ import annotations

__all__ = ["count"]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 item`, `2 items`, `0 items` (or the plural given)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
