"""Faults survived with nothing lost: a fault storm from the model servers, and bad input files.

What a storm of infrastructure faults (429, 500, 503, hangs past the timeout, truncated or
HTML bodies, dropped connections) must guarantee, whatever the session driver does with
model-caused failures:
* faults really happened, of every kind, and some sessions failed (not 0 == 0);
* every injected fault is accounted for: each faulted request is one failed try of the client
  (retried, or the session's failure) and each clean answer one successful call;
* a failed session says why in one line naming the model, and a rerun retries exactly those;
* after the rerun every session (turns, tool calls and results, termination, reward) equals
  the same session of a fault-free run: nothing lost, duplicated or changed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simgap.domains import load_tasks
from simgap.llm.base import LLMClient, ModelConfig
from simgap.llm.cache import ResponseCache
from simgap.llm.factory import make_client
from simgap.models import AgentSpec, Session, SessionStatus
from simgap.sessions import RunOptions, SweepRunner, SweepSummary, plan_sessions
from simgap.sessions.plan import SessionPlan
from simgap.store import Store
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.plugins.counts import report
from tests.sessions.helpers import cancelling_agent, cancelling_customer, model_at, user_preset

# Everything a model server or the network can do wrong, short of the model's own answer.
INFRA_FAULTS = (
    "rate_limit",
    "server_error",
    "unavailable",
    "hang",
    "truncated",
    "garbage",
    "disconnect",
)
FAULT_RATE = 0.5  # one call in 8 fails all 3 of its tries
# Task 4's customer (its scenario names this user) meets a server error on every call of the
# storm: at least its two sessions fail, whatever the random draws.
DOOMED = "sophia_silva_7557"


def _flaky(srv: FakeOpenAIServer, name: str) -> ModelConfig:
    cfg = model_at(srv, name)
    return cfg.model_copy(update={"timeout_s": 0.5, "max_retries": 2})


def _faults_after_first_reply(
    srv: FakeOpenAIServer, responder: Callable[[dict[str, Any]], Reply], seed: int
) -> Callable[[dict[str, Any]], Reply]:
    """The storm starts once the server has answered once: a client whose very first call
    fails is an unreachable endpoint, and the runner rightly aborts the sweep for that."""

    def answer(req: dict[str, Any]) -> Reply:
        if storm["on"]:
            if srv.fault_rate == 0:
                srv.set_faults(FAULT_RATE, INFRA_FAULTS, seed=seed)
            if DOOMED in str(req["messages"][0].get("content")):
                return Reply.fault("server_error")
        return responder(req)

    storm = {"on": False}
    answer.storm = storm  # type: ignore[attr-defined]
    return answer


def _content(s: Session) -> dict[str, Any]:
    """What a session is, leaving out timings, token counts (faults cost retries) and tool-call
    ids (the fake server numbers them by request: a retried call gets another)."""
    return {
        "status": s.status,
        "termination": s.termination,
        "reward": None if s.reward is None else (s.reward.value, s.reward.breakdown),
        "turns": [
            (
                t.idx,
                t.role,
                t.content,
                [(c.name, c.arguments, c.raw_arguments) for c in t.tool_calls],
                t.tool_call_id is not None,
                t.tool_error,
                t.requestor,
            )
            for t in s.turns
        ],
    }


def _sweep(
    store: Store, agent_cfg: ModelConfig, plans: list[SessionPlan]
) -> tuple[SweepSummary, list[LLMClient]]:
    """One pass of the sweep, without the response cache; returns the clients it used."""
    clients: list[LLMClient] = []

    def factory(cfg: ModelConfig, cache: ResponseCache | None) -> LLMClient:
        clients.append(make_client(cfg, cache=cache))
        return clients[-1]

    async def go() -> SweepSummary:
        runner = SweepRunner(
            store,
            agent_config=agent_cfg,
            options=RunOptions(concurrency=4, use_cache=False),
            client_factory=factory,
        )
        try:
            return await runner.run(plans)
        finally:
            await runner.aclose()

    return asyncio.run(go()), clients


def test_fault_storm_accounts_for_every_fault_and_rerun_equals_a_fault_free_run(
    tmp_path: Path, fake_openai_factory: Callable[..., FakeOpenAIServer]
) -> None:
    agent_srv = fake_openai_factory(hang_s=1.5)
    user_srv = fake_openai_factory(hang_s=1.5)
    agent_srv.responder = _faults_after_first_reply(agent_srv, cancelling_agent, seed=1)
    user_srv.responder = _faults_after_first_reply(user_srv, cancelling_customer, seed=2)
    tasks = load_tasks("airline", task_ids=["19", "0", "1", "2", "3", "4"])
    agent_cfg = _flaky(agent_srv, "agent")
    preset = user_preset(user_srv).model_copy(update={"model": _flaky(user_srv, "scripted-user")})
    spec = AgentSpec(name="llm", model=agent_cfg.model, settings=agent_cfg.public())
    plans = plan_sessions(tasks, [preset], agent=spec, trials=2)
    servers = {agent_cfg.model: agent_srv, preset.model.model: user_srv}  # type: ignore[union-attr]

    # the same sweep without a single fault: what every session must end as
    free_store = Store(tmp_path / "fault-free.db")
    free, _ = _sweep(free_store, agent_cfg, plans)
    assert free.done == len(plans) and free.failed == 0
    expected = {s.session_id: _content(s) for s in free_store.iter_sessions()}
    assert len(expected) == len(plans)
    assert any(c["reward"] and c["reward"][0] == 1.0 for c in expected.values())  # task 19

    # the storm
    for srv in servers.values():
        srv.reset()
        srv.responder.storm["on"] = True  # type: ignore[union-attr]
    store = Store(tmp_path / "runs.db")
    first, clients = _sweep(store, agent_cfg, plans)
    injected: Counter[str] = Counter()
    for model, srv in servers.items():
        kinds = Counter(r.reply_kind for r in srv.records)
        faults = sum(kinds[k] for k in INFRA_FAULTS)
        injected.update({k: kinds[k] for k in INFRA_FAULTS})
        stats = [c.stats.by_model[model] for c in clients if model in c.stats.by_model]
        tries = sum(s.upstream_calls for s in stats)
        ok = sum(s.ok_calls for s in stats)
        # every clean answer reached its caller as one successful call, every fault was a
        # failed try; the client counted every request the server saw, and more only where a
        # connection a hang or disconnect closed failed the next try before it reached it
        assert ok == srv.calls - faults, (model, kinds, ok)
        assert 0 <= tries - srv.calls <= kinds["hang"] + kinds["disconnect"], (model, tries)
        assert faults > 0, model
    assert sum(injected.values()) >= 20 and len(+injected) >= 5, injected
    assert first.failed >= 2, "the storm failed (almost) no session: nothing was tested"
    assert first.done + first.failed == len(plans)  # the sweep completed despite the storm
    for s in store.iter_sessions():
        if s.status == SessionStatus.FAILED:
            assert s.error and "\n" not in s.error, s.error
            assert any(m in s.error for m in servers), s.error  # names the model

    # the storm is over: a rerun retries exactly the failed sessions, and all finish
    for srv in servers.values():
        srv.responder.storm["on"] = False  # type: ignore[union-attr]
        srv.set_faults(0.0)
    second, _ = _sweep(store, agent_cfg, plans)
    assert second.ran == first.failed
    assert second.done == len(plans) and second.failed == 0
    got = {s.session_id: _content(s) for s in store.iter_sessions()}
    assert got.keys() == expected.keys()
    changed = [sid for sid in expected if got[sid] != expected[sid]]
    assert not changed, f"{len(changed)} sessions differ from the fault-free run: " + "\n".join(
        f"{sid}: {got[sid]} != {expected[sid]}" for sid in changed[:2]
    )
    report(
        f"{sum(injected.values())} faults injected {dict(injected)}; first pass "
        f"{first.done} done, {first.failed} failed; rerun {second.ran} run, {second.done} done; "
        f"all {len(plans)} equal to the fault-free run"
    )


def test_corrupt_jsonl_import_names_the_line_and_imports_nothing(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    good = {
        "record": "session",
        "session_id": "h1",
        "task_id": "0",
        "domain": "airline",
        "user_kind": "human",
        "user_id": "p1",
        "status": "done",
    }
    lines = [
        json.dumps(good),
        json.dumps({**good, "session_id": "h2"}),
        json.dumps({**good, "session_id": "h3"})[:-9],
    ]
    path = tmp_path / "people.jsonl"
    path.write_text("\n".join(lines) + "\n")
    cmd = [sys.executable, "-m", "simgap", "import", str(path), "--db", str(db)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    err = r.stderr.strip()
    assert f"{path}:3:" in err and len(err.splitlines()) == 1, err
    assert Store(db).count_sessions() == 0  # nothing imported half-way
    path.write_text("\n".join(lines[:2]) + "\n")
    ok = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert Store(db).count_sessions() == 2
