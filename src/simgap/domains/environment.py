"""One τ² environment per session: tools, policy, database state, and the τ² reward.

simgap keeps its own transcript (`Turn`s); this module converts it to τ² messages whenever
τ² code has to see it (replaying a stored session into a fresh environment, or evaluating).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from simgap.domains import tau2_runtime
from simgap.domains.fast_env import env_domain_name
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
        self._env = tau2_runtime.registry().get_env_constructor(env_domain_name(task.domain))()
        init = self._t2task.initial_state
        self._env.set_state(
            initialization_data=init.initialization_data if init else None,
            initialization_actions=init.initialization_actions if init else None,
            message_history=[],
        )

    @property
    def policy(self) -> str:
        return str(self._env.get_policy())

    def agent_tools(self) -> list[dict[str, Any]]:
        """OpenAI-format function schemas of the agent's tools (τ²'s own schemas)."""
        return [t.openai_schema for t in self._env.get_tools()]

    def user_tools(self) -> list[dict[str, Any]]:
        """Tools the user can call (τ² telecom's phone); empty in airline and retail."""
        if self._env.user_tools is None:
            return []
        return [t.openai_schema for t in self._env.get_user_tools()]

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
        self._env = tau2_runtime.registry().get_env_constructor(self.task.domain)()
        self._env.set_state(
            initialization_data=init.initialization_data if init else None,
            initialization_actions=init.initialization_actions if init else None,
            message_history=to_tau2_messages(_complete_prefix(turns)),
        )

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
        return Turn(
            idx=idx,
            role=Role.TOOL,
            content=msg.content,
            tool_call_id=tc.id,
            tool_error=bool(msg.error),
            requestor=requestor,
            timestamp=utcnow(),
        )


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


def evaluate(task: Task, turns: Sequence[Turn], termination: Termination) -> Reward:
    """τ²'s reward for a finished conversation, computed by τ²'s own evaluator.

    simgap's `transfer`/`out_of_scope` are user stops in τ² (the user sent the token); every
    other non-stop ending scores 0 exactly as τ² scores a premature termination.
    """
    sim_mod = tau2_runtime.module("tau2.data_model.simulation")
    ev_mod = tau2_runtime.module("tau2.evaluator.evaluator")
    t2task = tau2_task(task)
    tau_term = (
        sim_mod.TerminationReason.USER_STOP
        if termination in (Termination.TRANSFER, Termination.OUT_OF_SCOPE)
        else sim_mod.TerminationReason(termination.value)
        if termination.value in {r.value for r in sim_mod.TerminationReason}
        else sim_mod.TerminationReason.USER_ERROR
    )
    if termination not in REWARDED_TERMINATIONS:
        return Reward(
            value=0.0,
            basis=task.reward_basis,
            info={"note": f"terminated prematurely ({termination.value}): reward 0 as in τ²"},
        )
    messages = to_tau2_messages(turns)
    now = utcnow().isoformat()
    sim = sim_mod.SimulationRun(
        id="simgap",
        task_id=t2task.id,
        start_time=now,
        end_time=now,
        duration=0.0,
        termination_reason=tau_term,
        messages=messages,
    )
    basis = {b for b in task.reward_basis}
    eval_type = (
        ev_mod.EvaluationType.ALL_WITH_NL_ASSERTIONS
        if "NL_ASSERTION" in basis
        else ev_mod.EvaluationType.ALL
    )
    info = ev_mod.evaluate_simulation(
        simulation=sim,
        task=t2task,
        evaluation_type=eval_type,
        solo_mode=False,
        domain=env_domain_name(task.domain),
    )
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
