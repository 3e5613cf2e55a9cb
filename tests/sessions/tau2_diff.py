"""Differential harness: the same scripted model replies through τ²'s real `Orchestrator` and
through simgap's sweep runner (the code path of `simgap run`), compared field by field.

Each `Case` scripts what the agent's model and the user's model answer, in order (a FIFO script
on one fake OpenAI-compatible server per role, tests/fakes/openai_server.py; past the end of
its script the agent says `FILLER_AGENT` and the user `FILLER_USER`). Both sides talk to those
servers over HTTP through litellm, exactly as in production:

* τ²: `tau2.agent.llm_agent.LLMAgent`, `tau2.user.user_simulator.UserSimulator`,
  `tau2.orchestrator.orchestrator.Orchestrator` and `tau2.evaluator.evaluator.
  evaluate_simulation`, built as τ²'s `run_task` builds them (its default `llm_args`:
  temperature 0.0, `num_retries` 3), with τ²'s `run_tasks(skip_failed_samples=True)` rule for
  an exception (a failed sample: `agent_error`, reward 0). Nothing of τ² is patched.
* simgap: `plan_sessions` + `SweepRunner.run` on a store, with the models' configs leaving the
  temperature unset (the protocol's default applies), the response cache off.

What is compared (`compare`): every request each model received (messages with roles,
contents, tool calls and their ids, names and argument text, tool results; the tools offered;
tool_choice; temperature; seed), the trajectory (τ²'s messages, or simgap's transcript as τ²
messages), the termination reason as τ² records it, the reward and its breakdown.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from simgap.domains import load_tasks, to_tau2_messages
from simgap.domains.tasks import tau2_task
from simgap.llm.base import ModelConfig
from simgap.models import AgentSpec, Session, Task
from simgap.sessions import RunOptions, SweepRunner, plan_sessions
from simgap.sessions.protocol import tau2_reason
from simgap.store import Store
from simgap.users import UserPreset
from tests.fakes.openai_server import FakeOpenAIServer, Reply

FILLER_AGENT = "Is there anything else I can help you with?"
FILLER_USER = "Please go on."
API_KEY = "sk-test"
AGENT_MODEL = "openai/agent-under-test"
USER_MODEL = "openai/user-simulator"


@dataclass(frozen=True)
class Case:
    """One scripted conversation. `covers` names the behaviours it exercises (coverage)."""

    name: str
    domain: str
    task_id: str
    agent: tuple[Reply, ...]
    user: tuple[Reply, ...]
    covers: tuple[str, ...]
    max_steps: int = 200
    max_errors: int = 10


@dataclass
class Outcome:
    """What one side did with a case."""

    agent_requests: list[dict[str, Any]]
    user_requests: list[dict[str, Any]]
    trajectory: list[tuple[Any, ...]]
    termination: str
    reward: float
    breakdown: dict[str, float]
    error: str | None = None


@dataclass
class Compared:
    case: Case
    tau2: Outcome
    simgap: Outcome
    mismatches: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "agent requests": len(self.tau2.agent_requests),
            "user requests": len(self.tau2.user_requests),
            "trajectory messages": len(self.tau2.trajectory),
            "terminations": 1,
            "rewards": 1,
        }


# -- normalising what both sides produced ------------------------------------------------------
def norm_request(body: dict[str, Any]) -> dict[str, Any]:
    """A chat-completion request reduced to what can change the model's answer. Keys whose
    value is null are dropped (τ² sends `tool_calls: null` on text messages, simgap omits
    the key: the same request to every OpenAI-compatible server)."""
    messages = []
    for m in body.get("messages", []):
        d: dict[str, Any] = {"role": m.get("role"), "content": m.get("content")}
        if m.get("tool_calls"):
            d["tool_calls"] = [
                (tc.get("id"), tc["function"]["name"], tc["function"]["arguments"])
                for tc in m["tool_calls"]
            ]
        if m.get("tool_call_id") is not None:
            d["tool_call_id"] = m["tool_call_id"]
        messages.append(d)
    return {
        "messages": messages,
        "tools": body.get("tools"),
        "tool_choice": body.get("tool_choice"),
        "temperature": body.get("temperature"),
        "seed": body.get("seed"),
    }


def norm_trajectory(messages: Sequence[Any]) -> list[tuple[Any, ...]]:
    """τ² messages as comparable tuples (roles, contents, calls, results, error flags)."""
    out: list[tuple[Any, ...]] = []
    for m in messages:
        if m.role == "tool":
            out.append(("tool", m.id, m.content, m.requestor, bool(m.error)))
            continue
        calls = tuple(
            (tc.id, tc.name, json.dumps(tc.arguments, sort_keys=True), tc.requestor)
            for tc in (m.tool_calls or [])
        )
        out.append((m.role, m.content, calls))
    return out


def _breakdown(raw: Any) -> dict[str, float]:
    return {(k.value if hasattr(k, "value") else str(k)): float(v) for k, v in (raw or {}).items()}


# -- the two sides ------------------------------------------------------------------------------
def _script(srv: FakeOpenAIServer, replies: Sequence[Reply], filler: str) -> None:
    """Queue a case's replies, every tool call with an id of its own (`call_<reply>_<call>`):
    the same ids on both sides, whatever the server answered before."""
    srv.reset()
    srv.script(
        *(
            replace(
                r,
                tool_calls=tuple(
                    tc if tc.id else replace(tc, id=f"call_{j}_{i}")
                    for i, tc in enumerate(r.tool_calls)
                ),
            )
            for j, r in enumerate(replies)
        )
    )
    srv.responder = lambda _req: Reply.text(filler)


def _requests(srv: FakeOpenAIServer) -> list[dict[str, Any]]:
    """The requests a model received, retries of a refused request left out: a request the
    server answered with an HTTP error and that came again at once is a transport retry
    (litellm's own `num_retries` in τ²'s `generate()`, simgap's retry loop), not a step of
    the protocol. Empty answers are HTTP 200 and their retries are all kept and compared."""
    records = [r for r in srv.records if r.body is not None]
    out = []
    for i, r in enumerate(records):
        nxt = records[i + 1] if i + 1 < len(records) else None
        if r.reply_kind.startswith("http_") and nxt is not None and nxt.body == r.body:
            continue
        out.append(norm_request(r.body or {}))
    return out


def run_tau2(
    case: Case, task: Task, agent_srv: FakeOpenAIServer, user_srv: FakeOpenAIServer, seed: int
) -> Outcome:
    """The case through τ²'s own classes, built as `tau2.run.run_task` builds them."""
    from tau2.agent.llm_agent import LLMAgent
    from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation
    from tau2.orchestrator.orchestrator import Orchestrator
    from tau2.registry import registry
    from tau2.user.user_simulator import UserSimulator

    _script(agent_srv, case.agent, FILLER_AGENT)
    _script(user_srv, case.user, FILLER_USER)
    t2task = tau2_task(task)
    env = registry.get_env_constructor(case.domain)()

    def llm_args(srv: FakeOpenAIServer) -> dict[str, Any]:
        # τ²'s defaults (tau2.config): temperature 0.0; run_domain adds num_retries=3.
        return {"temperature": 0.0, "num_retries": 3, "api_base": srv.base_url, "api_key": API_KEY}

    agent = LLMAgent(
        tools=env.get_tools(),
        domain_policy=env.get_policy(),
        llm=AGENT_MODEL,
        llm_args=llm_args(agent_srv),
    )
    try:
        user_tools = env.get_user_tools()
    except Exception:
        user_tools = None
    user = UserSimulator(
        tools=user_tools,
        instructions=str(t2task.user_scenario),
        llm=USER_MODEL,
        llm_args=llm_args(user_srv),
    )
    orch = Orchestrator(
        domain=case.domain,
        agent=agent,
        user=user,
        environment=env,
        task=t2task,
        max_steps=case.max_steps,
        max_errors=case.max_errors,
        seed=seed,
    )
    try:
        sim = orch.run()
    except Exception as e:  # run_tasks(skip_failed_samples=True): a failed sample, reward 0
        return Outcome(
            agent_requests=_requests(agent_srv),
            user_requests=_requests(user_srv),
            trajectory=norm_trajectory(orch.trajectory),
            termination="agent_error",
            reward=0.0,
            breakdown={},
            error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
        )
    info = evaluate_simulation(
        simulation=sim,
        task=t2task,
        evaluation_type=EvaluationType.ALL,
        solo_mode=False,
        domain=case.domain,
    )
    return Outcome(
        agent_requests=_requests(agent_srv),
        user_requests=_requests(user_srv),
        trajectory=norm_trajectory(sim.messages),
        termination=str(sim.termination_reason.value),
        reward=float(info.reward),
        breakdown=_breakdown(info.reward_breakdown),
    )


def _model(name: str, srv: FakeOpenAIServer) -> ModelConfig:
    # No temperature: simgap's protocol default must give τ²'s.
    return ModelConfig(
        model=name,
        api_base=srv.base_url,
        api_key=API_KEY,
        timeout_s=20.0,
        max_retries=1,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )


def plan_for(
    task: Task, agent_srv: FakeOpenAIServer, user_srv: FakeOpenAIServer, protocol: str = "tau2"
) -> tuple[Any, ModelConfig]:
    agent_cfg = _model(AGENT_MODEL, agent_srv)
    preset = UserPreset(
        name="scripted", kind="tau2", family="test", model=_model(USER_MODEL, user_srv)
    )
    spec = AgentSpec(name="llm", model=agent_cfg.model, settings=agent_cfg.public())
    (plan,) = plan_sessions([task], [preset], agent=spec, protocol=protocol)
    return plan, agent_cfg


def run_simgap(
    case: Case,
    task: Task,
    agent_srv: FakeOpenAIServer,
    user_srv: FakeOpenAIServer,
    store_dir: Path,
    *,
    protocol: str = "tau2",
    max_steps_offset: int = 0,
) -> tuple[Outcome, Session]:
    """The case through simgap's sweep runner (what `simgap run` calls). `max_steps_offset`
    plants a divergence: simgap gets `max_steps + offset` while τ² gets `max_steps`."""
    _script(agent_srv, case.agent, FILLER_AGENT)
    _script(user_srv, case.user, FILLER_USER)
    plan, agent_cfg = plan_for(task, agent_srv, user_srv, protocol)
    store = Store(store_dir / f"{case.name}-{protocol}-{max_steps_offset}.db")
    options = RunOptions(
        concurrency=1,
        max_steps=case.max_steps + max_steps_offset,
        max_errors=case.max_errors,
        use_cache=False,
        reward_workers=0,
    )

    async def go() -> None:
        runner = SweepRunner(store, agent_config=agent_cfg, options=options)
        try:
            await runner.run([plan])
        finally:
            await runner.aclose()

    asyncio.run(go())
    s = store.get_session(plan.session_id)
    store.close()
    assert s is not None and s.termination is not None
    return (
        Outcome(
            agent_requests=_requests(agent_srv),
            user_requests=_requests(user_srv),
            trajectory=norm_trajectory(to_tau2_messages(s.turns)),
            termination=tau2_reason(s.termination),
            reward=-1.0 if s.reward is None else s.reward.value,
            breakdown=dict(s.reward.breakdown) if s.reward is not None else {},
            error=s.error,
        ),
        s,
    )


# -- comparing ------------------------------------------------------------------------------------
def _diff_lists(what: str, a: Sequence[Any], b: Sequence[Any]) -> list[str]:
    out = []
    if len(a) != len(b):
        out.append(f"{what}: τ² {len(a)}, simgap {len(b)}")
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            out.append(f"{what} #{i} differs: {_where(x, y)}")
            break
    return out


def _where(x: Any, y: Any, path: str = "") -> str:
    """The first place two JSON-like values differ, with both values there."""
    if isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y), key=str):
            if x.get(k) != y.get(k):
                return _where(x.get(k), y.get(k), f"{path}.{k}")
    if isinstance(x, list | tuple) and isinstance(y, list | tuple):
        if len(x) != len(y):
            return f"{path or 'value'}: length τ² {len(x)}, simgap {len(y)}: τ² {_short(x)}"
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            if u != v:
                return _where(u, v, f"{path}[{i}]")
    return f"{path or 'value'}: τ² {_short(x)} | simgap {_short(y)}"


