"""The session store: SQLite file by default, PostgreSQL (or anything SQLAlchemy speaks) by URL.

Writes are small and committed one by one (a session row, then each turn as it happens), so a
process killed at any point loses at most the turn in flight and never leaves a torn row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from simgap.errors import SimgapError
from simgap.models import (
    AgentSpec,
    Annotation,
    Feedback,
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
from simgap.store import tables as t


class StoreError(SimgapError):
    """A store problem explained in one line (bad URL, unreachable server, conflicting write)."""


def database_url(target: str | Path) -> str:
    """`runs.db` -> `sqlite:////abs/runs.db`; anything with `://` is passed through."""
    s = str(target)
    if "://" in s:
        return s
    return f"sqlite:///{Path(s).expanduser().resolve()}"


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions a command works on. Empty fields select everything."""

    domain: str | None = None
    user_kind: UserKind | None = None
    user_ids: Sequence[str] = ()
    batches: Sequence[str] = ()
    statuses: Sequence[SessionStatus] = ()
    task_ids: Sequence[str] = ()
    agent_model: str | None = None
    session_ids: Sequence[str] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def clause(self) -> ColumnElement[bool]:
        c = t.sessions.c
        conds: list[ColumnElement[bool]] = []
        if self.domain:
            conds.append(c.domain == self.domain)
        if self.user_kind:
            conds.append(c.user_kind == self.user_kind.value)
        if self.user_ids:
            conds.append(c.user_id.in_(list(self.user_ids)))
        if self.batches:
            conds.append(c.batch.in_(list(self.batches)))
        if self.statuses:
            conds.append(c.status.in_([s.value for s in self.statuses]))
        if self.task_ids:
            conds.append(c.task_id.in_(list(self.task_ids)))
        if self.agent_model:
            conds.append(c.agent_model == self.agent_model)
        if self.session_ids:
            conds.append(c.session_id.in_(list(self.session_ids)))
        return and_(*conds) if conds else and_(True)


