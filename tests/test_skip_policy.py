"""The suite's skip policy (tests/plugins/skip_policy.py) on a small suite of its own, run by a
real pytest: every kind of skip counted at the end, and under `CI=true` each one a failure.
And the browser tests look for chromium where scripts/test.sh does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.chromium import chromium_path
from tests.plugins.skip_policy import ci_mode

ROOT = Path(__file__).resolve().parents[1]

SUITE = {
    "test_kinds.py": """
import pytest

def test_passes():
    pass

def test_skips_itself():
    pytest.skip("no browser here")

@pytest.fixture
def server():
    pytest.skip("no PostgreSQL here")

def test_needs_a_server(server):
    pass

@pytest.mark.xfail(reason="a known bug, not a skip")
def test_known_bug():
    assert False
""",
    "test_collection.py": """
import pytest
pytest.importorskip("a_module_that_is_not_installed")

def test_never_collected():
    pass
""",
}


def _run(tmp_path: Path, *, ci: str | None, workers: int = 0) -> subprocess.CompletedProcess[str]:
    """The small suite in a real pytest; `workers` > 0 runs it on pytest-xdist workers, as
    scripts/test.sh runs the project's suite (the controller must still count every skip)."""
    for name, text in SUITE.items():
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(ROOT)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the installed plugins only slow this down
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "tests.plugins.skip_policy",
        "-p",
        "no:cacheprovider",
    ]
    cmd += ["-q", "--continue-on-collection-errors", "-o", "addopts=", "--rootdir", str(tmp_path)]
    if workers:
        cmd += ["-p", "xdist.plugin", "-n", str(workers)]
    return subprocess.run(
        [*cmd, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )


@pytest.mark.parametrize("workers", [0, 2], ids=["one-process", "xdist"])
def test_skips_are_counted_and_allowed_outside_ci(tmp_path: Path, workers: int) -> None:
    r = _run(tmp_path, ci=None, workers=workers)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "skipped tests: 3 (skips allowed (CI is not true))" in r.stdout, r.stdout
    assert re.search(r"1 passed, 3 skipped, 1 xfailed", r.stdout), r.stdout


@pytest.mark.parametrize("workers", [0, 2], ids=["one-process", "xdist"])
def test_under_ci_every_skip_fails_the_run(tmp_path: Path, workers: int) -> None:
    r = _run(tmp_path, ci="true", workers=workers)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert "skipped tests: 3 (CI=true: skips fail the run)" in out, out
    assert "FAILED test_kinds.py::test_skips_itself - skipped in call under CI=true" in out, out
    assert "ERROR test_kinds.py::test_needs_a_server - skipped in setup under CI=true" in out, out
    assert "ERROR test_collection.py - skipped at collection under CI=true" in out, out
    assert "no PostgreSQL here" in out and "a_module_that_is_not_installed" in out
    assert re.search(r"1 failed, 1 passed, 1 xfailed, 2 errors", out), out  # xfail is no skip


def test_what_counts_as_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, expected in [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("false", False),
        ("", False),
    ]:
        monkeypatch.setenv("CI", value)
        assert ci_mode() is expected, value
    monkeypatch.delenv("CI")
    assert not ci_mode()


def test_browser_tests_find_chromium_as_the_test_script_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chromium the script accepts (`command -v chromium`) is the one the tests launch."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "command -v chromium" in script
    fake = tmp_path / "bin" / "chromium"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    path = f"{fake.parent}:/usr/bin:/bin"
    shell = subprocess.run(
        ["bash", "-c", "command -v chromium"], capture_output=True, text=True, env={"PATH": path}
    )
    monkeypatch.setenv("PATH", path)
    assert chromium_path() == shell.stdout.strip() == str(fake)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert chromium_path() is None
