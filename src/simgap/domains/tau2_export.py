"""simgap sessions -> a τ²-bench `results.json` that τ²'s own loader (`Results.load`) reads.

So sessions run (or collected) with simgap can go through τ²'s tooling: its metrics, its
viewer, other people's analysis scripts. One file holds one domain (τ²'s `Results` has one
environment). Finished sessions only: a session still running has no τ² counterpart.

What τ²'s schema has no field for travels in `simgap` objects (on a simulation and on a
message) that τ²'s loader ignores and `simgap import` reads back, so that a round trip
(export, then import) gives the same sessions: the user's kind and id, the batch, the agent of
each session, simgap's own terminations (transfer, out of scope, abandoned, infrastructure
error; τ² gets its nearest reason), the failure cause, the session's and each turn's meta,
full usage counts and the raw text of unparseable tool arguments.

Times are written as τ² writes them: local time without a zone (`datetime.isoformat()`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from simgap import __version__
from simgap.domains.environment import DomainEnvironment
from simgap.domains.tasks import DOMAINS, load_tasks
from simgap.errors import ConfigError
from simgap.models import Role, Session, SessionStatus, Termination, Turn, Usage

# τ²-bench's defaults (tau2.config), used when the sessions did not record their limits.
DEFAULT_MAX_STEPS = 200
DEFAULT_MAX_ERRORS = 10

# τ²'s termination reasons; simgap's own map to the nearest (τ² ends a conversation on the
# user's ###TRANSFER### and ###OUT-OF-SCOPE### as a user stop).
TAU2_REASONS = {
    Termination.USER_STOP,
    Termination.AGENT_STOP,
    Termination.JUDGE_STOP,
    Termination.MAX_STEPS,
    Termination.TOO_MANY_ERRORS,
    Termination.AGENT_ERROR,
    Termination.USER_ERROR,
}
NEAREST = {
    Termination.TRANSFER: Termination.USER_STOP,
    Termination.OUT_OF_SCOPE: Termination.USER_STOP,
    Termination.ABANDONED: Termination.USER_STOP,
    Termination.INFRA_ERROR: Termination.AGENT_ERROR,
}


def _local(dt: Any) -> str | None:
    """An aware time as τ² writes it: local time, no zone."""
    if dt is None:
        return None
    return str(dt.astimezone().replace(tzinfo=None).isoformat())


def _usage(u: Usage | None) -> dict[str, int] | None:
    if u is None:
        return None
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens}


def _message(t: Turn) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if t.meta:
        extra["meta"] = t.meta
    if t.usage is not None:
        extra["usage"] = t.usage.model_dump()
    raw = {tc.id: tc.raw_arguments for tc in t.tool_calls if tc.raw_arguments is not None}
    if raw:
        extra["raw_arguments"] = raw
    if t.role == Role.TOOL:
        m: dict[str, Any] = {
            "id": t.tool_call_id or "",
            "role": "tool",
            "content": t.content,
            "requestor": "user" if t.requestor == Role.USER else "assistant",
            "error": t.tool_error,
        }
    else:
        who = "user" if t.role == Role.USER else "assistant"
        m = {
            "role": who,
            "content": t.content,
            "tool_calls": [
                {"id": tc.id, "name": tc.name, "arguments": tc.arguments, "requestor": who}
                for tc in t.tool_calls
            ]
            or None,
            "usage": _usage(t.usage),
            "cost": None if t.usage is None else t.usage.cost_usd,
        }
    m["turn_idx"] = t.idx
    m["timestamp"] = _local(t.timestamp)
    if extra:
        m["simgap"] = extra
    return m


def _simulation(s: Session) -> dict[str, Any]:
    term = s.termination or (
        Termination.INFRA_ERROR if s.status == SessionStatus.FAILED else Termination.USER_STOP
    )
    reason = term if term in TAU2_REASONS else NEAREST.get(term, Termination.AGENT_ERROR)
    start = s.started_at or (s.turns[0].timestamp if s.turns else None)
    end = s.ended_at or (s.turns[-1].timestamp if s.turns else None)
    reward = None
    if s.reward is not None:
        reward = {
            **s.reward.info,
            "reward": s.reward.value,
            "reward_breakdown": s.reward.breakdown or None,
            "reward_basis": s.reward.basis or None,
        }
    return {
        "id": s.session_id,
        "task_id": s.task_id,
        "start_time": _local(start) or "",
        "end_time": _local(end) or "",
        "duration": (end - start).total_seconds() if start and end else 0.0,
        "termination_reason": reason.value,
        "agent_cost": s.agent_usage.cost_usd,
        "user_cost": s.user_usage.cost_usd,
        "reward_info": reward,
        "messages": [_message(t) for t in s.turns],
        "trial": s.trial,
        "seed": s.seed,
        "skipped": s.status == SessionStatus.FAILED,
        "simgap": {
            "user_kind": s.user_kind.value,
            "user_id": s.user_id,
            "batch": s.batch,
            "agent": s.agent.model_dump(),
            "status": s.status.value,
            "termination": None if s.termination is None else s.termination.value,
            "error": s.error,
            "meta": s.meta,
            "reward": None if s.reward is None else s.reward.model_dump(),
            "agent_usage": s.agent_usage.model_dump(),
            "user_usage": s.user_usage.model_dump(),
        },
    }


def _common(values: Iterable[Any], default: Any) -> Any:
    vals = {json.dumps(v, sort_keys=True, default=str) for v in values}
    return json.loads(vals.pop()) if len(vals) == 1 else default


def tau2_results(sessions: Sequence[Session]) -> tuple[dict[str, Any], int]:
    """The τ² `Results` document of the finished `sessions`, and how many were left out
    (still running)."""
    finished = [s for s in sessions if s.status != SessionStatus.RUNNING]
    domains = sorted({s.domain for s in finished})
    if not finished:
        raise ConfigError("no finished session to export (a τ² results file needs one)")
    if len(domains) > 1:
        raise ConfigError(
            f"sessions of {len(domains)} domains ({', '.join(domains)}): a τ² results file "
            "holds one domain; pass --domain"
        )
    domain = domains[0]
    if domain not in DOMAINS:
        raise ConfigError(f"domain {domain!r} is not a τ²-bench domain; cannot export to τ²")
    ids = sorted({s.task_id for s in finished}, key=lambda x: (len(x), x))
    tasks = load_tasks(domain, task_ids=ids)
    agents = [s.agent for s in finished]
    users = sorted({s.user_id for s in finished})
    doc = {
        "timestamp": _local(max((s.ended_at for s in finished if s.ended_at), default=None)),
        "info": {
            "git_commit": f"simgap {__version__}",
            "num_trials": max(s.trial for s in finished) + 1,
            "max_steps": _common((s.meta.get("max_steps") for s in finished), DEFAULT_MAX_STEPS)
            or DEFAULT_MAX_STEPS,
            "max_errors": _common((s.meta.get("max_errors") for s in finished), DEFAULT_MAX_ERRORS)
            or DEFAULT_MAX_ERRORS,
            "user_info": {
                "implementation": "simgap",
                "llm": users[0] if len(users) == 1 else None,
                "llm_args": None,
            },
            "agent_info": {
                "implementation": _common((a.name for a in agents), "simgap"),
                "llm": _common((a.model for a in agents), None),
                "llm_args": _common((a.settings for a in agents), None),
            },
            "environment_info": {
                "domain_name": domain,
                "policy": DomainEnvironment(tasks[0]).policy,
            },
        },
        "tasks": [t.raw for t in tasks],
        "simulations": [_simulation(s) for s in finished],
    }
    return doc, len(sessions) - len(finished)


def write_tau2_results(sessions: Sequence[Session], path: str | Path) -> tuple[int, int]:
    """Write the τ² results file atomically; returns (simulations written, left out)."""
    doc, left_out = tau2_results(sessions)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, ensure_ascii=False, default=str)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(doc["simulations"]), left_out
