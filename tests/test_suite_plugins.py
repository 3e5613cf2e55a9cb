"""The plugins that let the suite run on pytest-xdist workers (tests/plugins/counts.py and
tests/plugins/schedule.py), each on a small suite of its own run by a real pytest, with and
without workers: counts reported inside tests reach the final summary, long tests are handed
out first, a module's xdist group stays together, and llama.cpp gets one core per worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugins.schedule import estimate_s

ROOT = Path(__file__).resolve().parents[1]

SUITE = {
    "test_counts.py": """
from tests.plugins.counts import report

def test_a():
    report("alpha: 3 sessions compared, 0 mismatches")

def test_b():
    report("beta: 7 faults injected")
""",
    "test_order.py": """
import os
import pytest

def test_short():
    pass

@pytest.mark.xdist_group("grp")
def test_grouped_1():
    pass

def test_threads():
    assert os.environ.get("SIMGAP_LOCAL_THREADS", "unset") == os.environ["EXPECT_THREADS"]

@pytest.mark.xdist_group("grp")
def test_grouped_2():
    pass

def test_long():
    pass
""",
}


def _run(tmp_path: Path, *args: str, expect_threads: str = "") -> subprocess.CompletedProcess[str]:
    for name, text in SUITE.items():
        (tmp_path / name).write_text(text)
    # this suite may itself run on an xdist worker: nothing of that reaches the small suite
    drop = ("CI", "SIMGAP_LOCAL_THREADS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["EXPECT_THREADS"] = expect_threads
    cmd = [sys.executable, "-m", "pytest", "-p", "tests.plugins.counts"]
    cmd += ["-p", "tests.plugins.schedule", "-p", "xdist.plugin", "-p", "no:cacheprovider"]
    cmd += ["-o", "addopts=", "--rootdir", str(tmp_path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_counts_reach_the_summary_with_and_without_workers(tmp_path: Path, workers: str) -> None:
    r = _run(tmp_path, "-q", "-n", workers, "--dist", "loadgroup", "test_counts.py")
    assert r.returncode == 0, r.stdout + r.stderr
    summary = r.stdout.split("counts reported by tests", 1)
    assert len(summary) == 2, r.stdout
    assert "alpha: 3 sessions compared, 0 mismatches" in summary[1]
    assert "beta: 7 faults injected" in summary[1]


def test_long_tests_first_groups_together(tmp_path: Path) -> None:
    assert estimate_s("tests/sessions/test_ray_cluster.py::test_x") == 240
    assert estimate_s("tests/nothing.py::test_x") == 0
    # estimates keyed by the small suite's node ids (its rootdir is tmp_path)
    conftest = tmp_path / "conftest.py"
    conftest.write_text(
        "from tests.plugins.schedule import ESTIMATES_S\n"
        "ESTIMATES_S['test_order.py::test_long'] = 50\n"
        "ESTIMATES_S['test_order.py::test_grouped_2'] = 30\n"
    )
    r = _run(tmp_path, "--collect-only", "-q", "test_order.py")
    assert r.returncode == 0, r.stdout + r.stderr
    order = [ln.split("::")[1] for ln in r.stdout.splitlines() if "::" in ln]
    # 50 s, then the group (0 + 30 s, its tests together, in file order), then the rest as
    # collected
    assert order == [
        "test_long",
        "test_grouped_1",
        "test_grouped_2",
        "test_short",
        "test_threads",
    ], order


def test_llama_threads_are_one_core_per_worker(tmp_path: Path) -> None:
    per_worker = str(max(1, len(os.sched_getaffinity(0)) // 2))
    r = _run(tmp_path, "-n", "2", "test_order.py::test_threads", expect_threads=per_worker)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr
    # without workers, llama.cpp's default (every core) is left alone
    one = _run(tmp_path, "-n", "0", "test_order.py::test_threads", expect_threads="unset")
    assert one.returncode == 0 and "1 passed" in one.stdout, one.stdout + one.stderr
