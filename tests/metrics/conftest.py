"""Shows the paper-mode differential test's counts at the end of every run (CI logs too),
not only when pytest is run with -s."""

from __future__ import annotations

import pytest

from tests.metrics.paper_check import SUMMARY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.write_sep("-", "paper mode vs the authors' reference scorer")
        for line in SUMMARY:
            terminalreporter.write_line(line)
