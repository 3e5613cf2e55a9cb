"""The study itself, without HTTP: participants, where each one is in the flow, their
conversations and answers. `app.py` is a thin web layer over this, so the rules live in one place
and tests can check them without a browser.

A participant moves through: consent -> briefing -> chat -> questionnaire -> done. Where they
are is always recomputed from the database (their consent and their assignment's state), never
from the browser, so a closed tab, a second device or a server restart lands them on the right
page.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from simgap.agents import build_agent
from simgap.agents.llm_agent import LLMAgent
from simgap.domains import FIRST_AGENT_MESSAGE, DomainEnvironment
from simgap.errors import ConfigError
from simgap.llm.base import LLMClient
from simgap.llm.local import LocalClient
from simgap.models import (
    AgentSpec,
    Annotation,
    Feedback,
    Role,
    Session,
    SessionStatus,
    Task,
    Termination,
    Turn,
    UserKind,
    utcnow,
)
from simgap.sessions.reward_pool import RewardPool
from simgap.store import Store
from simgap.study import tables as st
from simgap.study.answers import read_answers
from simgap.study.assignment import (
    ACTIVE_STATES,
    ENDED_WITHOUT_DATA,
    Assigner,
    Assignment,
    AssignmentState,
    aware,
)
from simgap.study.capacity import ModelWarmup, StartLine
from simgap.study.chat import ChatHub, ChatOver, LiveSession
from simgap.study.config import AccessMode, StudyConfig
from simgap.study.export import iter_study_records
from simgap.study.participants import create_token_participants, new_participant_id
from simgap.study.security import new_token

log = logging.getLogger("simgap.study")

# Seconds the embedded model takes to load on 2 cores (measured 70 s; 126 s after a restart):
# what a reply waiting for it says until the first load is timed.
LOCAL_LOAD_EXPECT_S = 90.0
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_PARAM_VALUE = re.compile(r"^[\w.:@/+-]{0,128}$")


class Stage(StrEnum):
    CONSENT = "consent"
    DECLINED = "declined"
    BRIEFING = "briefing"
    CHAT = "chat"
    QUESTIONNAIRE = "questionnaire"
    DONE = "done"
    FULL = "full"  # nothing left for this person (all places taken for now)
    INTERRUPTED = "interrupted"  # their last assignment timed out or hit a technical error


_STAGE_OF = {
    AssignmentState.ASSIGNED: Stage.BRIEFING,
    AssignmentState.CHATTING: Stage.CHAT,
    AssignmentState.QUESTIONNAIRE: Stage.QUESTIONNAIRE,
}


@dataclass(frozen=True)
class Participant:
    participant_id: str
    source: str
    external_id: str | None
    created_at: datetime
    consented_at: datetime | None
    declined_at: datetime | None
    completion_code: str | None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Where:
    """Where a participant is: the page to show and the assignment it is about."""

    stage: Stage
    assignment: Assignment | None = None
    tasks_done: int = 0


class Study:
    """One running study: config, store, tasks, questionnaire, assignment and live chats."""

    def __init__(
        self,
        config: StudyConfig,
        store: Store,
        client: LLMClient,
        *,
        base_dir: Path | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.store = store
        store.ensure_tables(st.metadata)
        self.tasks: dict[str, Task] = {t.task_id: t for t in config.resolve_tasks()}
        self.questionnaire = config.load_questionnaire(base_dir=base_dir)
        model_cfg = config.model_config_for_agent()
        self.agent_spec = AgentSpec(
            name=config.agent.name, model=model_cfg.model, settings=model_cfg.public()
        )
        self.assigner = Assigner(
            store,
            config.name,
            list(self.tasks),
            config.cell_targets(),
            abandon_after=timedelta(minutes=config.abandon_after_minutes),
        )
        workers = config.reward_worker_count()
        # The embedded model is loaded when the server starts, and answers one reply at a time.
        warmup = ModelWarmup(
            self._load_model if isinstance(client, LocalClient) else None,
            expect_s=LOCAL_LOAD_EXPECT_S,
        )
        self.line = StartLine(config.chat_cap())
        self.hub = ChatHub(
            store,
            client,
            max_steps=config.max_steps,
            max_errors=config.max_errors,
            max_user_turns=config.max_user_turns,
            on_end=self._on_chat_end,
            reward_pool=RewardPool(workers, warm_domain=config.domain) if workers else None,
            reply_slots=1 if model_cfg.is_local else model_cfg.max_concurrency,
            warmup=warmup,
        )
        self.secret_key = secret_key or self._secret_key()

    async def _load_model(self) -> None:
        """Load the embedded model and process the agent's system prompt and tools (the same
        for every chat of the domain, ~2,500 tokens for airline): then a chat's first reply
        only pays for the conversation, not for minutes of prompt on a busy CPU."""
        client = self.hub.client
        assert isinstance(client, LocalClient)
        task = next(iter(self.tasks.values()))
        env = await asyncio.to_thread(DomainEnvironment, task)
        agent = build_agent(self.agent_spec, client, env)
        prefix = None
        if isinstance(agent, LLMAgent):
            turns = env.initial_turns() or [
                Turn(idx=0, role=Role.AGENT, content=FIRST_AGENT_MESSAGE)
            ]
            prefix = agent.request(turns)
        await client.warm_up(prefix)

    # -- secrets ------------------------------------------------------------------------------
    def _secret_key(self) -> str:
        """The cookie key: from the environment, else made once and kept in the database, so
        a restart (or a second process) honours everybody's cookies."""
        env = os.environ.get(self.config.secret_key_env)
        if env:
            if len(env) < 16:
                raise ConfigError(f"{self.config.secret_key_env} must be at least 16 characters")
            return env
        s = st.settings
        cond = and_(s.c.study == self.name, s.c.key == "secret_key")
        with self.store.engine.connect() as conn:
            got = conn.execute(select(s.c.value).where(cond)).scalar_one_or_none()
        if got:
            return str(got)
        try:
            with self.store.engine.begin() as conn:
                conn.execute(
                    insert(s).values(study=self.name, key="secret_key", value=new_token(32))
                )
        except IntegrityError:
            pass  # another process made it first
        with self.store.engine.connect() as conn:
            return str(conn.execute(select(s.c.value).where(cond)).scalar_one())

    # -- participants -------------------------------------------------------------------------
    def participant(self, participant_id: str) -> Participant | None:
        p = st.participants
        with self.store.engine.connect() as conn:
            r = conn.execute(
                select(p).where(and_(p.c.study == self.name, p.c.participant_id == participant_id))
            ).first()
        if r is None:
            return None
        return Participant(
            participant_id=r.participant_id,
            source=r.source,
            external_id=r.external_id,
            created_at=aware(r.created_at) or utcnow(),
            consented_at=aware(r.consented_at),
            declined_at=aware(r.declined_at),
            completion_code=r.completion_code,
            meta=dict(r.meta or {}),
        )

    def _by_external(self, external_id: str) -> Participant | None:
        p = st.participants
        with self.store.engine.connect() as conn:
            pid = conn.execute(
                select(p.c.participant_id).where(
                    and_(p.c.study == self.name, p.c.external_id == external_id)
                )
            ).scalar_one_or_none()
        return None if pid is None else self.participant(str(pid))

    def _create_participant(
        self, source: str, external_id: str | None, meta: dict[str, Any]
    ) -> Participant | None:
        for _ in range(5):
            pid = new_participant_id()
            try:
                with self.store.engine.begin() as conn:
                    conn.execute(
                        insert(st.participants).values(
                            study=self.name,
                            participant_id=pid,
                            source=source,
                            external_id=external_id,
                            created_at=utcnow(),
                            meta=meta,
                        )
                    )
            except IntegrityError:
                if external_id is not None and (got := self._by_external(external_id)):
                    return got  # the same person arrived twice at once
                continue
            return self.participant(pid)
        return None

    def enter(self, params: Mapping[str, str]) -> Participant | None:
        """Who is arriving with these URL parameters (None: not allowed in)."""
        mode = self.config.access.mode
        keep = {
            k: params[k]
            for k in self.config.access.keep_params
            if k in params and _PARAM_VALUE.match(params[k])
        }
        if mode == AccessMode.TOKEN:
            token = params.get("token", "")
            if not _EXTERNAL_ID.match(token):
                return None
            p = self._by_external(token)
        elif mode == AccessMode.CROWD:
            ext = params.get(self.config.access.crowd_param, "")
            if not _EXTERNAL_ID.match(ext):
                return None
            p = self._by_external(ext) or self._create_participant("crowd", ext, {"params": keep})
        else:
            p = self._create_participant("open", None, {"params": keep})
        if p is not None:
            with self.store.engine.begin() as conn:
                conn.execute(
                    update(st.participants)
                    .where(
                        and_(
                            st.participants.c.study == self.name,
                            st.participants.c.participant_id == p.participant_id,
                            st.participants.c.entered_at.is_(None),
                        )
                    )
                    .values(entered_at=utcnow())
                )
            self.assigner.log_event("entered", p.participant_id, source=p.source)
        return p

    def create_tokens(self, n: int) -> list[str]:
        """Make `n` one-person links (token access mode)."""
        return create_token_participants(self.store, self.name, max(0, min(n, 10_000)))

    def tokens(self) -> list[tuple[str, Participant]]:
        p = st.participants
        q = (
            select(p.c.participant_id, p.c.external_id)
            .where(and_(p.c.study == self.name, p.c.source == "token"))
            .order_by(p.c.created_at)
        )
        with self.store.engine.connect() as conn:
            rows = list(conn.execute(q))
        out = []
        for pid, tok in rows:
            part = self.participant(pid)
            if part is not None:
                out.append((str(tok), part))
        return out

    def consent(self, participant_id: str, *, agree: bool) -> None:
        p = st.participants
        col = "consented_at" if agree else "declined_at"
        with self.store.engine.begin() as conn:
            conn.execute(
                update(p)
                .where(
                    and_(
                        p.c.study == self.name,
                        p.c.participant_id == participant_id,
                        p.c.consented_at.is_(None),
                        p.c.declined_at.is_(None),
                    )
                )
                .values(**{col: utcnow()})
            )
        self.assigner.log_event("consented" if agree else "declined", participant_id)

    def completion_code(self, participant_id: str) -> str:
        """The study-wide code, or this participant's own (made on first request)."""
        if self.config.completion.code:
            return self.config.completion.code
        part = self.participant(participant_id)
        if part is not None and part.completion_code:
            return part.completion_code
        code = "C" + new_token(6).upper().replace("-", "X").replace("_", "Y")[:8]
        p = st.participants
        with self.store.engine.begin() as conn:
            conn.execute(
                update(p)
                .where(
                    and_(
                        p.c.study == self.name,
                        p.c.participant_id == participant_id,
                        p.c.completion_code.is_(None),
                    )
                )
                .values(completion_code=code)
            )
        part = self.participant(participant_id)
        return (part.completion_code if part else None) or code

    def completion_url(self, participant_id: str) -> str | None:
        url = self.config.completion.url
        return None if not url else url.replace("{code}", self.completion_code(participant_id))

    # -- where is this participant? -----------------------------------------------------------
    def where(self, participant_id: str, *, assign: bool = True) -> Where:
        part = self.participant(participant_id)
        if part is None:
            raise KeyError(participant_id)
        if part.declined_at is not None:
            return Where(Stage.DECLINED)
        if part.consented_at is None:
            return Where(Stage.CONSENT)
        hist = self.assigner.history(participant_id)
        cur = next((x for x in reversed(hist) if x.active), None)
        if cur is not None:
            reconciled = self._reconcile(cur)
            if reconciled is not cur:
                hist = self.assigner.history(participant_id)
            cur = reconciled
        n_done = sum(1 for x in hist if x.state == AssignmentState.COMPLETE)
        if cur is not None and cur.active:
            return Where(_STAGE_OF[cur.state], cur, n_done)
        last = hist[-1] if hist else None
        if last is not None and last.state in ENDED_WITHOUT_DATA and not last.meta.get("seen"):
            return Where(Stage.INTERRUPTED, last, n_done)
        if n_done:
            return Where(Stage.DONE, None, n_done)
        if not assign:
            return Where(Stage.FULL)
        a = self.assigner.assign(participant_id, max_tasks=self.config.tasks_per_participant)
        return Where(Stage.FULL) if a is None else Where(Stage.BRIEFING, a)

    def _reconcile(self, a: Assignment) -> Assignment:
        """Bring the assignment in line with its session (a restart between the end of a chat
        and its bookkeeping must not strand the participant)."""
        if a.state != AssignmentState.CHATTING:
            return a
        s = self.store.get_session(a.session_id, with_turns=False)
        if s is None or s.status == SessionStatus.RUNNING:
            return a  # unchanged: the very same object
        if s.status == SessionStatus.DONE:
            new = AssignmentState.QUESTIONNAIRE
        elif s.termination == Termination.ABANDONED:
            new = AssignmentState.RELEASED
        else:
            new = AssignmentState.FAILED
        self.assigner.set_state(a.id, new, expect=[AssignmentState.CHATTING])
        return self.assigner.get(a.id) or a

    def another(self, participant_id: str) -> Where:
        """The participant asked for a(nother) task: acknowledge an interruption, assign."""
        hist = self.assigner.history(participant_id)
        if hist and hist[-1].state in ENDED_WITHOUT_DATA and not hist[-1].meta.get("seen"):
            last = hist[-1]
            self.assigner.set_state(last.id, last.state, meta={**last.meta, "seen": True})
        w = self.where(participant_id, assign=False)
        if w.stage in (Stage.DONE, Stage.FULL):
            a = self.assigner.assign(participant_id, max_tasks=self.config.tasks_per_participant)
            return Where(Stage.DONE) if a is None else Where(Stage.BRIEFING, a)
        return w

    def can_do_another(self, participant_id: str) -> bool:
        hist = self.assigner.history(participant_id)
        n_done = sum(1 for x in hist if x.state == AssignmentState.COMPLETE)
        if n_done >= self.config.tasks_per_participant or any(x.active for x in hist):
            return False
        return self.assigner.has_place_for(participant_id)

    def touch(self, a: Assignment | None) -> None:
        """Note that the participant is still here; at most one write per 30 s per person
        (abandonment is measured in minutes, page views come every few seconds)."""
        if a is None or a.state not in ACTIVE_STATES:
            return
        if utcnow() - a.last_seen_at < timedelta(seconds=30):
            return
        self.assigner.touch(a.id)

    # -- chat ---------------------------------------------------------------------------------
    def session_template(self, a: Assignment) -> Session:
        return Session(
            session_id=a.session_id,
            task_id=a.task_id,
            domain=self.config.domain,
            user_kind=UserKind.HUMAN,
            user_id=a.participant_id,
            agent=self.agent_spec,
            batch=a.batch,
            trial=0,
            meta={
                "study": self.name,
                "assignment_id": a.id,
                "questionnaire": f"{self.questionnaire.name}@{self.questionnaire.version}",
                "synthetic": self.config.synthetic,
                "max_steps": self.config.max_steps,
                "max_errors": self.config.max_errors,
                "max_user_turns": self.config.max_user_turns,
            },
        )

    def prepare_chat(self, a: Assignment) -> None:
        """The briefing is on screen: build the task's environment in the background now."""
        if a.state == AssignmentState.ASSIGNED:
            self.hub.prepare(a.session_id, self.tasks[a.task_id])

    def line_position(self, a: Assignment) -> int:
        """0 when `a`'s chat may start now; else its place in the line for a chat (1: next).
        Asking keeps the place (see `capacity.StartLine`)."""
        if self.line.cap is None:
            return 0
        return self.line.position(a.id, self.assigner.count([AssignmentState.CHATTING]))

    async def start_chat(self, a: Assignment) -> int:
        """Briefing read, "start" pressed: 0 when the chat started (the session row is created
        and the agent greets), else the person's place in line (the study has its cap of chats
        at once running; they wait on the "you are next" page)."""
        if a.state == AssignmentState.ASSIGNED:
            # No await between counting and taking the place: one event loop, no race.
            pos = self.line_position(a)
            if pos:
                return pos
            self.line.leave(a.id)
            self.assigner.set_state(
                a.id, AssignmentState.CHATTING, expect=[AssignmentState.ASSIGNED]
            )
            self.assigner.log_event("chat_started", a.participant_id, a.session_id)
        await self.live(a)
        return 0

    async def live(self, a: Assignment) -> LiveSession:
        return await self.hub.open(self.session_template(a), self.tasks[a.task_id])

    async def end_chat(self, a: Assignment) -> None:
        """The participant pressed "end": on to the questionnaire at once; the reward is
        computed in the background (see `ChatHub.end`, and `recover` after a crash)."""
        try:
            live = await self.live(a)
        except ChatOver:  # the agent, a limit or an error ended it a moment ago
            self._reconcile(a)
            return
        self.assigner.set_state(
            a.id,
            AssignmentState.QUESTIONNAIRE,
            expect=[AssignmentState.CHATTING],
            meta={**a.meta, "ended_by": "participant", "ended_at": utcnow().isoformat()},
        )
        self.assigner.log_event("chat_ended", a.participant_id, a.session_id, by="participant")
        await self.hub.end(live)

    async def recover(self) -> int:
        """Finish conversations the participant ended but whose reward was never written (the
        server stopped in between). Returns how many were finished."""
        ended = self.assigner.all(states=[AssignmentState.QUESTIONNAIRE, AssignmentState.COMPLETE])
        statuses = self.store.statuses([a.session_id for a in ended])
        n = 0
        for a in ended:
            if statuses.get(a.session_id) != SessionStatus.RUNNING:
                continue
            if self.hub.finishing(a.session_id):
                continue
            try:
                await self.hub.end(await self.live(a))
            except ChatOver:
                continue
            n += 1
        return n

    async def _on_chat_end(self, s: Session) -> None:
        a = self.assigner.by_session(s.session_id)
        if a is None or a.state != AssignmentState.CHATTING:
            return
        self._reconcile(a)
        if s.status == SessionStatus.FAILED:
            self.assigner.log_event("chat_failed", a.participant_id, a.session_id, error=s.error)

    # -- questionnaire ------------------------------------------------------------------------
    def submit_questionnaire(
        self, a: Assignment, form: Mapping[str, str], *, started_at: datetime | None = None
    ) -> dict[str, str]:
        """Validate and store the answers. Returns {field: problem} (empty when stored)."""
        answers, free, errors = read_answers(
            self.questionnaire, form, text_limit=self.config.max_text_answer_chars
        )
        if errors:
            return errors
        fb = Feedback(
            session_id=a.session_id,
            respondent_kind=UserKind.HUMAN,
            respondent_id=a.participant_id,
            questionnaire=self.questionnaire.name,
            questionnaire_version=self.questionnaire.version,
            answers=answers,
            free_text="\n\n".join(free) or None,
            meta={
                "study": self.name,
                "task_id": a.task_id,
                "batch": a.batch,
                "synthetic": self.config.synthetic,
                **(
                    {"seconds": round((utcnow() - started_at).total_seconds(), 1)}
                    if started_at
                    else {}
                ),
            },
        )
        self.store.put_feedback(fb)
        self.assigner.set_state(
            a.id, AssignmentState.COMPLETE, expect=[AssignmentState.QUESTIONNAIRE]
        )
        self.assigner.log_event("questionnaire_submitted", a.participant_id, a.session_id)
        return {}

    # -- admin --------------------------------------------------------------------------------
    def session_ids(self) -> list[str]:
        return [a.session_id for a in self.assigner.all()]

    def export_records(self) -> Iterator[Session | Feedback | Annotation]:
        """Sessions (with every turn, tool calls included), then feedback, as `simgap import`
        and `simgap score` read them."""
        return iter_study_records(self.store, self.name)

    async def maintenance(self) -> list[Assignment]:
        """Release abandoned assignments (and their drivers), finish ended chats whose reward
        is missing, forget idle drivers."""
        released = self.assigner.release_abandoned()
        await self.recover()
        for a in released:
            await self.hub.evict(a.session_id)
        # A live driver holds the task's τ² database (~25 MB for airline): drop it after 10 idle
        # minutes; it is rebuilt from the store (well under a second) if the person comes back.
        await self.hub.evict_idle(max_idle_s=min(600.0, self.config.abandon_after_minutes * 60))
        return released

    async def aclose(self, *, drain_s: float = 60.0) -> None:
        """Stop: pending rewards get `drain_s` seconds, the rest is finished by `recover`."""
        await self.hub.aclose(drain_s=drain_s)
