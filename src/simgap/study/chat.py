"""The bridge between a participant's browser and `SessionDriver`.

One driver per live session is kept in memory (it holds the τ² environment with the task's
database). It is never the source of truth: every turn is in the store before anyone sees it, and
a missing driver (new process, evicted, server restarted mid-reply) is rebuilt from the store by
`SessionDriver.open`, which replays the stored tool calls into a fresh environment. That is what
makes a restart lossless: at worst the agent's step in flight is redone.

The agent answers in a background task, so a participant's request returns as soon as their
message is stored, the page shows "typing…" and long-polls for the reply, and a slow model never
blocks other participants. A per-session lock keeps double-submits and "end" from interleaving
with an agent step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simgap.agents import STOP_TOKEN, Agent, build_agent
from simgap.domains import DomainEnvironment
from simgap.errors import SimgapError
from simgap.llm.base import LLMClient, LLMError
from simgap.models import Reward, Role, Session, SessionStatus, Task, Termination, Turn
from simgap.sessions.driver import Actor, SessionDriver, TurnError
from simgap.sessions.reward_pool import RewardPool
from simgap.store import Store
from simgap.study.capacity import ModelState, ModelWarmup, ReplyQueue
from simgap.users import STOP_TOKENS, UserReply

log = logging.getLogger("simgap.study")

_CONTROL_TOKENS = (STOP_TOKEN, *STOP_TOKENS)
# C0 control characters other than tab and line breaks, and DEL. No keyboard types them;
# PostgreSQL cannot store NUL in a text or JSON column (an INSERT with one fails), so a pasted
# NUL would otherwise fail every retry of the same message with a server error.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MSG_ID = re.compile(r"[^A-Za-z0-9_-]")


def strip_controls(text: str) -> str:
    """`text` without control characters (tab, CR and LF kept): what a person's input may
    contain once stored."""
    return _CONTROL_CHARS.sub("", text)


def clean_msg_id(value: str | None) -> str | None:
    """A client's message id (made by the chat script or the page), reduced to the characters
    those ids use, at most 64 of them; None when nothing is left."""
    out = _MSG_ID.sub("", value or "")[:64]
    return out or None


def clean_text(text: str | None) -> str:
    """Text without τ²'s control tokens or control characters: what a person may see, and what
    a person may send (a participant typing ###STOP### must not end the chat behind the study's
    back)."""
    out = strip_controls(text or "")
    for tok in _CONTROL_TOKENS:
        out = out.replace(tok, "")
    return out.strip()


@dataclass(frozen=True)
class Message:
    """One chat bubble: an agent or participant text turn. `idx` is the turn's index."""

    idx: int
    role: str  # "agent" | "user"
    text: str


def visible_messages(turns: Sequence[Turn]) -> list[Message]:
    """What the participant sees: `SessionDriver.visible_turns()` (no tool calls, no tool
    results), with control tokens removed and bubbles that are then empty dropped."""
    out = []
    for t in turns:
        if t.role == Role.TOOL or t.tool_calls or not t.content:
            continue
        text = clean_text(t.content)
        if text:
            out.append(Message(idx=t.idx, role=t.role.value, text=text))
    return out


@dataclass
class ChatState:
    """The participant's view of a session at one moment."""

    messages: list[Message]
    thinking: bool  # the agent is working on its reply
    ended: bool
    status: SessionStatus
    termination: Termination | None
    user_turns: int
    # While thinking: what the person is told instead of a bare "typing…" (the model is still
    # loading, replies ahead of theirs, a retry), or None when the reply is being written.
    wait_text: str | None = None


