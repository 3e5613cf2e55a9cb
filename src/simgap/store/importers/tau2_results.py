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
  part of the conversation and are skipped. A message's `usage` (prompt/completion tokens) and
  `cost` become the turn's usage, and their sums the session's (τ²'s `agent_cost` /
  `user_cost` win for dollars when present).
* `reward_info` is kept whole, as for sessions simgap runs itself: `reward`, `reward_breakdown`
  and `reward_basis` as such, and the checks τ² made (`db_check`, `action_checks`,
  `env_assertions`, `nl_assertions`, `communicate_checks`, `info`) in `Reward.info`.
* Times: τ² writes `datetime.now().isoformat()`, the local time of the machine that ran it,
  without a zone. Zone-less times are read as this machine's local time (set `TZ` to the
  running machine's zone when importing elsewhere); times with a zone are exact.
* A simulation id that appears twice is imported once when both copies are identical (the
  import reports the duplicate) and refused, naming both positions, when they differ.
* `simgap` (an object on a simulation, written by `simgap export --format tau2` and ignored by
  τ²'s loader) restores what τ²'s schema has no field for: the user's kind and id, the batch,
  simgap's own terminations (transfer, out of scope, abandoned, infrastructure error), the
  failure cause and the session's meta.

The file is parsed as plain JSON (not through τ²'s pydantic models) so that every problem is
reported as one line naming the field, e.g. `results.json: simulations[3].messages[5].role:
unknown role 'bot'`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

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
from simgap.store.importers.common import (
    ImportFormatError,
    load_json,
    need,
    optional,
    parse_time,
)

TAU2_TERMINATIONS = {t.value for t in Termination}
M = TypeVar("M", bound=BaseModel)


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
    basis_raw = ri.get("reward_basis") or []
    if not isinstance(basis_raw, list):
        raise ImportFormatError(f"{path}: {where}.reward_basis: expected a list")
    # Everything else τ² recorded (its checks and their verdicts), as for native sessions.
    details = {k: v for k, v in ri.items() if k not in ("reward", "reward_breakdown")}
    return Reward(
        value=float(value), breakdown=breakdown, basis=[str(b) for b in basis_raw], info=details
    )


def _message_usage(m: dict[str, Any], *, path: Path, where: str) -> Usage | None:
    """A τ² message's `usage` ({prompt_tokens, completion_tokens}) and `cost`, as one call."""
    raw = m.get("usage")
    cost = optional(m, "cost", (int, float), path=path, where=where)
    if raw is None and cost is None:
        return None
    if raw is not None and not isinstance(raw, dict):
        raise ImportFormatError(f"{path}: {where}.usage: expected an object")
    raw = raw or {}
    prompt = optional(raw, "prompt_tokens", int, path=path, where=f"{where}.usage")
    completion = optional(raw, "completion_tokens", int, path=path, where=f"{where}.usage")
    return Usage(
        prompt_tokens=prompt or 0,
        completion_tokens=completion or 0,
        calls=1,
        cost_usd=float(cost or 0.0),
    )


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


def _turns(messages: list[Any], *, path: Path, where: str, start: datetime) -> list[Turn]:
    """The conversation; a message without a time gets the one before it (the simulation's
    start for the first), so that reading the same file twice gives the same turns."""
    turns: list[Turn] = []

    def add(role: Role, m: dict[str, Any], w: str, **kw: Any) -> None:
        ts = parse_time(m.get("timestamp"), path=path, where=f"{w}.timestamp", naive_is_local=True)
        ts = ts or (turns[-1].timestamp if turns else start)
        extra: dict[str, Any] = {"timestamp": ts}
        content = m.get("content")
        if content is not None and not isinstance(content, str):
            raise ImportFormatError(f"{path}: {w}.content: expected text")
        own = m.get("simgap")  # written by simgap's exporter: what τ²'s schema cannot hold
        if isinstance(own, dict):
            if isinstance(own.get("meta"), dict):
                extra["meta"] = own["meta"]
            if isinstance(own.get("usage"), dict):
                kw["usage"] = _validated(Usage, own["usage"], path=path, where=f"{w}.simgap.usage")
            raw = own.get("raw_arguments")
            if isinstance(raw, dict) and kw.get("tool_calls"):
                kw["tool_calls"] = [
                    tc.model_copy(update={"raw_arguments": raw.get(tc.id)})
                    for tc in kw["tool_calls"]
                ]
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
        usage = _message_usage(m, path=path, where=w)
        add(Role.USER if role == "user" else Role.AGENT, m, w, tool_calls=calls, usage=usage)
    return turns


def _side_usage(turns: list[Turn], role: Role, cost: float | None) -> Usage:
    """A side's usage: the sum over its turns; τ²'s per-side cost wins when it has one."""
    total = Usage()
    for t in turns:
        if t.role == role and t.usage is not None:
            total = total + t.usage
    if cost is not None:
        total = total.model_copy(update={"cost_usd": float(cost)})
    return total


def _validated(cls: type[M], value: Any, *, path: Path, where: str) -> M:
    """A simgap record from the `simgap` extras, or one line naming the field."""
    try:
        return cls.model_validate(value)
    except ValidationError as e:
        err = e.errors()[0]
        loc = "".join(f".{x}" for x in err["loc"])
        raise ImportFormatError(f"{path}: {where}{loc}: {err['msg']}") from None


def _simgap_extras(sim: dict[str, Any], *, path: Path, where: str) -> dict[str, Any]:
    """What `simgap export --format tau2` wrote beyond τ²'s schema (absent in τ²'s files)."""
    extra = sim.get("simgap")
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise ImportFormatError(f"{path}: {where}.simgap: expected an object")
    kind = extra.get("user_kind")
    if kind is not None and kind not in {k.value for k in UserKind}:
        raise ImportFormatError(f"{path}: {where}.simgap.user_kind: unknown kind {kind!r}")
    term = extra.get("termination")
    if term is not None and term not in TAU2_TERMINATIONS:
        raise ImportFormatError(f"{path}: {where}.simgap.termination: unknown reason {term!r}")
    status = extra.get("status")
    if status is not None and status not in {s.value for s in SessionStatus}:
        raise ImportFormatError(f"{path}: {where}.simgap.status: unknown status {status!r}")
    out = dict(extra)
    if out.get("agent") is not None:
        out["agent"] = _validated(AgentSpec, out["agent"], path=path, where=f"{where}.simgap.agent")
    for key in ("agent_usage", "user_usage"):
        if out.get(key) is not None:
            out[key] = _validated(Usage, out[key], path=path, where=f"{where}.simgap.{key}")
    if out.get("reward") is not None:
        out["reward"] = _validated(Reward, out["reward"], path=path, where=f"{where}.simgap.reward")
    return out


def read_tau2_results(
    path: str | Path,
    *,
    batch: str = "tau2",
    user_kind: UserKind = UserKind.SIMULATOR,
    user_id: str | None = None,
) -> list[Session]:
    """All simulations of a τ² results file as finished simgap sessions.

    A simulation id repeated with identical content is returned twice (the store imports it
    once and counts the duplicate); repeated with different content, the file is refused.
    """
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
    local_zone = datetime.now().astimezone().tzname() or "local"
    # The file's own time (else its modification time): what a message without any time gets.
    file_time = parse_time(
        data.get("timestamp"), path=p, where="timestamp", naive_is_local=True
    ) or datetime.fromtimestamp(p.stat().st_mtime, UTC)
    sims = need(data, "simulations", list, path=p, where="(file)")
    out: list[Session] = []
    first_at: dict[str, int] = {}
    for i, sim in enumerate(sims):
        w = f"simulations[{i}]"
        sid = need(sim, "id", str, path=p, where=w)
        if sid in first_at:
            j = first_at[sid]
            if sims[j] != sim:
                raise ImportFormatError(
                    f"{p}: {w}.id: {sid!r} is also the id of simulations[{j}], with different "
                    "content; a results file holds each simulation once"
                )
        else:
            first_at[sid] = i
        task_id = need(sim, "task_id", (str, int), path=p, where=w)
        term_raw = sim.get("termination_reason")
        if term_raw is not None and term_raw not in TAU2_TERMINATIONS:
            raise ImportFormatError(f"{p}: {w}.termination_reason: unknown reason {term_raw!r}")
        messages = need(sim, "messages", list, path=p, where=w)
        trial = optional(sim, "trial", int, path=p, where=w)
        seed = optional(sim, "seed", int, path=p, where=w)
        agent_cost = optional(sim, "agent_cost", (int, float), path=p, where=w)
        user_cost = optional(sim, "user_cost", (int, float), path=p, where=w)
        skipped = optional(sim, "skipped", bool, path=p, where=w) or False
        extra = _simgap_extras(sim, path=p, where=w)
        started = parse_time(
            sim.get("start_time"), path=p, where=f"{w}.start_time", naive_is_local=True
        )
        ended = parse_time(sim.get("end_time"), path=p, where=f"{w}.end_time", naive_is_local=True)
        turns = _turns(messages, path=p, where=f"{w}.messages", start=started or file_time)
        term = extra.get("termination") or term_raw
        status = extra.get("status") or (
            SessionStatus.FAILED.value if skipped else SessionStatus.DONE.value
        )
        meta = {
            "source": "tau2-results",
            "file": p.name,
            "user_implementation": user_info.get("implementation"),
            "user_llm_args": user_info.get("llm_args"),
            "tau2_git_commit": info.get("git_commit"),
            "zone_less_times_read_as": f"local time ({local_zone})",
        }
        out.append(
            Session(
                session_id=sid,
                task_id=str(task_id),
                domain=domain,
                user_kind=UserKind(extra.get("user_kind") or user_kind),
                user_id=str(extra.get("user_id") or sim_name),
                agent=extra.get("agent") or agent,
                batch=str(extra.get("batch") or batch),
                trial=trial or 0,
                seed=seed,
                status=SessionStatus(status),
                termination=None if term is None else Termination(term),
                reward=extra.get("reward")
                or _reward(sim.get("reward_info"), path=p, where=f"{w}.reward_info"),
                error=extra.get("error")
                or ("skipped by τ² (skip_failed_samples)" if skipped else None),
                started_at=started,
                ended_at=ended,
                agent_usage=extra.get("agent_usage") or _side_usage(turns, Role.AGENT, agent_cost),
                user_usage=extra.get("user_usage") or _side_usage(turns, Role.USER, user_cost),
                turns=turns,
                meta=dict(extra["meta"]) if isinstance(extra.get("meta"), dict) else meta,
            )
        )
    return out
