"""The axe-core figures of every page state at each width the browser tests check, gathered as they run.

`tests/browser/test_pages_browser.py` records what axe-core finds in each state at 1280 px and at 320 px wide
(`record`), then fails on any problem. With `COPROD_AXE_TABLE=1` in the environment, pytest prints the figures as a
table at the end of the run (`tests/browser/conftest.py`), for comparing a change to the pages' look before and
after (docs/development.md, The pages' look):

    COPROD_AXE_TABLE=1 python -m pytest -q tests/browser/test_pages_browser.py -k "wcag or 320px"
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from tests.support.browser import AxeViolation

__all__ = ["WIDTHS", "record", "table", "wanted"]

WIDTHS = (1280, 320)  # a laptop's screen, and the same screen zoomed to 400% (WCAG 1.4.10 Reflow)
_FOUND: dict[str, dict[int, list[str]]] = {}  # state -> width -> the rules axe-core found broken there


def wanted() -> bool:
    return os.environ.get("COPROD_AXE_TABLE", "").strip().lower() in ("1", "true", "yes")


def record(state: str, width: int, violations: Sequence[AxeViolation]) -> None:
    _FOUND.setdefault(state, {})[width] = sorted(v.rule for v in violations)


def table() -> list[str]:
    """One line a state: its violations at each width (and which rules), then the totals; empty if none recorded."""
    if not _FOUND:
        return []
    name_width = max(len(state) for state in _FOUND)
    lines = [f"{'state':<{name_width}}  " + "  ".join(f"{w:>5} px" for w in WIDTHS) + "  rules"]
    totals = dict.fromkeys(WIDTHS, 0)
    for state, found in _FOUND.items():
        cells, rules = [], set()
        for width in WIDTHS:
            broken = found.get(width)
            cells.append(f"{len(broken):>8}" if broken is not None else f"{'-':>8}")
            totals[width] += len(broken or [])
            rules.update(broken or [])
        lines.append(f"{state:<{name_width}}  " + "  ".join(cells) + ("  " + ", ".join(sorted(rules)) if rules else ""))
    lines.append(f"{f'{len(_FOUND)} states, violations in all':<{name_width}}  "
                 + "  ".join(f"{totals[w]:>8}" for w in WIDTHS))
    return lines
