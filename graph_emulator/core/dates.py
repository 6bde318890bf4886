"""Graph's date-time form, as every service of the emulator writes it."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso"]


def iso(ts: float) -> str:
    """Graph's date-time form: UTC, seconds, `Z`."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
