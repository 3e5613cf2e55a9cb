"""τ²-bench `results.json` (its `Results` model) -> simgap sessions.

What is read (field names as in `tau2.data_model.simulation` / `message`):

* `info.environment_info.domain_name` -> `Session.domain`
* `info.user_info.llm` (else `.implementation`) -> `Session.user_id` (the simulator's name);
  `info.agent_info.implementation` / `.llm` / `.llm_args` -> `Session.agent`
* per `simulations[i]`: `id` -> `session_id`, `task_id`, `trial`, `seed`, `start_time`,
  `end_time`, `termination_reason` -> `termination`, `reward_info.reward` (+ `reward_basis`,
  `reward_breakdown`) -> `reward`, `agent_cost` / `user_cost` -> usage cost, `skipped` -> a
  failed session, and `messages`: `user` -> user turn, `assistant` -> agent turn (with
  `tool_calls`), `tool` -> tool turn (`id`, `error`, `requestor`); `system` messages are not
  part of the conversation and are skipped.

The file is parsed as plain JSON (not through τ²'s pydantic models) so that every problem is
reported as one line naming the field, e.g. `results.json: simulations[3].messages[5].role:
unknown role 'bot'`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simgap.models import (
    AgentSpec,
    Reward,
    Role,
    Session,
    SessionStatus,
    Termination,
    ToolCall,
    Turn,
    Usage,
    UserKind,
)
from simgap.store.importers.common import ImportFormatError, load_json, need, parse_time

TAU2_TERMINATIONS = {t.value for t in Termination}


def looks_like_tau2(data: Any) -> bool:
    return isinstance(data, dict) and "simulations" in data and "info" in data


def _reward(ri: Any, *, path: Path, where: str) -> Reward | None:
    if ri is None:
        return None
    value = need(ri, "reward", (int, float), path=path, where=where)
    breakdown_raw = ri.get("reward_breakdown") or {}
    if not isinstance(breakdown_raw, dict):
        raise ImportFormatError(f"{path}: {where}.reward_breakdown: expected an object")
    breakdown = {str(k): float(v) for k, v in breakdown_raw.items() if isinstance(v, int | float)}
    basis = [str(b) for b in (ri.get("reward_basis") or [])]
    info = ri.get("info") if isinstance(ri.get("info"), dict) else {}
    return Reward(value=float(value), breakdown=breakdown, basis=basis, info=info or {})


def _tool_calls(raw: Any, *, path: Path, where: str) -> list[ToolCall]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ImportFormatError(f"{path}: {where}: expected a list")
    out: list[ToolCall] = []
    for k, tc in enumerate(raw):
        w = f"{where}[{k}]"
        name = need(tc, "name", str, path=path, where=w)
        args = tc.get("arguments") or {}
        if not isinstance(args, dict):
            raise ImportFormatError(f"{path}: {w}.arguments: expected an object")
        out.append(ToolCall(id=str(tc.get("id") or f"call_{k}"), name=name, arguments=args))
    return out


def _turns(messages: list[Any], *, path: Path, where: str) -> list[Turn]:
    turns: list[Turn] = []

    def add(role: Role, m: dict[str, Any], w: str, **kw: Any) -> None:
        ts = parse_time(m.get("timestamp"), path=path, where=f"{w}.timestamp")
        extra: dict[str, Any] = {} if ts is None else {"timestamp": ts}
        content = m.get("content")
        if content is not None and not isinstance(content, str):
            raise ImportFormatError(f"{path}: {w}.content: expected text")
        turns.append(Turn(idx=len(turns), role=role, content=content, **extra, **kw))

    def add_tool(m: dict[str, Any], w: str) -> None:
        requestor = m.get("requestor", "assistant")
        if requestor not in ("user", "assistant"):
            raise ImportFormatError(f"{path}: {w}.requestor: unknown requestor {requestor!r}")
        add(
            Role.TOOL,
            m,
            w,
            tool_call_id=str(m.get("id") or ""),
            tool_error=bool(m.get("error", False)),
            requestor=Role.USER if requestor == "user" else Role.AGENT,
        )

    for j, m in enumerate(messages):
        w = f"{where}[{j}]"
        role = need(m, "role", str, path=path, where=w)
        if role == "system":
            continue
        if role == "tool":
            if isinstance(m.get("tool_messages"), list):  # τ²'s MultiToolMessage
                for k, sub in enumerate(m["tool_messages"]):
                    add_tool(sub, f"{w}.tool_messages[{k}]")
            else:
                add_tool(m, w)
            continue
        if role not in ("user", "assistant"):
            raise ImportFormatError(f"{path}: {w}.role: unknown role {role!r}")
        calls = _tool_calls(m.get("tool_calls"), path=path, where=f"{w}.tool_calls")
        add(Role.USER if role == "user" else Role.AGENT, m, w, tool_calls=calls)
    return turns


def read_tau2_results(
    path: str | Path,
    *,
    batch: str = "tau2",
    user_kind: UserKind = UserKind.SIMULATOR,
    user_id: str | None = None,
) -> list[Session]:
    """All simulations of a τ² results file as finished simgap sessions."""
    p = Path(path)
    data = load_json(p)
    if not looks_like_tau2(data):
        raise ImportFormatError(
            f"{p}: not a τ²-bench results file (expected top-level 'info' and 'simulations')"
        )
    info = need(data, "info", dict, path=p, where="(file)")
    env = info.get("environment_info") or {}
    domain = need(env, "domain_name", str, path=p, where="info.environment_info")
    user_info = info.get("user_info") or {}
    sim_name = user_id or user_info.get("llm") or user_info.get("implementation") or "tau2-user"
    agent_info = info.get("agent_info") or {}
    agent = AgentSpec(
        name=str(agent_info.get("implementation") or "llm"),
        model=str(agent_info.get("llm") or "unknown"),
        settings=dict(agent_info.get("llm_args") or {}),
    )
    sims = need(data, "simulations", list, path=p, where="(file)")
    out: list[Session] = []
    for i, sim in enumerate(sims):
        w = f"simulations[{i}]"
        sid = need(sim, "id", str, path=p, where=w)
        task_id = need(sim, "task_id", (str, int), path=p, where=w)
        term_raw = sim.get("termination_reason")
        if term_raw is not None and term_raw not in TAU2_TERMINATIONS:
            raise ImportFormatError(f"{p}: {w}.termination_reason: unknown reason {term_raw!r}")
        messages = need(sim, "messages", list, path=p, where=w)
        skipped = bool(sim.get("skipped", False))
        out.append(
            Session(
                session_id=sid,
                task_id=str(task_id),
                domain=domain,
                user_kind=user_kind,
                user_id=str(sim_name),
                agent=agent,
                batch=batch,
                trial=int(sim.get("trial") or 0),
                seed=sim.get("seed") if isinstance(sim.get("seed"), int) else None,
                status=SessionStatus.FAILED if skipped else SessionStatus.DONE,
                termination=None if term_raw is None else Termination(term_raw),
                reward=_reward(sim.get("reward_info"), path=p, where=f"{w}.reward_info"),
                error="skipped by τ² (skip_failed_samples)" if skipped else None,
                started_at=parse_time(sim.get("start_time"), path=p, where=f"{w}.start_time"),
                ended_at=parse_time(sim.get("end_time"), path=p, where=f"{w}.end_time"),
                agent_usage=Usage(cost_usd=float(sim.get("agent_cost") or 0.0)),
                user_usage=Usage(cost_usd=float(sim.get("user_cost") or 0.0)),
                turns=_turns(messages, path=p, where=f"{w}.messages"),
                meta={
                    "source": "tau2-results",
                    "file": p.name,
                    "user_implementation": user_info.get("implementation"),
                    "user_llm_args": user_info.get("llm_args"),
                    "tau2_git_commit": info.get("git_commit"),
                },
            )
        )
    return out
