"""One τ² environment per session: tools, policy, database state, and the τ² reward.

simgap keeps its own transcript (`Turn`s); this module converts it to τ² messages whenever
τ² code has to see it (replaying a stored session into a fresh environment, or evaluating).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from simgap.domains import tau2_runtime
from simgap.domains.fast_env import cow_environment, env_domain_name
from simgap.domains.tasks import check_domain, tau2_task
from simgap.models import (
    REWARDED_TERMINATIONS,
    Reward,
    Role,
    Task,
    Termination,
    ToolCall,
    Turn,
    utcnow,
)

# τ²'s orchestrator opens every conversation with this agent message.
FIRST_AGENT_MESSAGE = "Hi! How can I help you today?"


def _messages_mod() -> Any:
    return tau2_runtime.module("tau2.data_model.message")


def is_invalid_call(tc: ToolCall) -> bool:
    """A call whose arguments were not a JSON object: recorded, never sent to the environment."""
    return tc.raw_arguments is not None


def to_tau2_messages(turns: Sequence[Turn]) -> list[Any]:
    """simgap turns -> τ² messages, as τ²'s evaluator and `set_state` expect them.

    Invalid tool calls (unparseable arguments) and their error results are left out: they never
    reached the environment, so replaying them would only fail τ²'s consistency check.
    """
    m = _messages_mod()
    invalid_ids: set[str] = set()
    out: list[Any] = []
    for t in turns:
        ts = t.timestamp.isoformat()
        if t.role == Role.TOOL:
            if t.tool_call_id in invalid_ids:
                continue
            out.append(
                m.ToolMessage(
                    id=t.tool_call_id or "",
                    role="tool",
                    content=t.content,
                    requestor="user" if t.requestor == Role.USER else "assistant",
                    error=t.tool_error,
                    turn_idx=t.idx,
                    timestamp=ts,
                )
            )
            continue
        requestor = "user" if t.role == Role.USER else "assistant"
        calls = []
        for tc in t.tool_calls:
            if is_invalid_call(tc):
                invalid_ids.add(tc.id)
                continue
            calls.append(
                m.ToolCall(id=tc.id, name=tc.name, arguments=tc.arguments, requestor=requestor)
            )
        content = t.content
        if t.tool_calls and not calls and not (content and content.strip()):
            # Only invalid calls: keep the turn as plain text so τ² still sees who spoke.
            content = "(invalid tool call)"
        cls = m.UserMessage if t.role == Role.USER else m.AssistantMessage
        out.append(
            cls(
                role=requestor,
                content=content,
                tool_calls=calls or None,
                turn_idx=t.idx,
                timestamp=ts,
            )
        )
    return out


def turns_from_tau2(messages: Sequence[Any], *, start_idx: int = 0) -> list[Turn]:
    """τ² messages -> simgap turns (initial message histories, imported results)."""
    out: list[Turn] = []
    for i, msg in enumerate(messages, start=start_idx):
        role = msg.role
        if role == "tool":
            out.append(
                Turn(
                    idx=i,
                    role=Role.TOOL,
                    content=msg.content,
                    tool_call_id=msg.id,
                    tool_error=bool(msg.error),
                    requestor=Role.USER if msg.requestor == "user" else Role.AGENT,
                )
            )
            continue
        calls = [
            ToolCall(id=tc.id, name=tc.name, arguments=dict(tc.arguments))
            for tc in (msg.tool_calls or [])
        ]
        out.append(
            Turn(
                idx=i,
                role=Role.USER if role == "user" else Role.AGENT,
                content=msg.content,
                tool_calls=calls,
            )
        )
    return out


class DomainEnvironment:
    """τ² environment for one task: executes tool calls and keeps the database state."""

    def __init__(self, task: Task) -> None:
        check_domain(task.domain)
        self.task = task
        self._t2task = tau2_task(task)
        init = self._t2task.initial_state
        self._env = _new_env(task.domain, init)
        # The task's initial message history is part of the conversation (`initial_turns`):
        # its tool calls are replayed here, as τ²'s orchestrator and evaluator replay them.
        history = list(init.message_history or []) if init else []
        self._env.set_state(
            initialization_data=init.initialization_data if init else None,
            initialization_actions=init.initialization_actions if init else None,
            message_history=history,
        )
        # Every tool call this environment ran since its initial state, with its result: what
        # lets the evaluator use this state instead of rebuilding it (`replay_equivalent`).
        self._calls: list[_CallRecord] = _call_records(history) or []

    @property
    def policy(self) -> str:
        return str(self._env.get_policy())

    def agent_tools(self) -> list[dict[str, Any]]:
        """OpenAI-format function schemas of the agent's tools (τ²'s own schemas)."""
        return _tool_schemas(self._env.tools, self._env.get_tools)

    def tool_kinds(self) -> dict[str, str]:
        """τ²'s type of each agent tool: `read`, `write`, `think` or `generic` (the probe agent
        asks for confirmation before every `write`, as the domain policies require)."""
        toolkit = self._env.tools
        return {name: str(toolkit.tool_type(name).value) for name in toolkit.tools}

    def user_tools(self) -> list[dict[str, Any]]:
        """Tools the user can call (τ² telecom's phone); empty in airline and retail."""
        if self._env.user_tools is None:
            return []
        return _tool_schemas(self._env.user_tools, self._env.get_user_tools)

    def initial_turns(self) -> list[Turn]:
        """Message history the task starts from (τ² `initial_state.message_history`), if any."""
        init = self._t2task.initial_state
        if init is None or not init.message_history:
            return []
        turns = turns_from_tau2(init.message_history)
        for t in turns:
            t.meta["initial"] = True
        return turns

    def replay(self, turns: Sequence[Turn]) -> None:
        """Bring a fresh environment to the state after `turns` (re-running their tool calls).

        Raises ValueError when a replayed call no longer returns what was stored (the domain
        data changed); the caller then restarts the session instead of continuing on a lie.
        """
        init = self._t2task.initial_state
        messages = to_tau2_messages(_complete_prefix(turns))
        self._env = _new_env(self.task.domain, init)
        self._calls = []
        self._env.set_state(
            initialization_data=init.initialization_data if init else None,
            initialization_actions=init.initialization_actions if init else None,
            message_history=messages,
        )
        # τ²'s set_state checked that each replayed call returned what the transcript holds.
        self._calls = _call_records(messages) or []

    def replay_equivalent(self, messages: Sequence[Any]) -> Any | None:
        """This environment's τ² state, if it is exactly what τ²'s evaluator would rebuild by
        replaying `messages` (τ² messages of the whole transcript) into a fresh environment;
        else None (the caller then rebuilds it as τ² does).

        It is when the tool calls this environment ran, in order, with their arguments,
        requestors and results, are exactly the transcript's, and the domain has no
        `sync_tools` step (telecom's syncs the phone with the network after every call, so its
        state also depends on when syncs ran: it is always rebuilt).
        """
        env_base = tau2_runtime.module("tau2.environment.environment").Environment
        if type(self._env).sync_tools is not env_base.sync_tools:
            return None
        expected = _call_records(messages)
        if expected is None or expected != self._calls:
            return None
        return self._env

    def sync(self) -> None:
        """τ²'s `Environment.sync_tools`, which its orchestrator runs after every step (a no-op
        but in telecom, where it syncs the user's phone with the network's records)."""
        self._env.sync_tools()

    def call(self, tc: ToolCall, *, requestor: Role, idx: int) -> Turn:
        """Execute one tool call and return the tool turn (errors are results, as in τ²)."""
        if is_invalid_call(tc):
            content = f"Error: arguments of {tc.name!r} are not a JSON object: {tc.raw_arguments!r}"
            return Turn(
                idx=idx,
                role=Role.TOOL,
                content=content,
                tool_call_id=tc.id,
                tool_error=True,
                requestor=requestor,
                meta={"invalid_call": True},
            )
        m = _messages_mod()
        call = m.ToolCall(
            id=tc.id,
            name=tc.name,
            arguments=tc.arguments,
            requestor="user" if requestor == Role.USER else "assistant",
        )
        msg = self._env.get_response(call)
        self._calls.append(
            _CallRecord(call.id, call.requestor, call.name, dict(call.arguments), msg.content)
        )
        return Turn(
            idx=idx,
            role=Role.TOOL,
            content=msg.content,
            tool_call_id=tc.id,
            tool_error=bool(msg.error),
            requestor=requestor,
            timestamp=utcnow(),
        )


def _new_env(domain: str, init: Any) -> Any:
    """A fresh τ² environment for a session: copy-on-access database where supported (a task
    with `initialization_data` replaces the database through a full dump: plain copy)."""
    if init is None or init.initialization_data is None:
        env = cow_environment(domain)
        if env is not None:
            return env
    return tau2_runtime.registry().get_env_constructor(env_domain_name(domain))()


_schemas: dict[type, str] = {}
_schemas_lock = threading.Lock()


def _tool_schemas(toolkit: Any, get_tools: Callable[[], list[Any]]) -> list[dict[str, Any]]:
    """τ²'s tool schemas, built once per toolkit class: τ² rebuilds its `Tool` objects (docstring
    parsing, a pydantic model per tool) on every `get_tools()`, ~0.1 s per session in airline,
    and the schemas depend only on the toolkit's code. Each caller gets its own copy, parsed
    from the schemas' JSON text (what is sent to the model anyway): a quarter of the CPU of a
    `copy.deepcopy` of the same lists (0.09 ms against 0.38 ms in airline)."""
    key = type(toolkit)
    with _schemas_lock:
        cached = _schemas.get(key)
    if cached is None:
        cached = json.dumps([t.openai_schema for t in get_tools()])
        with _schemas_lock:
            _schemas[key] = cached
    schemas: list[dict[str, Any]] = json.loads(cached)
    return schemas


class _CallRecord(NamedTuple):
    """One executed tool call: what τ²'s `set_state` replays and checks."""

    call_id: str
    requestor: str
    name: str
    arguments: dict[str, Any]
    result: str | None


def _call_records(messages: Sequence[Any]) -> list[_CallRecord] | None:
    """The (call, result) pairs τ²'s `set_state` would replay from `messages`, in its order;
    None where it would refuse them (a result without its call, a call without its result)."""
    m = _messages_mod()
    out: list[_CallRecord] = []
    i = 0
    while i < len(messages):
        msg = messages[i]
        i += 1
        if isinstance(msg, m.ToolMessage):
            return None
        if isinstance(msg, (m.AssistantMessage, m.UserMessage)) and msg.is_tool_call():
            for tc in msg.tool_calls:
                if i >= len(messages):
                    return None
                tm = messages[i]
                i += 1
                if not isinstance(tm, m.ToolMessage) or tm.id != tc.id:
                    return None
                out.append(
                    _CallRecord(tc.id, tc.requestor, tc.name, dict(tc.arguments), tm.content)
                )
    return out


def _complete_prefix(turns: Sequence[Turn]) -> list[Turn]:
    """Turns up to the last point where every tool call has its result (safe to replay)."""
    out: list[Turn] = []
    pending: list[Turn] = []
    open_calls: set[str] = set()
    for t in turns:
        if t.role == Role.TOOL:
            pending.append(t)
            open_calls.discard(t.tool_call_id or "")
            if not open_calls:
                out.extend(pending)
                pending = []
            continue
        if open_calls:
            break
        if t.tool_calls:
            open_calls = {tc.id for tc in t.tool_calls}
            pending = [t]
        else:
            out.append(t)
    return out


FAST_EVAL_ENV = "SIMGAP_FAST_EVAL"


def fast_eval_enabled() -> bool:
    """The fast evaluation path is on unless `SIMGAP_FAST_EVAL=0` (then τ²'s evaluator runs)."""
    return os.environ.get(FAST_EVAL_ENV, "1") != "0"


def _tau_termination(termination: Termination) -> Any:
    """simgap's `transfer`/`out_of_scope` are user stops in τ² (the user sent the token)."""
    sim_mod = tau2_runtime.module("tau2.data_model.simulation")
    if termination in (Termination.TRANSFER, Termination.OUT_OF_SCOPE):
        return sim_mod.TerminationReason.USER_STOP
    if termination.value in {r.value for r in sim_mod.TerminationReason}:
        return sim_mod.TerminationReason(termination.value)
    return sim_mod.TerminationReason.USER_ERROR


def _premature(task: Task, termination: Termination) -> Reward | None:
    """Every ending but a stop scores 0, exactly as τ² scores a premature termination."""
    if termination in REWARDED_TERMINATIONS:
        return None
    return Reward(
        value=0.0,
        basis=task.reward_basis,
        info={"note": f"terminated prematurely ({termination.value}): reward 0 as in τ²"},
    )


def _to_reward(info: Any) -> Reward:
    """τ²'s `RewardInfo` as simgap's `Reward` (value, breakdown, basis, all details)."""
    breakdown = {
        (k.value if hasattr(k, "value") else str(k)): float(v)
        for k, v in (info.reward_breakdown or {}).items()
    }
    details = json.loads(info.model_dump_json(exclude={"reward", "reward_breakdown"}))
    return Reward(
        value=float(info.reward),
        breakdown=breakdown,
        basis=[b.value if hasattr(b, "value") else str(b) for b in (info.reward_basis or [])],
        info=details,
    )


def evaluate(
    task: Task,
    turns: Sequence[Turn],
    termination: Termination,
    *,
    env: DomainEnvironment | None = None,
) -> Reward:
    """τ²'s reward for a finished conversation.

    By default through the fast path (`simgap.domains.fast_eval`: gold outcome cached per task,
    the session's database hashed once from `env`, the environment it ran in, when that is
    exactly the state τ² would rebuild), which is proven equal to τ²'s `evaluate_simulation`
    by tests/domains/test_fast_eval_equivalence.py. `SIMGAP_FAST_EVAL=0` runs τ²'s evaluator
    itself (`evaluate_tau2`).
    """
    if not fast_eval_enabled():
        return evaluate_tau2(task, turns, termination)
    premature = _premature(task, termination)
    if premature is not None:
        return premature
    from simgap.domains.fast_eval import evaluate_simulation_fast

    messages = to_tau2_messages(turns)
    info = evaluate_simulation_fast(
        messages,
        tau2_task(task),
        with_nl_assertions="NL_ASSERTION" in task.reward_basis,
        domain=task.domain,
        registry_name=env_domain_name(task.domain),
        live_env=env.replay_equivalent(messages) if env is not None else None,
    )
    return _to_reward(info)


def evaluate_tau2(task: Task, turns: Sequence[Turn], termination: Termination) -> Reward:
    """τ²'s reward computed by τ²'s own `evaluate_simulation`, unchanged: the reference the fast
    path is tested against, and what runs with `SIMGAP_FAST_EVAL=0`."""
    premature = _premature(task, termination)
    if premature is not None:
        return premature
    sim_mod = tau2_runtime.module("tau2.data_model.simulation")
    ev_mod = tau2_runtime.module("tau2.evaluator.evaluator")
    t2task = tau2_task(task)
    now = utcnow().isoformat()
    sim = sim_mod.SimulationRun(
        id="simgap",
        task_id=t2task.id,
        start_time=now,
        end_time=now,
        duration=0.0,
        termination_reason=_tau_termination(termination),
        messages=to_tau2_messages(turns),
    )
    eval_type = (
        ev_mod.EvaluationType.ALL_WITH_NL_ASSERTIONS
        if "NL_ASSERTION" in task.reward_basis
        else ev_mod.EvaluationType.ALL
    )
    info = ev_mod.evaluate_simulation(
        simulation=sim,
        task=t2task,
        evaluation_type=eval_type,
        solo_mode=False,
        domain=env_domain_name(task.domain),
    )
    return _to_reward(info)
