"""Conversations between the parametric customer and a fixed scripted agent (no model, no
environment), for the behaviour and fitting tests. Everything made here is SYNTHETIC."""

from __future__ import annotations

import re
from typing import Any

from simgap.models import Role, Session, SessionStatus, Task, Turn, UserKind
from simgap.users import BehaviorProfile, BehaviorSimulator
from tests.fakes.openai_server import Reply

TASK = Task(
    domain="airline",
    task_id="t",
    reason_for_call=(
        "You want to cancel reservation ABC123. It was booked last week for a trip to Denver "
        "with two friends."
    ),
    known_info="You are Ana Lee.\nYour user id is ana_lee_1234.",
)
# greeting, a request for a detail, an error, a proposal, another detail, error, proposal...
AGENT_LINES = (
    "Hi! How can I help you today?",
    "Could you give me your user id?",
    "Unfortunately, I cannot find that reservation.",
    "Shall I proceed with the cancellation?",
    "May I have your name?",
    "Unfortunately, that did not work.",
    "Do you want me to try once more?",
)


def converse(
    profile: BehaviorProfile,
    seed: int,
    *,
    agent_lines: tuple[str, ...] = AGENT_LINES,
    task: Task = TASK,
    max_user_turns: int = 40,
) -> Session:
    """One session: the agent says its lines in order (the last one repeats) until the
    customer stops."""
    sim = BehaviorSimulator("synthetic-behavior", task, profile, seed)
    turns = [Turn(idx=0, role=Role.AGENT, content=agent_lines[0])]
    for i in range(max_user_turns):
        r = sim.next_reply(turns)
        turns.append(Turn(idx=len(turns), role=Role.USER, content=r.content, meta=r.meta))
        if r.stop is not None:
            break
        line = agent_lines[min(i + 1, len(agent_lines) - 1)]
        turns.append(Turn(idx=len(turns), role=Role.AGENT, content=line))
    return Session(
        session_id=f"synthetic-{seed}",
        task_id=task.task_id,
        domain=task.domain,
        user_kind=UserKind.SIMULATOR,
        user_id="synthetic-behavior",
        batch="synthetic",
        status=SessionStatus.DONE,
        seed=seed,
        turns=turns,
        meta={"synthetic": True},
    )


_UID = re.compile(r"\b[a-z]+_[a-z]+_\d{3,}\b")


def certificate_agent(req: dict[str, Any]) -> Reply:
    """A scripted τ² agent for airline task 27 (delayed flight, $150 certificate): it needs the
    customer's user id, which only the customer's scenario holds, then looks the user up and
    sends the certificate. The task's τ² reward is 1 iff the customer gave a usable id."""
    msgs = req["messages"]
    said = [str(m.get("content") or "") for m in msgs if m["role"] == "user"]
    ids = [i for text in said for i in _UID.findall(text)]
    tool_results = [m for m in msgs if m["role"] == "tool"]
    if msgs[-1]["role"] == "tool":
        if len(tool_results) == 1:
            return Reply.tool_call("send_certificate", {"user_id": ids[-1], "amount": 150})
        return Reply.text("I have sent a certificate of $150 to your account.")
    if not ids:
        return Reply.text("Could you give me your user id?")
    if not tool_results:
        return Reply.tool_call("get_user_details", {"user_id": ids[-1]})
    return Reply.text("Is there anything else I can do?")
