"""Counts a test wants in every CI log (registered by tests/conftest.py): `report(line)` keeps
the line, and the run's terminal summary prints them all, with or without `-s`. For tests
whose worth lies in how much they checked (sessions compared, faults injected).

The suite runs on pytest-xdist workers (scripts/test.sh), and only the controller prints the
summary: so a line travels with the report of the test phase that produced it (its
`user_properties`, which xdist sends to the controller), and the controller collects it from
there. Without xdist the same path is taken in one process.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

KEY = "simgap-count"
_PENDING: list[str] = []  # reported in this process, not yet attached to a report
_LINES: list[str] = []  # collected from reports (the controller's, or the only process's)


def report(line: str) -> None:
    """Print `line` now (seen with -s) and again in the run's terminal summary."""
    print(line)
    _PENDING.append(line.strip())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any]:
    rep = yield
    while _PENDING:
        rep.user_properties.append((KEY, _PENDING.pop(0)))
    return rep


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _LINES.extend(str(v) for k, v in report.user_properties if k == KEY)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = _LINES + _PENDING  # lines reported after the last test (one process only)
    if lines:
        terminalreporter.write_sep("-", "counts reported by tests")
        for line in lines:
            terminalreporter.write_line(line)
