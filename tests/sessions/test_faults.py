"""Faults survived with nothing lost: a fault storm from the model servers, and bad input files."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from simgap.domains import load_tasks
from simgap.models import AgentSpec, SessionStatus
from simgap.sessions import RunOptions, SweepRunner, plan_sessions
from simgap.store import Store
from tests.fakes.openai_server import FakeOpenAIServer
from tests.sessions.helpers import cancelling_agent, cancelling_customer, model_at, user_preset

FAULTS = ("rate_limit", "server_error", "hang", "truncated", "invalid_tool_args", "empty")


def _flaky(srv: FakeOpenAIServer, name: str):  # type: ignore[no-untyped-def]
    cfg = model_at(srv, name)
    return cfg.model_copy(update={"timeout_s": 0.5, "max_retries": 2})


def test_fault_storm_completes_marks_failures_and_rerun_recovers(tmp_path: Path, fake_openai_factory) -> None:  # type: ignore[no-untyped-def]
    agent_srv = fake_openai_factory(responder=cancelling_agent, fault_rate=0.3, fault_kinds=FAULTS, seed=1, hang_s=1.5)
    user_srv = fake_openai_factory(responder=cancelling_customer, fault_rate=0.3, fault_kinds=FAULTS, seed=2, hang_s=1.5)
    tasks = load_tasks("airline", task_ids=["19", "0", "1", "2", "3", "4"])
    agent_cfg = _flaky(agent_srv, "agent")
    preset = user_preset(user_srv).model_copy(update={"model": _flaky(user_srv, "scripted-user")})
    spec = AgentSpec(name="llm", model=agent_cfg.model, settings=agent_cfg.public())
    plans = plan_sessions(tasks, [preset], agent=spec, trials=2)
    store = Store(tmp_path / "runs.db")

    def sweep():  # type: ignore[no-untyped-def]
        async def go():  # type: ignore[no-untyped-def]
            runner = SweepRunner(store, agent_config=agent_cfg, options=RunOptions(concurrency=4))
            try:
                return await runner.run(plans)
            finally:
                await runner.aclose()

        return asyncio.run(go())

    first = sweep()
    injected = Counter(r.reply_kind for srv in (agent_srv, user_srv) for r in srv.records if r.reply_kind in FAULTS)
    assert sum(injected.values()) >= 10, injected
    assert first.done + first.failed == len(plans)  # the sweep completed despite the storm
    for s in store.iter_sessions():
        if s.status == SessionStatus.FAILED:
            assert s.error and "\n" not in s.error and "model openai/" in s.error
    # every failed session is retried on rerun; with the storm over, all finish
    agent_srv.set_faults(0.0)
    user_srv.set_faults(0.0)
    second = sweep()
    assert second.ran == first.failed
    assert second.done == len(plans) and second.failed == 0
    sessions = list(store.iter_sessions())
    assert len(sessions) == len(plans) == len({s.session_id for s in sessions})
    for s in sessions:
        assert [t.idx for t in s.turns] == list(range(len(s.turns)))
    print(
        f"\n{sum(injected.values())} faults injected {dict(injected)}; first pass "
        f"{first.done} done, {first.failed} failed; rerun {second.done} done; 0 lost"
    )


def test_corrupt_jsonl_import_names_the_line_and_imports_nothing(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    good = {
        "record": "session", "session_id": "h1", "task_id": "0", "domain": "airline",
        "user_kind": "human", "user_id": "p1", "status": "done",
    }
    lines = [json.dumps(good), json.dumps({**good, "session_id": "h2"}), json.dumps({**good, "session_id": "h3"})[:-9]]
    path = tmp_path / "people.jsonl"
    path.write_text("\n".join(lines) + "\n")
    r = subprocess.run([sys.executable, "-m", "simgap", "import", str(path), "--db", str(db)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    err = r.stderr.strip()
    assert f"{path}:3:" in err and len(err.splitlines()) == 1, err
    assert Store(db).count_sessions() == 0  # nothing imported half-way
    path.write_text("\n".join(lines[:2]) + "\n")
    ok = subprocess.run([sys.executable, "-m", "simgap", "import", str(path), "--db", str(db)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert Store(db).count_sessions() == 2
