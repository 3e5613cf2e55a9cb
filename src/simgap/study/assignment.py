"""Balanced assignment of participants to (task, batch) cells, safe under concurrent arrivals.

Each cell (task, batch) needs `target` people. A newcomer gets the cell furthest below its
target (lowest filled fraction; ties: the task with fewest people overall, then the earlier
batch, then the earlier task) among tasks they have never had. The database, not the process,
enforces the three rules that matter, so two participants arriving in the same millisecond, or two
server processes, can never break them:

- a cell has slots 0..target-1 and `(study, task, batch, slot)` is unique: whoever inserts a
  slot second gets an IntegrityError and tries the next free cell — a cell never overfills;
- `(study, participant, task)` is unique: nobody gets the same task twice, even after an
  abandoned attempt;
- `active_for` (the participant id while the assignment is in progress, NULL otherwise) is
  unique per study: a double-clicked "start" cannot give one person two tasks at once.

Abandoned assignments (no request for `abandon_after` minutes) are released: the slot goes back
to the pool and the session is marked `failed` / `abandoned`, so it never counts toward a target
or a score.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from simgap.models import SessionStatus, Termination, utcnow
from simgap.store import Store
from simgap.study import tables as st

log = logging.getLogger("simgap.study")


class AssignmentState(StrEnum):
    ASSIGNED = "assigned"  # briefing shown, chat not started
    CHATTING = "chatting"
    QUESTIONNAIRE = "questionnaire"  # chat over, answers pending
    COMPLETE = "complete"
    RELEASED = "released"  # abandoned: slot given back, session failed/abandoned
    FAILED = "failed"  # infrastructure error ended the chat: slot given back


ACTIVE_STATES = (AssignmentState.ASSIGNED, AssignmentState.CHATTING, AssignmentState.QUESTIONNAIRE)
ENDED_WITHOUT_DATA = (AssignmentState.RELEASED, AssignmentState.FAILED)


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything simgap writes is UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Assignment:
    id: int
    study: str
    participant_id: str
    task_id: str
    batch: str
    slot: int | None
    session_id: str
    state: AssignmentState
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @classmethod
    def from_row(cls, r: Row[Any]) -> Assignment:
        return cls(
            id=r.id,
            study=r.study,
            participant_id=r.participant_id,
            task_id=r.task_id,
            batch=r.batch,
            slot=r.slot,
            session_id=r.session_id,
            state=AssignmentState(r.state),
            created_at=aware(r.created_at) or utcnow(),
            updated_at=aware(r.updated_at) or utcnow(),
            last_seen_at=aware(r.last_seen_at) or utcnow(),
            meta=dict(r.meta or {}),
        )


@dataclass(frozen=True)
class CellProgress:
    """One (task, batch) cell for the admin page."""

    task_id: str
    batch: str
    target: int
    complete: int = 0
    in_progress: int = 0
    released: int = 0
    failed: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.target - self.complete - self.in_progress)


def session_id_for(study: str, participant_id: str, task_id: str) -> str:
    """Readable and unique (a participant has each task at most once)."""
    sid = f"{study}-{participant_id}-t{task_id}"
    if len(sid) <= 128:
        return sid
    import hashlib

    return f"{study[:40]}-{participant_id}-" + hashlib.sha256(task_id.encode()).hexdigest()[:24]


class Assigner:
    """Assignment over one study's cells; all state is in the database."""

    def __init__(
        self,
        store: Store,
        study: str,
        task_ids: Sequence[str],
        targets: dict[str, int],
        *,
        abandon_after: timedelta = timedelta(minutes=30),
        max_retries: int = 50,
    ) -> None:
        self.store = store
        self.study = study
        self.task_ids = list(task_ids)
        self.batches = list(targets)
        self.targets = dict(targets)
        self.abandon_after = abandon_after
        self.max_retries = max_retries
        store.ensure_tables(st.metadata)

    # -- reads --------------------------------------------------------------------------------
    def get(self, assignment_id: int) -> Assignment | None:
        a = st.assignments
        with self.store.engine.connect() as conn:
            r = conn.execute(
                select(a).where(and_(a.c.id == assignment_id, a.c.study == self.study))
            ).first()
        return None if r is None else Assignment.from_row(r)

    def by_session(self, session_id: str) -> Assignment | None:
        a = st.assignments
        with self.store.engine.connect() as conn:
            r = conn.execute(
                select(a).where(and_(a.c.session_id == session_id, a.c.study == self.study))
            ).first()
        return None if r is None else Assignment.from_row(r)

    def history(self, participant_id: str) -> list[Assignment]:
        """All of a participant's assignments, oldest first."""
        a = st.assignments
        q = (
            select(a)
            .where(and_(a.c.study == self.study, a.c.participant_id == participant_id))
            .order_by(a.c.id)
        )
        with self.store.engine.connect() as conn:
            return [Assignment.from_row(r) for r in conn.execute(q)]

    def current(self, participant_id: str) -> Assignment | None:
        """The participant's assignment in progress, if any."""
        for x in reversed(self.history(participant_id)):
            if x.active:
                return x
        return None

    def all(self, *, states: Sequence[AssignmentState] = ()) -> list[Assignment]:
        a = st.assignments
        q = select(a).where(a.c.study == self.study).order_by(a.c.id)
        if states:
            q = q.where(a.c.state.in_([s.value for s in states]))
        with self.store.engine.connect() as conn:
            return [Assignment.from_row(r) for r in conn.execute(q)]

    def count(self, states: Sequence[AssignmentState]) -> int:
        """How many of the study's assignments are in one of `states` (one COUNT query)."""
        a = st.assignments
        q = select(func.count()).where(
            and_(a.c.study == self.study, a.c.state.in_([s.value for s in states]))
        )
        with self.store.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def _occupied(self) -> tuple[dict[tuple[str, str], set[int]], dict[str, int]]:
        """Used slots per cell, and people per task (all batches)."""
        a = st.assignments
        q = select(a.c.task_id, a.c.batch, a.c.slot).where(
            and_(a.c.study == self.study, a.c.slot.is_not(None))
        )
        used: dict[tuple[str, str], set[int]] = defaultdict(set)
        per_task: dict[str, int] = defaultdict(int)
        with self.store.engine.connect() as conn:
            for task_id, batch, slot in conn.execute(q):
                used[(task_id, batch)].add(int(slot))
                per_task[task_id] += 1
        return used, per_task

    # -- assignment ---------------------------------------------------------------------------
    def _pick(self, had: set[str]) -> tuple[str, str, int] | None:
        """(task, batch, free slot) of the cell furthest below target among tasks not in
        `had`; None when every such cell is full."""
        used, per_task = self._occupied()
        best: tuple[tuple[float, int, int, int], str, str] | None = None
        for bi, batch in enumerate(self.batches):
            target = self.targets[batch]
            for ti, task_id in enumerate(self.task_ids):
                if task_id in had:
                    continue
                n = len(used[(task_id, batch)])
                if n >= target:
                    continue
                key = (n / target, per_task[task_id], bi, ti)
                if best is None or key < best[0]:
                    best = (key, task_id, batch)
        if best is None:
            return None
        _, task_id, batch = best
        slot = min(set(range(self.targets[batch])) - used[(task_id, batch)])
        return task_id, batch, slot

    def has_place_for(self, participant_id: str) -> bool:
        """Whether a new task could be assigned to this participant right now."""
        return self._pick({x.task_id for x in self.history(participant_id)}) is not None

    def assign(self, participant_id: str, *, max_tasks: int = 1) -> Assignment | None:
        """The participant's current assignment, or a new one; None when nothing is left for
        them (every cell they could take is full, or they did `max_tasks` tasks already)."""
        for _ in range(self.max_retries):
            hist = self.history(participant_id)
            for x in hist:
                if x.active:
                    return x
            counted = [x for x in hist if x.state == AssignmentState.COMPLETE]
            if len(counted) >= max_tasks:
                return None
            picked = self._pick({x.task_id for x in hist})
            if picked is None:
                return None
            task_id, batch, slot = picked
            now = utcnow()
            sid = session_id_for(self.study, participant_id, task_id)
            row: dict[str, Any] = {
                "study": self.study,
                "participant_id": participant_id,
                "task_id": task_id,
                "batch": batch,
                "slot": slot,
                "active_for": participant_id,
                "session_id": sid,
                "state": AssignmentState.ASSIGNED.value,
                "created_at": now,
                "updated_at": now,
                "last_seen_at": now,
                "meta": {},
            }
            try:
                with self.store.engine.begin() as conn:
                    conn.execute(insert(st.assignments).values(**row))
            except IntegrityError:
                # Someone took that slot, or this participant got an assignment in a parallel
                # request: look again.
                continue
            self.log_event("assigned", participant_id, sid, task=task_id, batch=batch)
            return self.current(participant_id)
        log.warning(
            "assignment for %s gave up after %d conflicts", participant_id, self.max_retries
        )
        return None

    def set_state(
        self,
        assignment_id: int,
        state: AssignmentState,
        *,
        expect: Sequence[AssignmentState] = (),
        meta: dict[str, Any] | None = None,
    ) -> bool:
        """Move an assignment on. Released/failed give the slot back; only from `expect`
        states when given (so a late request cannot resurrect a released assignment)."""
        a = st.assignments
        values: dict[str, Any] = {"state": state.value, "updated_at": utcnow()}
        if state not in ACTIVE_STATES:
            values["active_for"] = None
        if state in ENDED_WITHOUT_DATA:
            values["slot"] = None
        if meta is not None:
            values["meta"] = meta
        cond = and_(a.c.id == assignment_id, a.c.study == self.study)
        if expect:
            cond = and_(cond, a.c.state.in_([s.value for s in expect]))
        with self.store.engine.begin() as conn:
            n = conn.execute(update(a).where(cond).values(**values)).rowcount
        return bool(n)

    def touch(self, assignment_id: int) -> None:
        """The participant is still here (any request of theirs)."""
        a = st.assignments
        with self.store.engine.begin() as conn:
            conn.execute(
                update(a)
                .where(
                    and_(a.c.id == assignment_id, a.c.state.in_([s.value for s in ACTIVE_STATES]))
                )
                .values(last_seen_at=utcnow())
            )

    def release_abandoned(self, now: datetime | None = None) -> list[Assignment]:
        """Release assignments idle for longer than `abandon_after`; their sessions become
        `failed` / `abandoned` (kept for the record, never scored). Returns what was released."""
        now = now or utcnow()
        cutoff = now - self.abandon_after
        a = st.assignments
        q = select(a).where(
            and_(
                a.c.study == self.study,
                a.c.state.in_([s.value for s in ACTIVE_STATES]),
                a.c.last_seen_at < cutoff,
            )
        )
        with self.store.engine.connect() as conn:
            stale = [Assignment.from_row(r) for r in conn.execute(q)]
        released: list[Assignment] = []
        for x in stale:
            with self.store.engine.begin() as conn:
                n = conn.execute(
                    update(a)
                    .where(
                        and_(
                            a.c.id == x.id,
                            a.c.state == x.state.value,
                            a.c.last_seen_at < cutoff,
                        )
                    )
                    .values(
                        state=AssignmentState.RELEASED.value,
                        slot=None,
                        active_for=None,
                        updated_at=now,
                        meta={**x.meta, "released_from": x.state.value},
                    )
                ).rowcount
            if not n:
                continue  # the participant came back in the meantime
            self._abandon_session(x, now)
            self.log_event("released", x.participant_id, x.session_id, stage=x.state.value)
            released.append(x)
        return released

    def _abandon_session(self, x: Assignment, now: datetime) -> None:
        s = self.store.get_session(x.session_id, with_turns=False)
        if s is None:
            return
        meta = dict(s.meta, abandoned_at_stage=x.state.value)
        if s.termination is not None:
            meta["termination_before_abandon"] = s.termination.value
        self.store.update_session(
            x.session_id,
            status=SessionStatus.FAILED,
            termination=Termination.ABANDONED,
            error=f"participant inactive for {self.abandon_after.total_seconds() / 60:g} min",
            ended_at=s.ended_at or now,
            meta=meta,
        )

    # -- progress -----------------------------------------------------------------------------
    def progress(self) -> list[CellProgress]:
        a = st.assignments
        q = (
            select(a.c.task_id, a.c.batch, a.c.state, func.count())
            .where(a.c.study == self.study)
            .group_by(a.c.task_id, a.c.batch, a.c.state)
        )
        counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        with self.store.engine.connect() as conn:
            for task_id, batch, state, n in conn.execute(q):
                counts[(task_id, batch)][state] += int(n)
        out = []
        for task_id in self.task_ids:
            for batch in self.batches:
                c = counts[(task_id, batch)]
                out.append(
                    CellProgress(
                        task_id=task_id,
                        batch=batch,
                        target=self.targets[batch],
                        complete=c[AssignmentState.COMPLETE.value],
                        in_progress=sum(c[s.value] for s in ACTIVE_STATES),
                        released=c[AssignmentState.RELEASED.value],
                        failed=c[AssignmentState.FAILED.value],
                    )
                )
        return out

    # -- audit trail --------------------------------------------------------------------------
    def log_event(
        self, kind: str, participant_id: str | None, session_id: str | None = None, **data: Any
    ) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(
                insert(st.events).values(
                    study=self.study,
                    participant_id=participant_id,
                    session_id=session_id,
                    kind=kind,
                    at=utcnow(),
                    data=data,
                )
            )