def _short(x: Any) -> str:
    text = json.dumps(x, default=str, ensure_ascii=False)
    return text if len(text) <= 600 else text[:300] + " … " + text[-300:]


def compare(t: Outcome, s: Outcome) -> list[str]:
    """Every difference between τ²'s outcome and simgap's (empty: identical)."""
    out = _diff_lists("agent requests", t.agent_requests, s.agent_requests)
    out += _diff_lists("user requests", t.user_requests, s.user_requests)
    out += _diff_lists("trajectory", t.trajectory, s.trajectory)
    if t.termination != s.termination:
        out.append(f"termination: τ² {t.termination}, simgap {s.termination}")
    if t.reward != s.reward:
        out.append(f"reward: τ² {t.reward}, simgap {s.reward}")
    if t.breakdown != s.breakdown:
        out.append(f"reward breakdown: τ² {t.breakdown}, simgap {s.breakdown}")
    return out


def run_case(
    case: Case,
    agent_srv: FakeOpenAIServer,
    user_srv: FakeOpenAIServer,
    store_dir: Path,
    *,
    protocol: str = "tau2",
    max_steps_offset: int = 0,
) -> Compared:
    (task,) = load_tasks(case.domain, split=None, task_ids=[case.task_id])
    plan, _ = plan_for(task, agent_srv, user_srv, protocol)
    t = run_tau2(case, task, agent_srv, user_srv, plan.seed)
    s, _session = run_simgap(
        case,
        task,
        agent_srv,
        user_srv,
        store_dir,
        protocol=protocol,
        max_steps_offset=max_steps_offset,
    )
    return Compared(case, t, s, compare(t, s))
