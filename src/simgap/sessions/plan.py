"""What a sweep will run: one `SessionPlan` per (task, simulator, trial), with stable ids.

Ids are a hash of everything that defines the session, so rerunning the same command finds the
sessions it already stored and skips or continues them instead of duplicating them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from simgap.models import AgentSpec, Task
from simgap.sessions.protocol import DEFAULT_PROTOCOL, get_protocol
from simgap.users import UserPreset


def session_id_for(
    *,
    domain: str,
    task_id: str,
    user_id: str,
    agent: AgentSpec,
    batch: str,
    trial: int,
    user_settings: dict[str, object] | None = None,
    protocol: str = DEFAULT_PROTOCOL,
) -> str:
    """A session's id: a hash of everything that defines it, the protocol's name included (a
    session run under other rules is another session)."""
    ident = json.dumps(
        [
            domain,
            task_id,
            user_id,
            agent.model_dump(mode="json"),
            batch,
            trial,
            user_settings or {},
            protocol,
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    return "s" + hashlib.sha256(ident.encode()).hexdigest()[:23]


def seed_for(session_id: str, base_seed: int) -> int:
    """A per-session seed: reproducible, different across trials, fits every provider."""
    h = int(hashlib.sha256(f"{base_seed}:{session_id}".encode()).hexdigest()[:8], 16)
    return h % (2**31 - 1)


def preset_identity(preset: UserPreset) -> dict[str, object]:
    """The parts of a preset that change what the simulator does (model, settings)."""
    return {
        "kind": preset.kind,
        "model": preset.model.public() if preset.model else None,
        "settings": preset.settings,
    }


@dataclass(frozen=True)
class SessionPlan:
    session_id: str
    task: Task
    preset: UserPreset
    agent: AgentSpec
    trial: int
    batch: str
    seed: int
    protocol: str = DEFAULT_PROTOCOL


def plan_sessions(
    tasks: Sequence[Task],
    presets: Sequence[UserPreset],
    *,
    agent: AgentSpec,
    trials: int = 1,
    batch: str = "default",
    base_seed: int = 300,
    protocol: str = DEFAULT_PROTOCOL,
) -> list[SessionPlan]:
    """Tasks × simulators × trials, in task-major order (τ²-bench's default seed is 300),
    under the named conversation protocol (`simgap.sessions.protocol`)."""
    protocol = get_protocol(protocol).name
    out: list[SessionPlan] = []
    for task in tasks:
        for preset in presets:
            for trial in range(trials):
                sid = session_id_for(
                    domain=task.domain,
                    task_id=task.task_id,
                    user_id=preset.name,
                    agent=agent,
                    batch=batch,
                    trial=trial,
                    user_settings=preset_identity(preset),
                    protocol=protocol,
                )
                out.append(
                    SessionPlan(
                        session_id=sid,
                        task=task,
                        preset=preset,
                        agent=agent,
                        trial=trial,
                        batch=batch,
                        seed=seed_for(sid, base_seed),
                        protocol=protocol,
                    )
                )
    return out