@dataclass
class LiveSession:
    driver: SessionDriver
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    agent_task: asyncio.Task[None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    last_used: float = field(default_factory=time.monotonic)
    ending: bool = False  # the participant pressed "end"; the reward is being computed
    retrying: bool = False  # the model failed once on this reply; trying a second time

    @property
    def thinking(self) -> bool:
        return self.agent_task is not None and not self.agent_task.done()

    def notify(self) -> None:
        """Wake every long-poll waiting on this session."""
        self.changed.set()
        self.changed = asyncio.Event()


class _StudyDriver(SessionDriver):
    """`SessionDriver` whose τ² reward runs in the study's `RewardPool` (when it has one)."""

    pool: RewardPool | None = None

    async def compute_reward(self, termination: Termination) -> Reward:
        if self.pool is None:
            return await super().compute_reward(termination)
        return await self.pool.evaluate(self.task, self.turns, termination)


class ChatError(SimgapError):
    """A chat action refused (conversation over, agent still answering, message too long)."""


class ChatOver(ChatError):
    """The conversation is finished (done or failed): there is no live chat to open."""


EndCallback = Callable[[Session], Awaitable[None]]


class ChatHub:
    """All live sessions of one app, and the shared model client of the agent under test."""

    def __init__(
        self,
        store: Store,
        client: LLMClient,
        *,
        max_steps: int,
        max_errors: int,
        max_user_turns: int,
        on_end: EndCallback | None = None,
        reward_pool: RewardPool | None = None,
        reply_slots: int | None = None,
        warmup: ModelWarmup | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.max_steps = max_steps
        self.max_errors = max_errors
        self.max_user_turns = max_user_turns
        self.on_end = on_end
        self._live: dict[str, LiveSession] = {}
        self._open_locks: dict[str, asyncio.Lock] = {}
        # τ²'s evaluator needs seconds of CPU per session: a few at a time, so a burst of
        # people pressing "end" does not starve everybody else's requests of the GIL.
        self.reward_pool = reward_pool
        self._reward_slots = asyncio.Semaphore(reward_pool.workers if reward_pool else 1)
        self._finishing: dict[str, asyncio.Task[None]] = {}
        # Environments built while the participant reads the briefing (one at a time, so a
        # burst of arrivals does not crowd out requests in flight).
        self._prepared: dict[str, tuple[float, asyncio.Task[DomainEnvironment]]] = {}
        self._build_slots = asyncio.Semaphore(1)
        # Replies take turns for the model (1 slot for the embedded model), in arrival order,
        # so each waiting one can say how many are ahead (see capacity.py).
        self.replies = ReplyQueue(reply_slots)
        self.warmup = warmup or ModelWarmup(None, expect_s=0.0)

    # -- live sessions ------------------------------------------------------------------------
    def is_live(self, session_id: str) -> bool:
        return session_id in self._live

    def prepare(self, session_id: str, task: Task) -> None:
        """Start building the τ² environment of a session about to begin (a fraction of a
        second of CPU each: better spent while the participant reads than when they click)."""
        if session_id in self._live or session_id in self._prepared:
            return

        async def build() -> DomainEnvironment:
            async with self._build_slots:
                return await asyncio.to_thread(DomainEnvironment, task)

        self._prepared[session_id] = (time.monotonic(), asyncio.create_task(build()))

    async def _take_prepared(self, session_id: str) -> DomainEnvironment | None:
        got = self._prepared.pop(session_id, None)
        if got is None:
            return None
        try:
            return await got[1]
        except Exception:
            return None

    async def open(self, template: Session, task: Task) -> LiveSession:
        """The live session, building (or rebuilding from the store) its driver if needed."""
        sid = template.session_id
        live = self._live.get(sid)
        if live is not None:
            live.last_used = time.monotonic()
            return live
        lock = self._open_locks.setdefault(sid, asyncio.Lock())
        async with lock:
            live = self._live.get(sid)
            if live is None:
                # Never (re)open a finished conversation: the driver would start a failed one
                # over, and a late request must not resurrect what the participant left.
                status = self.store.statuses([sid]).get(sid)
                if status is not None and status != SessionStatus.RUNNING:
                    raise ChatOver(f"session {sid} has ended")

                def make_agent(env: DomainEnvironment) -> Agent:
                    return build_agent(template.agent, self.client, env)

                driver = await _StudyDriver.open(
                    self.store,
                    template,
                    task,
                    make_agent,
                    max_steps=self.max_steps,
                    max_errors=self.max_errors,
                    env=await self._take_prepared(sid),
                )
                assert isinstance(driver, _StudyDriver)
                driver.pool = self.reward_pool
                if not driver.turns and not driver.done:
                    await driver.start()  # the greeting needs no model: show it at once
                live = LiveSession(driver)
                self._live[sid] = live
                self._kick(live)
        live.last_used = time.monotonic()
        return live

    def _kick(self, live: LiveSession) -> None:
        """Start the agent in the background if it is its turn (new chat, or a reply that a
        restart interrupted)."""
        if live.thinking or live.driver.done:
            return
        if live.driver.turns and live.driver.next_actor() == Actor.USER:
            return
        self.replies.join(live.driver.session.session_id)  # in line before the page asks
        live.agent_task = asyncio.create_task(self._run_agent(live))

    async def _run_agent(self, live: LiveSession) -> None:
        d = live.driver
        sid = d.session.session_id
        try:
            try:
                await self.warmup.wait()  # a reply waiting for the model to load says so
                await self.replies.turn(sid)
                actor = await self._advance_with_retry(live)
            finally:
                self.replies.release(sid)
                self._notify_thinking()  # everyone behind moved up
            if actor == Actor.USER and self._user_turns(d) >= self.max_user_turns:
                d.session.meta["ended_by"] = "max_user_turns"
                await d.finish(Termination.MAX_STEPS)
        except asyncio.CancelledError:
            raise
        except SimgapError as e:  # model endpoint down, bad answer after retries...
            log.warning("session %s: agent failed: %s", d.session.session_id, e)
            await self._fail(d, str(e))
        except Exception as e:  # a bug: keep the session and its cause, tell the participant
            where = traceback.extract_tb(e.__traceback__)[-1]
            at = f"{Path(where.filename).name}:{where.lineno}"
            msg = f"internal error: {type(e).__name__}: {e} ({at})"
            log.exception("session %s: agent step crashed", d.session.session_id)
            await self._fail(d, msg.splitlines()[0])
        finally:
            live.notify()
        if d.done or d.session.status != SessionStatus.RUNNING:
            await self._ended(live)

    async def _advance_with_retry(self, live: LiveSession) -> Actor:
        """`advance`, and once more if the model failed (a generation over its time limit, an
        endpoint that gave up): a person should not lose their chat to one slow reply. The
        person is told meanwhile (`ChatState.wait_text`); the count goes into the session's
        meta. A second failure raises (the session then fails and the person is paid)."""
        d = live.driver
        try:
            return await d.advance()
        except LLMError as e:
            log.warning("session %s: model failed, trying once more: %s", d.session.session_id, e)
            d.session.meta["agent_retries"] = int(d.session.meta.get("agent_retries", 0)) + 1
            live.retrying = True
            live.notify()
        try:
            return await d.advance()
        finally:
            live.retrying = False

    def _notify_thinking(self) -> None:
        """Wake the long-polls of every session whose reply is waiting (positions changed)."""
        for live in self._live.values():
            if live.thinking:
                live.notify()

    def wait_text(self, live: LiveSession) -> str | None:
        """What a person waiting for a reply is told (None: "typing…", it is being written)."""
        if not live.thinking:
            return None
        r = self.warmup.readiness()
        if r.state == ModelState.LOADING:
            left = max(5, round(self.warmup.expect_s - r.since_s))
            return (
                "The agent is getting ready (its AI model is loading, about "
                f"{_duration(left)} more). Your message is saved."
            )
        if live.retrying:
            return "The agent is taking longer than usual; trying once more…"
        spot = self.replies.spot(live.driver.session.session_id)
        if spot is None or spot.ahead == 0:
            return None
        people = "1 reply is" if spot.ahead == 1 else f"{spot.ahead} replies are"
        eta = "" if spot.eta_s is None else f" (about {_duration(spot.eta_s)})"
        return f"The agent answers one person at a time: {people} ahead of yours{eta}."

    async def _fail(self, d: SessionDriver, error: str) -> None:
        with contextlib.suppress(Exception):
            await d.finish(Termination.INFRA_ERROR, error=error[:500])

    async def _ended(self, live: LiveSession) -> None:
        sid = live.driver.session.session_id
        if self.on_end is not None:
            try:
                await self.on_end(live.driver.session)
            except Exception:
                log.exception("session %s: end-of-chat bookkeeping failed", sid)
        self._live.pop(sid, None)
        self._open_locks.pop(sid, None)

    @staticmethod
    def _user_turns(d: SessionDriver) -> int:
        return sum(1 for t in d.turns if t.role == Role.USER and not t.tool_calls)

    def state(self, live: LiveSession) -> ChatState:
        d = live.driver
        return ChatState(
            messages=visible_messages(d.turns),
            thinking=live.thinking,
            ended=live.ending or d.session.status != SessionStatus.RUNNING,
            status=d.session.status,
            termination=d.session.termination,
            user_turns=self._user_turns(d),
            wait_text=self.wait_text(live),
        )

    # -- participant actions ------------------------------------------------------------------
    async def send(
        self, live: LiveSession, text: str, *, client_msg_id: str | None, max_chars: int
    ) -> ChatState:
        """Store the participant's message, then let the agent answer in the background.

        Resending the same `client_msg_id` (double click, form resubmitted) is a no-op.
        """
        text = clean_text(text)
        if not text:
            raise ChatError("the message is empty")
        if len(text) > max_chars:
            raise ChatError(f"the message is longer than {max_chars} characters")
        async with live.lock:
            d = live.driver
            if client_msg_id and any(
                t.meta.get("client_msg_id") == client_msg_id for t in d.turns if t.role == Role.USER
            ):
                return self.state(live)
            if live.ending or d.session.status != SessionStatus.RUNNING:
                raise ChatError("the conversation has ended")
            if live.thinking or d.next_actor() != Actor.USER:
                raise ChatError("please wait for the agent's reply")
            meta = {"client_msg_id": client_msg_id} if client_msg_id else {}
            try:
                await d.user_step(UserReply(content=text, meta=meta))
            except TurnError as e:
                raise ChatError(str(e)) from None
            live.last_used = time.monotonic()
            self._kick(live)
            live.notify()
            return self.state(live)

    async def wait(self, live: LiveSession, *, after: int, timeout_s: float) -> ChatState:
        """Long-poll: return once there are messages past index `after`, the agent stopped
        thinking, or `timeout_s` passed."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        told = self.wait_text(live)
        while True:
            st = self.state(live)
            newest = st.messages[-1].idx if st.messages else -1
            if newest > after or not st.thinking or st.ended or st.wait_text != told:
                return st
            left = deadline - time.monotonic()
            if left <= 0:
                return st
            ev = live.changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ev.wait(), timeout=left)

    async def end(self, live: LiveSession) -> None:
        """The participant pressed "end". Returns at once: an agent step in flight and τ²'s
        reward (seconds of CPU) complete in the background, so nobody waits on the evaluator.
        The session is `running` until then; `Study.recover` finishes it after a crash."""
        async with live.lock:
            sid = live.driver.session.session_id
            if live.ending or sid in self._finishing:
                return
            live.ending = True
            live.notify()
            task = asyncio.create_task(self._finish_later(live, Termination.USER_STOP))
            self._finishing[sid] = task
            task.add_done_callback(lambda _t: self._finishing.pop(sid, None))

    async def _finish_later(self, live: LiveSession, termination: Termination) -> None:
        d = live.driver
        if live.agent_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(live.agent_task)
        async with self._reward_slots:
            if d.session.status == SessionStatus.RUNNING:
                try:
                    await d.finish(termination)
                except Exception:
                    log.exception("session %s: computing the reward failed", d.session.session_id)
                    return  # still running in the store: recover() tries again later
        live.notify()
        await self._ended(live)

    def finishing(self, session_id: str) -> bool:
        return session_id in self._finishing

    async def drain(self, timeout_s: float = 120.0) -> None:
        """Wait for pending end-of-chat work (rewards) to be written."""
        pending = list(self._finishing.values())
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)

    # -- housekeeping -------------------------------------------------------------------------
    async def evict(self, session_id: str) -> None:
        """Forget a session's driver (released, or idle); its turns stay in the store."""
        live = self._live.pop(session_id, None)
        self._open_locks.pop(session_id, None)
        prepared = self._prepared.pop(session_id, None)
        if prepared is not None:
            prepared[1].cancel()
        if live is not None and live.agent_task is not None and not live.agent_task.done():
            live.agent_task.cancel()
            with contextlib.suppress(BaseException):
                await live.agent_task

    async def evict_idle(self, max_idle_s: float) -> int:
        """Drop drivers nobody used for a while (memory: each holds a τ² database)."""
        now = time.monotonic()
        idle = [
            sid
            for sid, live in self._live.items()
            if not live.thinking and now - live.last_used > max_idle_s
        ]
        for sid in idle:
            await self.evict(sid)
        for sid, (since, task) in list(self._prepared.items()):
            if now - since > max_idle_s:
                self._prepared.pop(sid, None)
                task.cancel()
        return len(idle)

    async def aclose(self, *, drain_s: float = 60.0) -> None:
        """Let pending rewards finish (up to `drain_s`), stop background agent steps (their
        sessions resume on the next start) and close the model client."""
        await self.drain(drain_s)
        for task in list(self._finishing.values()):
            task.cancel()
        for sid in list(self._live):
            await self.evict(sid)
        for _, building in self._prepared.values():
            building.cancel()
        self._prepared.clear()
        if self.reward_pool is not None:
            self.reward_pool.shutdown()
        await self.warmup.aclose()
        with contextlib.suppress(Exception):
            await self.client.aclose()


def _duration(seconds: float) -> str:
    """`40 s`, `2 min`: a wait as a person reads it (rounded up; never "0 s")."""
    s = max(1, math.ceil(seconds))
    if s < 90:
        return f"{s} s"
    return f"{math.ceil(s / 60)} min"
