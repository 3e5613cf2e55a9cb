"""Counts a test wants in every CI log (registered by tests/conftest.py): `report(line)` keeps
the line, and the run's terminal summary prints them all, with or without `-s`. For tests
whose worth lies in how much they checked (sessions compared, faults injected)."""

from __future__ import annotations

from typing import Any

_LINES: list[str] = []


def report(line: str) -> None:
    """Print `line` now (seen with -s) and again in the run's terminal summary."""
    print(line)
    _LINES.append(line.strip())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _LINES:
        terminalreporter.write_sep("-", "counts reported by tests")
        for line in _LINES:
            terminalreporter.write_line(line)
