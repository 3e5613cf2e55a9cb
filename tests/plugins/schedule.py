"""How the suite shares a small machine (registered by tests/conftest.py).

scripts/test.sh runs the suite on pytest-xdist workers, one per core (`-n auto --dist
loadgroup --no-loadscope-reorder`). Two things make that pay on the 2-core machines CI uses:

* **Long tests first.** A worker takes the next test when it is free; if the four-minute Ray
  cluster test came last, one worker would run it alone at the end. So the collection is
  ordered longest first (longest-processing-time scheduling), from the estimates below: the
  `--durations` of a serial run on a 2-core CI machine, rounded. Only the order changes,
  never which tests run; a test missing here keeps its place after the long ones. Modules
  marked `xdist_group` (an expensive module-scoped fixture: τ²'s orchestrator, a browser, the
  embedded model) stay on one worker, estimated as the sum of their tests.
* **One core per worker for llama.cpp.** The embedded model's worker uses every core by
  default; two such workers (one per xdist worker) on two cores spin against each other and
  ran 3-4x slower (measured: the segfault test 60 s alone, 189 s beside another worker). Under
  xdist `SIMGAP_LOCAL_THREADS` is set to the cores per worker unless the caller set it.
"""

from __future__ import annotations

import os

import pytest

from simgap.llm.local import THREADS_ENV, default_threads

# Seconds on the 2-core CI machine (serial run, `--durations`), by node id prefix.
ESTIMATES_S: dict[str, float] = {
    "tests/sessions/test_ray_cluster.py::": 240,
    "tests/sessions/test_kill_resume.py::test_twenty_random_sigkills_lose_nothing": 150,
    "tests/domains/test_fast_eval_equivalence.py::": 60,  # per domain; one group
    "tests/sessions/test_local_crash.py::": 30,
    "tests/study/test_browser_fixes.py::test_a_lost_connection": 40,
    "tests/agents/test_probe.py::test_full_disclosure_reaches_gold_on_every_task": 37,
    "tests/sessions/test_tau2_differential.py::": 1.5,  # + 34 s of module setup; one group
    "tests/agents/test_plugins.py::test_plugin_agent_and_simulator": 30,
    "tests/test_demo.py::test_demo_runs_end_to_end": 25,
    "tests/study/test_restart.py::": 20,
    "tests/sessions/test_cli_interrupt.py::": 15,
    "tests/sessions/test_kill_resume.py::test_sigkill_then_resume": 16,
    "tests/llm/test_local.py::": 8,
    "tests/study/test_browser.py::": 12,
    "tests/llm/test_local_worker.py::": 8,
    "tests/score/test_tau2_path.py::": 10,
    "tests/domains/test_gold_cache.py::test_concurrent_processes": 10,
    "tests/report/test_browser.py::": 8,
    "tests/study/test_load_script.py::": 8,
    "tests/feedback/test_feedback.py::test_the_embedded_model": 10,
}


def estimate_s(nodeid: str) -> float:
    return max((s for p, s in ESTIMATES_S.items() if nodeid.startswith(p)), default=0.0)


def _group(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", ""))


def longest_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """Items ordered by the estimated time of their unit (a test, or its whole xdist group),
    longest first; ties keep the collection order, and a group's tests stay together."""
    unit_s: dict[str, float] = {}
    unit_of: list[str] = []
    for item in items:
        unit = _group(item) or item.nodeid
        unit_of.append(unit)
        unit_s[unit] = unit_s.get(unit, 0.0) + estimate_s(item.nodeid)
    first_seen = {u: i for i, u in reversed(list(enumerate(unit_of)))}
    order = sorted(
        range(len(items)), key=lambda i: (-unit_s[unit_of[i]], first_seen[unit_of[i]], i)
    )
    return [items[i] for i in order]


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    items[:] = longest_first(items)


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)  # set in an xdist worker only
    if workerinput is not None:
        workers = max(1, int(workerinput.get("workercount", 1)))
        # the model's own core count (a value the caller set is kept by setdefault anyway)
        os.environ.setdefault(THREADS_ENV, str(max(1, default_threads() // workers)))
