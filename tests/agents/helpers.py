"""Scripted customers for the probe agent's tests, and a way to run one session in memory.

They read the scenario (a customer may), which the probe never does: what they say or keep
back is the only thing that differs between the sessions these tests compare.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from simgap.agents import build_agent
from simgap.models import AgentSpec, Role, Session, Task, Turn, UserKind
from simgap.sessions.driver import SessionDriver
from simgap.sessions.simulate import simulate
from simgap.store import Store
from simgap.users.base import UserReply, UserSimulator

PROBE = AgentSpec(name="probe", model="none")
ENDINGS = ("anything else", "something else", "goodbye", "great day")


def redact(text: str, value: object) -> str:
    """`text` with every occurrence of `value` (any case, any separators) replaced."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", str(value)) if w]
    if not words:
        return text
    pattern = (
        r"(?<![A-Za-z0-9])" + r"[^A-Za-z0-9]+".join(map(re.escape, words)) + r"(?![A-Za-z0-9])"
    )
    return re.sub(pattern, "[kept back]", text, flags=re.IGNORECASE)


def last_agent_text(history: Sequence[Turn]) -> str:
    return next(
        (t.content for t in reversed(history) if t.role == Role.AGENT and t.content), ""
    ).lower()


class ScriptedCustomer(UserSimulator):
    """Opens with the scenario (minus what it keeps back), then answers every question the
    same way: `answer` to confirmations and questions, ###STOP### after "anything else?",
    ###TRANSFER### on a transfer; gives up after `patience` turns."""

    name = "scripted"

    def __init__(
        self,
        task: Task,
        *,
        keep_back: Iterable[object] = (),
        answer: str = "Yes.",
        patience: int = 40,
    ) -> None:
        text = task.scenario_text()
        for value in keep_back:
            text = redact(text, value)
        self.opening = text
        self.answer = answer
        self.patience = patience

    async def reply(self, history: Sequence[Turn], *, seed: int | None = None) -> UserReply:
        mine = sum(1 for t in history if t.role == Role.USER)
        if mine == 0:
            return UserReply(content=self.opening)
        last = last_agent_text(history)
        if "transferred" in last:
            return UserReply(content="###TRANSFER###")
        if any(e in last for e in ENDINGS) or mine >= self.patience:
            return UserReply(content="No, that's all. Thanks! ###STOP###")
        if "?" in last and ("your" in last and "yes" not in last):
            return UserReply(
                content="I don't know that, sorry." if self.answer == "Yes." else self.answer
            )
        return UserReply(content=self.answer)


async def run_probe(store: Store, task: Task, user: UserSimulator, *, seed: int = 1) -> Session:
    """One probe session on `task` with `user`, to the end (τ²'s default limits)."""
    session = Session(
        session_id=f"probe-{task.domain}-{task.task_id}-{user.name}-{seed}",
        task_id=task.task_id,
        domain=task.domain,
        user_kind=UserKind.SIMULATOR,
        user_id=user.name,
        agent=PROBE,
        batch="test",
        seed=seed,
    )
    driver = await SessionDriver.open(
        store,
        session,
        task,
        lambda env: build_agent(PROBE, None, env),  # type: ignore[arg-type]
    )
    return await simulate(driver, user)


def probe_calls(session: Session) -> list[tuple[int, Turn]]:
    """(index in the transcript, turn) of every tool call the probe made."""
    return [(i, t) for i, t in enumerate(session.turns) if t.role == Role.AGENT and t.tool_calls]


def customer_text_before(session: Session, idx: int) -> str:
    return " ".join(
        t.content or "" for t in session.turns[:idx] if t.role == Role.USER and not t.tool_calls
    )
