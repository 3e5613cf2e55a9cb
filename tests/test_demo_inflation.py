"""The demo's success inflation comes from the customers' profiles (issue 16).

Same probe agent, same tasks, same mechanism (`simgap.users.statements`: answer the agent's
questions from the whole scenario); only the behaviour profile's probabilities differ:
`behavior` (LLM-like: never withholds, never vague, never gives up) against the SYNTHETIC
stand-in `standin` (withholds, is vague, pushes back, gives up). Parametric simulators only,
so it runs in seconds without the embedded model; `tests/test_demo.py` runs the real command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simgap.demo import DemoOptions, demo_plans, demo_tasks
from simgap.sessions import RunOptions, run_sweep
from simgap.store import Store


def success_rates(tmp: Path, seed: int) -> dict[str, tuple[int, int, int]]:
    """(successes, sessions, sessions ended by the step limit) per simulator, for the demo's
    default sessions without the embedded customer."""
    opts = DemoOptions(out_dir=tmp, simulators=("behavior",), seed=seed)
    plans, agent_cfg = demo_plans(opts)
    store = Store(str(opts.store_path))
    try:
        run_sweep(
            store,
            plans,
            agent_config=agent_cfg,
            options=RunOptions(concurrency=1, max_steps=opts.max_steps),
            agent_name="probe",
        )
        out: dict[str, tuple[int, int, int]] = {}
        for s in store.iter_sessions(with_turns=False):
            won, n, limit = out.get(s.user_id, (0, 0, 0))
            assert s.reward is not None, s.session_id
            out[s.user_id] = (
                won + int(s.reward.value == 1.0),
                n + 1,
                limit + int(s.termination is not None and s.termination.value == "max_steps"),
            )
        return out
    finally:
        store.close()


def test_the_demo_tasks_are_six_tasks_that_change_the_database() -> None:
    assert [t.task_id for t in demo_tasks(DemoOptions().tasks)] == ["2", "7", "8", "9", "11", "12"]


@pytest.mark.parametrize("seed", [DemoOptions().seed, 301, 302])
def test_behavior_succeeds_more_often_than_the_standin(tmp_path: Path, seed: int) -> None:
    """At the demo's seed and two others: `behavior` reaches the gold on every task, the
    stand-in clearly less often (at least 10 points lower), and every session ends by the
    customer or the task, never the step limit."""
    rates = success_rates(tmp_path, seed)
    b_won, b_n, b_limit = rates["behavior"]
    s_won, s_n, s_limit = rates["standin"]
    assert (b_n, s_n) == (6, 18)
    assert b_won == b_n
    assert s_won / s_n <= b_won / b_n - 0.10, rates
    assert b_limit == s_limit == 0, rates
