"""Is the app configured? The answer of `GET /api/health`, in Azure and under `python -m coprod serve`.

It names each missing or malformed setting and never shows a value, nor a path (a setting that names a missing
file is said to, no more: anyone can call it); it makes no Graph call (a health probe must not spend the tenant's
throttling allowance, nor wait for a token).
"""

from __future__ import annotations

from typing import Any

from config import SettingsError, load_settings

__all__ = ["health"]


def health() -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body): 200 `ok`, or 503 `misconfigured` with every problem."""
    try:
        load_settings()
    except SettingsError as exc:
        shown = exc.public_problems
        return 503, {"status": "misconfigured", "variable": shown[0][0], "problem": shown[0][1],
                     "problems": [{"variable": v, "problem": p} for v, p in shown]}
    return 200, {"status": "ok"}
