"""The browser tests' report: with COPROD_AXE_TABLE=1, axe-core's figures for every page state
(tests/browser/axe_table.py)."""

from __future__ import annotations

from typing import Any

from tests.browser import axe_table


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = axe_table.table()
    if lines and axe_table.wanted():
        terminalreporter.section("axe-core: WCAG 2.2 AA violations per page state and width")
        for line in lines:
            terminalreporter.write_line(line)