class Store:
    """All reads and writes of sessions, turns, feedback and annotations."""

    def __init__(self, target: str | Path, *, echo: bool = False) -> None:
        self.url = database_url(target)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except Exception as e:  # bad URL, missing driver
            shown = without_password(self.url)
            why = _one_line(e).replace(self.url, shown)  # SQLAlchemy quotes the URL it refused
            raise StoreError(f"cannot open store {shown!r}: {why}") from None
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.ensure_tables(t.metadata)

    # -- set-up -------------------------------------------------------------------------------
    def ensure_tables(self, metadata: MetaData) -> None:
        """Create missing tables (this stage's, or a later stage's own metadata)."""
        try:
            metadata.create_all(self.engine)
        except OperationalError as e:
            raise StoreError(f"cannot use store {self._safe_url()}: {_one_line(e.orig)}") from None
        except Exception as e:  # corrupt file, permission denied...
            raise StoreError(f"cannot use store {self._safe_url()}: {_one_line(e)}") from None

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions -----------------------------------------------------------------------------
    def start_session(self, s: Session) -> bool:
        """Insert the session row (without turns) unless it exists. True if it was inserted."""
        row = _session_row(s)
        row["n_turns"] = 0
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.sessions).values(**row))
        except IntegrityError:
            return False
        return True

    def save_session(self, s: Session) -> None:
        """Write a whole session (row and turns) in one transaction, replacing any old copy."""
        with self.engine.begin() as conn:
            self._save_session(conn, s)

    def _save_session(self, conn: Connection, s: Session) -> None:
        conn.execute(delete(t.turns).where(t.turns.c.session_id == s.session_id))
        conn.execute(delete(t.sessions).where(t.sessions.c.session_id == s.session_id))
        row = _session_row(s)
        row["n_turns"] = len(s.turns)
        conn.execute(insert(t.sessions).values(**row))
        if s.turns:
            conn.execute(insert(t.turns), [_turn_row(s.session_id, x) for x in s.turns])

    def append_turn(self, session_id: str, turn: Turn) -> None:
        """Commit one turn. Its idx must be the next one: a duplicate idx is refused, not merged.

        The hottest write of a sweep (every turn of every session): it executes two statements
        built once per process with their values as parameters (`_INSERT_TURN`,
        `_SET_N_TURNS`), so SQLAlchemy compiles each once and reuses it, not once per turn
        with the values inlined (3.3× less CPU per turn: benchmarks/bench_store_writes.py).
        """
        try:
            with self.engine.begin() as conn:
                conn.execute(_INSERT_TURN, _turn_row(session_id, turn))
                conn.execute(_SET_N_TURNS, {"b_session_id": session_id, "b_n_turns": turn.idx + 1})
        except IntegrityError:
            raise StoreError(
                f"session {session_id}: turn {turn.idx} already stored (or session missing)"
            ) from None

    def update_session(self, session_id: str, **values: Any) -> None:
        """Set session fields by name (status, termination, reward, error, usages, meta...)."""
        row: dict[str, Any] = {}
        for k, v in values.items():
            if k == "reward":
                row["reward"] = None if v is None else v.model_dump(mode="json")
                row["reward_value"] = None if v is None else v.value
            elif k in ("agent_usage", "user_usage"):
                row[k] = v.model_dump(mode="json")
            elif k in ("status", "termination"):
                row[k] = None if v is None else str(v.value if hasattr(v, "value") else v)
            elif k == "agent":
                row["agent"] = v.model_dump(mode="json")
                row["agent_name"], row["agent_model"] = v.name, v.model
            else:
                row[k] = v
        with self.engine.begin() as conn:
            conn.execute(
                update(t.sessions).where(t.sessions.c.session_id == session_id).values(**row)
            )

    def truncate_turns(self, session_id: str, keep: int) -> None:
        """Drop turns with idx >= keep (to restart a conversation from a clean point)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.turns).where(
                    and_(t.turns.c.session_id == session_id, t.turns.c.idx >= keep)
                )
            )
            conn.execute(
                update(t.sessions).where(t.sessions.c.session_id == session_id).values(n_turns=keep)
            )

    def delete_session(self, session_id: str) -> None:
        with self.engine.begin() as conn:
            for tbl in (t.annotations, t.feedback, t.turns):
                conn.execute(delete(tbl).where(tbl.c.session_id == session_id))
            conn.execute(delete(t.sessions).where(t.sessions.c.session_id == session_id))

    def get_session(self, session_id: str, *, with_turns: bool = True) -> Session | None:
        got = list(
            self.iter_sessions(SessionFilter(session_ids=[session_id]), with_turns=with_turns)
        )
        return got[0] if got else None

    def statuses(self, session_ids: Iterable[str] | None = None) -> dict[str, SessionStatus]:
        """Status of each stored session (all, or those named): what resume looks at."""
        q = select(t.sessions.c.session_id, t.sessions.c.status)
        ids = None if session_ids is None else list(session_ids)
        out: dict[str, SessionStatus] = {}
        with self.engine.connect() as conn:
            if ids is None:
                out = {sid: SessionStatus(st) for sid, st in conn.execute(q)}
            else:
                for i in range(0, len(ids), 500):
                    chunk = ids[i : i + 500]
                    for r in conn.execute(q.where(t.sessions.c.session_id.in_(chunk))):
                        out[r[0]] = SessionStatus(r[1])
        return out

    def count_sessions(self, flt: SessionFilter | None = None) -> int:
        flt = flt or SessionFilter()
        with self.engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(t.sessions).where(flt.clause()))
            return int(n.scalar_one())

    def count_turns(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.turns)).scalar_one())

    def iter_sessions(
        self, flt: SessionFilter | None = None, *, with_turns: bool = True, chunk: int = 500
    ) -> Iterator[Session]:
        """Sessions in a stable order (task, user, trial, id), rows and turns read chunk by
        chunk."""
        flt = flt or SessionFilter()
        c = t.sessions.c
        q = (
            select(t.sessions)
            .where(flt.clause())
            .order_by(c.domain, c.task_id, c.user_id, c.batch, c.trial, c.session_id)
        )
        with self.engine.connect() as conn:
            result = conn.execute(q)  # read chunk by chunk: a 10,000-session sweep is never
            while part := result.fetchmany(chunk):  # held in memory at once
                turns_by: dict[str, list[Turn]] = {}
                if with_turns:
                    ids = [r.session_id for r in part]
                    tq = (
                        select(t.turns)
                        .where(t.turns.c.session_id.in_(ids))
                        .order_by(t.turns.c.session_id, t.turns.c.idx)
                    )
                    for tr in conn.execute(tq):
                        turns_by.setdefault(tr.session_id, []).append(_turn_from_row(tr))
                for r in part:
                    yield _session_from_row(r, turns_by.get(r.session_id, []))

    # -- feedback -----------------------------------------------------------------------------
    def put_feedback(self, fb: Feedback) -> None:
        """Insert or replace the feedback of (session, respondent, questionnaire)."""
        with self.engine.begin() as conn:
            self._put_feedback(conn, fb)

    def _put_feedback(self, conn: Connection, fb: Feedback) -> None:
        c = t.feedback.c
        conn.execute(
            delete(t.feedback).where(
                and_(
                    c.session_id == fb.session_id,
                    c.respondent_id == fb.respondent_id,
                    c.questionnaire == fb.questionnaire,
                )
            )
        )
        conn.execute(insert(t.feedback).values(**_feedback_row(fb)))

    def get_feedback(
        self, session_ids: Iterable[str] | None = None, *, questionnaire: str | None = None
    ) -> list[Feedback]:
        q = select(t.feedback).order_by(t.feedback.c.session_id, t.feedback.c.id)
        if questionnaire:
            q = q.where(t.feedback.c.questionnaire == questionnaire)
        return [_feedback_from_row(r) for r in self._rows_for(q, t.feedback, session_ids)]

    # -- annotations --------------------------------------------------------------------------
    def put_annotations(self, items: Sequence[Annotation]) -> None:
        """Insert or replace annotations in one transaction."""
        if not items:
            return
        with self.engine.begin() as conn:
            self._put_annotations(conn, items)

    def _put_annotations(self, conn: Connection, items: Sequence[Annotation]) -> None:
        c = t.annotations.c
        for a in items:
            conn.execute(
                delete(t.annotations).where(
                    and_(
                        c.session_id == a.session_id,
                        c.turn_idx == (-1 if a.turn_idx is None else a.turn_idx),
                        c.annotator == a.annotator,
                        c.codebook_version == a.codebook_version,
                    )
                )
            )
        conn.execute(insert(t.annotations), [_annotation_row(a) for a in items])

    def get_annotations(
        self,
        session_ids: Iterable[str] | None = None,
        *,
        annotator: str | None = None,
        codebook_version: str | None = None,
    ) -> list[Annotation]:
        c = t.annotations.c
        q = select(t.annotations).order_by(c.session_id, c.turn_idx, c.id)
        if annotator:
            q = q.where(c.annotator == annotator)
        if codebook_version:
            q = q.where(c.codebook_version == codebook_version)
        return [_annotation_from_row(r) for r in self._rows_for(q, t.annotations, session_ids)]

    def annotated_session_ids(self, annotator: str, codebook_version: str) -> set[str]:
        c = t.annotations.c
        q = (
            select(c.session_id)
            .where(and_(c.annotator == annotator, c.codebook_version == codebook_version))
            .distinct()
        )
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(q)}

    def _rows_for(self, q: Any, tbl: Any, session_ids: Iterable[str] | None) -> list[Row[Any]]:
        with self.engine.connect() as conn:
            if session_ids is None:
                return list(conn.execute(q))
            ids = list(session_ids)
            out: list[Row[Any]] = []
            for i in range(0, len(ids), 500):
                out.extend(conn.execute(q.where(tbl.c.session_id.in_(ids[i : i + 500]))))
            return out

    # -- bulk import --------------------------------------------------------------------------
    def import_records(
        self, records: Sequence[Session | Feedback | Annotation], *, replace: bool = False
    ) -> dict[str, int]:
        """Write everything in one transaction: either all records land or none do.

        Existing sessions are left alone unless `replace`; their ids are counted as skipped.
        A session repeated in `records` is stored once and counted in `duplicates` (a key
        present only then) when the copies are identical; copies that differ are refused
        (StoreError), nothing stored.
        """
        counts = {"sessions": 0, "feedback": 0, "annotations": 0, "skipped": 0}
        seen: dict[str, Session] = {}
        for r in records:
            if isinstance(r, Session):
                first = seen.setdefault(r.session_id, r)
                if first is not r and first != r:
                    raise StoreError(
                        f"session {r.session_id!r} appears twice in the input with different "
                        "content; nothing was imported"
                    )
        existing = self.statuses(list(seen))
        with self.engine.begin() as conn:
            for r in records:
                if isinstance(r, Session):
                    if seen.get(r.session_id) is not r:  # counted only when it happens
                        counts["duplicates"] = counts.get("duplicates", 0) + 1
                        continue
                    if r.session_id in existing and not replace:
                        counts["skipped"] += 1
                        continue
                    self._save_session(conn, r)
                    counts["sessions"] += 1
            for r in records:
                if isinstance(r, Feedback):
                    self._put_feedback(conn, r)
                    counts["feedback"] += 1
            anns = [r for r in records if isinstance(r, Annotation)]
            if anns:
                self._put_annotations(conn, anns)
                counts["annotations"] += len(anns)
        return counts

    def export_records(
        self, flt: SessionFilter | None = None
    ) -> Iterator[Session | Feedback | Annotation]:
        """Sessions with their turns, then their feedback and annotations."""
        ids: list[str] = []
        for s in self.iter_sessions(flt):
            ids.append(s.session_id)
            yield s
        yield from self.get_feedback(ids)
        yield from self.get_annotations(ids)


def _one_line(e: object) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# The per-turn statements, built once: values travel as parameters (see `Store.append_turn`).
_INSERT_TURN = insert(t.turns)
_SET_N_TURNS = (
    update(t.sessions)
    .where(t.sessions.c.session_id == bindparam("b_session_id"))
    .values(n_turns=bindparam("b_n_turns"))
)


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^\s/?#]*@")


def without_password(url: str) -> str:
    """A store URL fit to print (an error message, a run's summary): the password, if any,
    replaced by `***`, also in URLs SQLAlchemy cannot parse (the ones an error is about)."""
    return _URL_PASSWORD.sub(r"\1***@", url)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


# -- row <-> record ------------------------------------------------------------------------------
def _session_row(s: Session) -> dict[str, Any]:
    return {
        "session_id": s.session_id,
        "task_id": s.task_id,
        "domain": s.domain,
        "user_kind": s.user_kind.value,
        "user_id": s.user_id,
        "agent_name": s.agent.name,
        "agent_model": s.agent.model,
        "agent": s.agent.model_dump(mode="json"),
        "batch": s.batch,
        "trial": s.trial,
        "seed": s.seed,
        "status": s.status.value,
        "termination": None if s.termination is None else s.termination.value,
        "reward_value": None if s.reward is None else s.reward.value,
        "reward": None if s.reward is None else s.reward.model_dump(mode="json"),
        "error": s.error,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "agent_usage": s.agent_usage.model_dump(mode="json"),
        "user_usage": s.user_usage.model_dump(mode="json"),
        "meta": s.meta,
    }


def _session_from_row(r: Row[Any], turns: list[Turn]) -> Session:
    return Session(
        session_id=r.session_id,
        task_id=r.task_id,
        domain=r.domain,
        user_kind=UserKind(r.user_kind),
        user_id=r.user_id,
        agent=AgentSpec.model_validate(r.agent),
        batch=r.batch,
        trial=r.trial,
        seed=r.seed,
        status=SessionStatus(r.status),
        termination=None if r.termination is None else Termination(r.termination),
        reward=None if r.reward is None else Reward.model_validate(r.reward),
        error=r.error,
        started_at=_aware(r.started_at),
        ended_at=_aware(r.ended_at),
        agent_usage=Usage.model_validate(r.agent_usage),
        user_usage=Usage.model_validate(r.user_usage),
        turns=turns,
        meta=r.meta or {},
    )


def _turn_row(session_id: str, x: Turn) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "idx": x.idx,
        "role": x.role.value,
        "content": x.content,
        "tool_calls": [tc.model_dump(mode="json") for tc in x.tool_calls],
        "tool_call_id": x.tool_call_id,
        "tool_error": x.tool_error,
        "requestor": None if x.requestor is None else x.requestor.value,
        "timestamp": x.timestamp,
        "usage": None if x.usage is None else x.usage.model_dump(mode="json"),
        "meta": x.meta,
    }


def _turn_from_row(r: Row[Any]) -> Turn:
    ts = _aware(r.timestamp)
    assert ts is not None
    return Turn(
        idx=r.idx,
        role=Role(r.role),
        content=r.content,
        tool_calls=[ToolCall.model_validate(tc) for tc in (r.tool_calls or [])],
        tool_call_id=r.tool_call_id,
        tool_error=bool(r.tool_error),
        requestor=None if r.requestor is None else Role(r.requestor),
        timestamp=ts,
        usage=None if r.usage is None else Usage.model_validate(r.usage),
        meta=r.meta or {},
    )


def _feedback_row(fb: Feedback) -> dict[str, Any]:
    return {
        "session_id": fb.session_id,
        "respondent_kind": fb.respondent_kind.value,
        "respondent_id": fb.respondent_id,
        "questionnaire": fb.questionnaire,
        "questionnaire_version": fb.questionnaire_version,
        "answers": fb.answers,
        "free_text": fb.free_text,
        "created_at": fb.created_at,
        "usage": None if fb.usage is None else fb.usage.model_dump(mode="json"),
        "meta": fb.meta,
    }


def _feedback_from_row(r: Row[Any]) -> Feedback:
    return Feedback(
        session_id=r.session_id,
        respondent_kind=UserKind(r.respondent_kind),
        respondent_id=r.respondent_id,
        questionnaire=r.questionnaire,
        questionnaire_version=r.questionnaire_version,
        answers=r.answers or {},
        free_text=r.free_text,
        created_at=_aware(r.created_at) or datetime.now(UTC),
        usage=None if r.usage is None else Usage.model_validate(r.usage),
        meta=r.meta or {},
    )


def _annotation_row(a: Annotation) -> dict[str, Any]:
    return {
        "session_id": a.session_id,
        "turn_idx": -1 if a.turn_idx is None else a.turn_idx,
        "annotator": a.annotator,
        "codebook_version": a.codebook_version,
        "codes": a.codes,
        "features": a.features,
        "missing": a.missing,
        "error": a.error,
        "created_at": a.created_at,
        "usage": None if a.usage is None else a.usage.model_dump(mode="json"),
        "meta": a.meta,
    }


def _annotation_from_row(r: Row[Any]) -> Annotation:
    return Annotation(
        session_id=r.session_id,
        turn_idx=None if r.turn_idx < 0 else r.turn_idx,
        annotator=r.annotator,
        codebook_version=r.codebook_version,
        codes=r.codes or {},
        features=r.features or {},
        missing=bool(r.missing),
        error=r.error,
        created_at=_aware(r.created_at) or datetime.now(UTC),
        usage=None if r.usage is None else Usage.model_validate(r.usage),
        meta=r.meta or {},
    )
