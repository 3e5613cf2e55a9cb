"""One conversation, driven turn by turn against the τ² environment, persisted as it happens.

The same driver serves simulated users (the sweep runner) and people (the study app): the
runner asks a `UserSimulator` for the user's turn, the study app passes what the person typed.
Every turn is committed before the next step starts, so a crash or a closed tab loses at most
the step in flight, and `open()` continues a stored conversation from where it stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

from simgap.agents import Agent, AgentReply
from simgap.domains import FIRST_AGENT_MESSAGE, DomainEnvironment, evaluate
from simgap.errors import SimgapError
from simgap.models import (
    Reward,
    Role,
    Session,
    SessionStatus,
    Task,
    Termination,
    Turn,
    Usage,
    utcnow,
)
from simgap.store import Store
from simgap.users import UserReply, detect_stop

DEFAULT_MAX_STEPS = 200  # τ²-bench's default (tau2.config.DEFAULT_MAX_STEPS)
DEFAULT_MAX_ERRORS = 10  # τ²-bench's default (tau2.config.DEFAULT_MAX_ERRORS)
MAX_USER_TEXT = 4000  # characters a person may send in one message


if TYPE_CHECKING:
    from simgap.sessions.reward_pool import RewardPool


class Actor(StrEnum):
    """Who must act next in a conversation."""

    AGENT = "agent"
    USER = "user"
    ENV = "env"  # tool calls are waiting for their results
    NOBODY = "nobody"  # finished


class TurnError(SimgapError):
    """A turn that cannot be taken now (wrong actor, empty or over-long message...)."""


class SessionDriver:
    """Drives one session. Build it with `SessionDriver.open`."""

    def __init__(
        self,
        store: Store,
        session: Session,
        task: Task,
        env: DomainEnvironment,
        agent: Agent,
        *,
        max_steps: int = DEFAULT_MAX_STEPS,
        max_errors: int = DEFAULT_MAX_ERRORS,
    ) -> None:
        self.store = store
        self.session = session
        self.task = task
        self.env = env
        self.agent = agent
        self.max_steps = max_steps
        self.max_errors = max_errors
        self._lock = asyncio.Lock()
        # Where τ²'s evaluator runs: worker processes when the runner has a pool, else a thread.
        self.reward_pool: RewardPool | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        store: Store,
        session: Session,
        task: Task,
        make_agent: Callable[[DomainEnvironment], Agent],
        *,
        max_steps: int = DEFAULT_MAX_STEPS,
        max_errors: int = DEFAULT_MAX_ERRORS,
        restart: bool = False,
        env: DomainEnvironment | None = None,
    ) -> SessionDriver:
        """Create the session, or continue the stored one with the same id.

        A stored `running` session is replayed into a fresh environment and continues; a
        `failed` one (or any, with `restart=True`) starts over; a `done` one is read-only.
        `env` is a freshly built environment of `task` to use instead of building one (the
        study app builds it while the participant reads the briefing).
        """
        if env is None:
            env = await asyncio.to_thread(DomainEnvironment, task)
        stored = store.get_session(session.session_id)
        if stored is None:
            session = session.model_copy(
                update={"status": SessionStatus.RUNNING, "started_at": utcnow(), "turns": []}
            )
            store.start_session(session)
        elif stored.status == SessionStatus.DONE and not restart:
            session = stored
        else:
            session = stored
            fresh = restart or stored.status == SessionStatus.FAILED
            if not fresh:
                try:
                    await asyncio.to_thread(env.replay, stored.turns)
                except Exception as e:  # τ² data changed under a stored session: start over
                    session.meta["restarted_because"] = f"replay failed: {str(e).splitlines()[0]}"
                    fresh = True
            if fresh:
                store.truncate_turns(session.session_id, 0)
                session.turns = []
                env = await asyncio.to_thread(DomainEnvironment, task)
                session.status = SessionStatus.RUNNING
                session.termination, session.reward, session.error = None, None, None
                session.started_at = utcnow()
                store.update_session(
                    session.session_id,
                    status=SessionStatus.RUNNING,
                    termination=None,
                    reward=None,
                    error=None,
                    started_at=session.started_at,
                    ended_at=None,
                    meta=session.meta,
                )
        agent = make_agent(env)
        return cls(store, session, task, env, agent, max_steps=max_steps, max_errors=max_errors)

    # -- state --------------------------------------------------------------------------------
    @property
    def turns(self) -> list[Turn]:
        return self.session.turns

    @property
    def done(self) -> bool:
        return self.session.status == SessionStatus.DONE

    @property
    def steps(self) -> int:
        return sum(1 for t in self.turns if not t.meta.get("initial"))

    @property
    def errors(self) -> int:
        return sum(1 for t in self.turns if t.role == Role.TOOL and t.tool_error)

    def visible_turns(self) -> list[Turn]:
        """What a person in the study sees: text messages only, never tool traffic."""
        return [t for t in self.turns if t.role != Role.TOOL and not t.tool_calls and t.content]

    def next_actor(self) -> Actor:
        if self.done:
            return Actor.NOBODY
        if not self.turns:
            return Actor.AGENT
        last = self.turns[-1]
        if last.role == Role.TOOL or last.tool_calls:
            if self._pending_calls():
                return Actor.ENV
            caller = self._last_call_turn()
            return Actor.USER if caller is not None and caller.role == Role.USER else Actor.AGENT
        return Actor.USER if last.role == Role.AGENT else Actor.AGENT

    def _last_call_turn(self) -> Turn | None:
        for t in reversed(self.turns):
            if t.role != Role.TOOL:
                return t if t.tool_calls else None
        return None

    def _pending_calls(self) -> list[int]:
        """Indices (into the last call turn's calls) still waiting for a result."""
        caller = self._last_call_turn()
        if caller is None:
            return []
        answered = {t.tool_call_id for t in self.turns[caller.idx + 1 :] if t.role == Role.TOOL}
        return [i for i, tc in enumerate(caller.tool_calls) if tc.id not in answered]

    # -- writing turns ------------------------------------------------------------------------
    def _append(self, turn: Turn) -> Turn:
        turn = turn.model_copy(update={"idx": len(self.turns)})
        self.store.append_turn(self.session.session_id, turn)
        self.turns.append(turn)
        return turn

    async def start(self) -> list[Turn]:
        """Open the conversation as τ² does: the task's initial history, or the agent's greeting."""
        if self.turns:
            return []
        initial = self.env.initial_turns()
        if initial:
            return [self._append(t) for t in initial]
        return [self._append(Turn(idx=0, role=Role.AGENT, content=FIRST_AGENT_MESSAGE))]

    async def run_pending_tools(self) -> list[Turn]:
        """Execute the tool calls of the last call turn that have no result yet."""
        caller = self._last_call_turn()
        if caller is None:
            return []
        out: list[Turn] = []
        for i in self._pending_calls():
            tc = caller.tool_calls[i]
            tool_turn = await asyncio.to_thread(
                self.env.call, tc, requestor=caller.role, idx=len(self.turns)
            )
            out.append(self._append(tool_turn))
        return out

    async def agent_step(self) -> list[Turn]:
        """One agent step: a message for the user, or tool calls plus their results."""
        t0 = time.perf_counter()
        reply: AgentReply = await self.agent.reply(self.turns, seed=self.session.seed)
        meta = dict(reply.meta, latency_s=round(time.perf_counter() - t0, 4))
        turn = self._append(
            Turn(
                idx=0,
                role=Role.AGENT,
                content=reply.content,
                tool_calls=reply.tool_calls,
                usage=reply.usage,
                meta=meta,
            )
        )
        out = [turn]
        if reply.tool_calls:
            out += await self.run_pending_tools()
        elif self.agent.is_stop(reply):
            await self.finish(Termination.AGENT_STOP)
        return out

    async def user_step(self, reply: UserReply, *, latency_s: float | None = None) -> list[Turn]:
        """Record the user's turn (simulated or typed); runs the user's tool calls, if any."""
        if not reply.tool_calls and not (reply.content and reply.content.strip()):
            raise TurnError("empty user message")
        meta = dict(reply.meta)
        if latency_s is not None:
            meta["latency_s"] = round(latency_s, 4)
        turn = self._append(
            Turn(
                idx=0,
                role=Role.USER,
                content=reply.content,
                tool_calls=reply.tool_calls,
                usage=reply.usage,
                meta=meta,
            )
        )
        out = [turn]
        if reply.tool_calls:
            out += await self.run_pending_tools()
        elif (stop := reply.stop) is not None:
            await self.finish(stop)
        return out

    # -- the loop -----------------------------------------------------------------------------
    def limit_reached(self) -> Termination | None:
        """τ²'s limits, checked (as τ² does) only when no tool result is pending."""
        if self.next_actor() == Actor.ENV:
            return None
        if self.errors >= self.max_errors:
            return Termination.TOO_MANY_ERRORS
        if self.steps >= self.max_steps:
            return Termination.MAX_STEPS
        return None

    async def advance(self) -> Actor:
        """Do every step that needs no user (tools, agent), stopping at limits or the user's turn.

        Returns who acts next: USER (waiting for the user) or NOBODY (finished).
        """
        async with self._lock:
            if not self.turns and not self.done:
                await self.start()
            while not self.done:
                if (reason := self._stored_stop()) is not None:
                    await self.finish(reason)
                    break
                if (limit := self.limit_reached()) is not None:
                    await self.finish(limit)
                    break
                actor = self.next_actor()
                if actor == Actor.ENV:
                    await self.run_pending_tools()
                elif actor == Actor.AGENT:
                    await self.agent_step()
                else:
                    break
            return self.next_actor()

    def _stored_stop(self) -> Termination | None:
        """A stop already in the transcript (crash between the stop turn and `finish`)."""
        if not self.turns:
            return None
        last = self.turns[-1]
        if last.role == Role.USER and not last.tool_calls:
            return detect_stop(last.content)
        return None

    async def human_says(self, text: str) -> list[Turn]:
        """A person's message: stored, then the agent answers (tool calls run unseen)."""
        text = (text or "").strip()
        if not text:
            raise TurnError("the message is empty")
        if len(text) > MAX_USER_TEXT:
            raise TurnError(f"the message is longer than {MAX_USER_TEXT} characters")
        if await self.advance() != Actor.USER:
            raise TurnError("the conversation has ended")
        n = len(self.turns)
        async with self._lock:
            await self.user_step(UserReply(content=text))
        await self.advance()
        return self.turns[n:]

    # -- the end ------------------------------------------------------------------------------
    def usage_by_role(self) -> tuple[Usage, Usage]:
        agent, user = Usage(), Usage()
        for t in self.turns:
            if t.usage is None:
                continue
            if t.role == Role.AGENT:
                agent = agent + t.usage
            elif t.role == Role.USER:
                user = user + t.usage
        return agent, user

    async def compute_reward(self, termination: Termination) -> Reward:
        """τ²'s reward on the transcript. By default the fast path, in a thread: it scores the
        environment the session ran in (no rebuild, gold outcome cached): one database hash,
        ~10 ms in airline. In the reward pool's worker processes when one is set (they rebuild
        the environment)."""
        if self.reward_pool is not None:
            return await self.reward_pool.evaluate(self.task, self.turns, termination)
        return await asyncio.to_thread(evaluate, self.task, self.turns, termination, env=self.env)

    async def finish(self, termination: Termination, *, error: str | None = None) -> Session:
        """End the conversation: τ²'s reward, totals and status written in one update."""
        reward: Reward | None
        if termination == Termination.INFRA_ERROR:
            reward, status = None, SessionStatus.FAILED
        else:
            reward = await self.compute_reward(termination)
            status = SessionStatus.DONE
        agent_usage, user_usage = self.usage_by_role()
        s = self.session
        s.status, s.termination, s.reward, s.error = status, termination, reward, error
        s.ended_at = utcnow()
        s.agent_usage, s.user_usage = agent_usage, user_usage
        self.store.update_session(
            s.session_id,
            status=status,
            termination=termination,
            reward=reward,
            error=error,
            ended_at=s.ended_at,
            agent_usage=agent_usage,
            user_usage=user_usage,
            meta=s.meta,
        )
        return s


def transcript(turns: Sequence[Turn]) -> str:
    """A plain-text transcript (for logs and error messages)."""
    lines = []
    for t in turns:
        if t.role == Role.TOOL:
            lines.append(f"[tool {t.tool_call_id}] {(t.content or '')[:200]}")
        elif t.tool_calls:
            calls = ", ".join(f"{c.name}({c.arguments})" for c in t.tool_calls)
            lines.append(f"{t.role.value}: <calls {calls}>")
        else:
            lines.append(f"{t.role.value}: {t.content}")
    return "\n".join(lines)
