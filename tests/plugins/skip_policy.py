"""Skips are visible, and under `CI=true` they fail the run (registered by tests/conftest.py).

A test that needs Debian's chromium, a PostgreSQL server or Ray skips where they are missing,
which is convenient on a laptop and dangerous in CI: a runner without them would pass while
testing none of it. So when the environment says `CI=true` (what `.ci/run` and hosted CI set),
every skip, whether raised by a test, a fixture or at collection (`pytest.importorskip`), is
reported as a failure naming the reason; and every run ends with one line counting the skips.

The suite runs on pytest-xdist workers (scripts/test.sh): a worker turns the skip into a
failure, and the controller, which prints the summary, recognises those failures by their
message when the reports reach it (the count is kept where the reports are logged, so it is
the same with or without xdist).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest


def ci_mode() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


MARK = "under CI=true, which fails the run: "


def _fail(rep: Any, where: str) -> None:
    reason = _reason(rep.longrepr)
    rep.outcome = "failed"
    rep.longrepr = f"skipped {where} {MARK}{reason}"


def _failed_as_skip(rep: Any) -> bool:
    return bool(rep.failed) and isinstance(rep.longrepr, str) and MARK in rep.longrepr


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any]:
    rep = yield
    if ci_mode() and rep.skipped and not hasattr(rep, "wasxfail"):
        _fail(rep, f"in {rep.when}")
    return rep


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[Any]:
    rep = yield
    if ci_mode() and rep.skipped:
        _fail(rep, "at collection")
    return rep


_FAILED_AS_SKIPS: list[str] = []  # node ids, from the reports this process logs


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _failed_as_skip(report):
        _FAILED_AS_SKIPS.append(report.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_collectreport(report: pytest.CollectReport) -> None:
    if _failed_as_skip(report):
        _FAILED_AS_SKIPS.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    skipped = len(terminalreporter.stats.get("skipped", []))
    failed = _FAILED_AS_SKIPS
    mode = "CI=true: skips fail the run" if ci_mode() else "skips allowed (CI is not true)"
    line = f"skipped tests: {skipped + len(failed)} ({mode})"
    if failed:
        line += f"; failed as skips: {', '.join(failed[:5])}" + (" ..." if len(failed) > 5 else "")
    terminalreporter.write_line(line, red=bool(failed), yellow=bool(skipped) and not failed)
