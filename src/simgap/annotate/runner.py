"""Annotate the sessions of a store: resumable, bounded concurrency, one transaction per session.

A session's annotations (its turns and its session row) are written together as soon as the
session is done, so an interrupted run keeps every finished session and the next run skips them
(`Store.annotated_session_ids` for the same annotator and codebook version).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from simgap.annotate.base import Annotator
from simgap.models import Annotation, Session, SessionStatus, Usage
from simgap.store import SessionFilter, Store

CHUNK = 200  # sessions loaded (with turns) at a time


class AnnotateProgress(Protocol):
    """What `annotate_store` reports as it goes (the CLI shows a Rich bar)."""

    def started(self, total: int, already_done: int) -> None: ...

    def session_done(self, session_id: str, n_turns: int, n_missing: int) -> None: ...


@dataclass
class AnnotateSummary:
    annotator: str
    codebook_version: str
    selected: int = 0  # sessions the filter selected
    already_done: int = 0  # skipped: annotated earlier with this annotator + version
    annotated: int = 0  # annotated in this run
    turns: int = 0
    missing_turns: int = 0
    usage: Usage = field(default_factory=Usage)
    wall_s: float = 0.0


def _chunks(ids: Sequence[str], n: int) -> Iterator[list[str]]:
    for i in range(0, len(ids), n):
        yield list(ids[i : i + n])


def pending_session_ids(
    store: Store, annotator: Annotator, flt: SessionFilter | None = None
) -> tuple[list[str], int]:
    """(ids still to annotate, how many the filter selected). Only finished sessions count:
    a running session may still grow, and annotating it now would mark it done too early."""
    flt = flt or SessionFilter()
    if not flt.statuses:
        flt = replace(flt, statuses=[SessionStatus.DONE])
    ids = [s.session_id for s in store.iter_sessions(flt, with_turns=False)]
    done = store.annotated_session_ids(annotator.name, annotator.codebook_version)
    return [i for i in ids if i not in done], len(ids)


async def annotate_store(
    store: Store,
    annotator: Annotator,
    flt: SessionFilter | None = None,
    *,
    concurrency: int = 4,
    progress: AnnotateProgress | None = None,
    limit: int | None = None,
) -> AnnotateSummary:
    """Annotate every finished, not yet annotated session the filter selects."""
    t0 = time.perf_counter()
    todo, selected = pending_session_ids(store, annotator, flt)
    summary = AnnotateSummary(
        annotator=annotator.name,
        codebook_version=annotator.codebook_version,
        selected=selected,
        already_done=selected - len(todo),
    )
    if limit is not None:
        todo = todo[:limit]
    if progress is not None:
        progress.started(summary.selected, summary.already_done)
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(session: Session) -> None:
        async with sem:
            anns = await annotator.annotate(session)
        _record(store, summary, anns)
        if progress is not None:
            turns = [a for a in anns if a.turn_idx is not None]
            progress.session_done(
                session.session_id, len(turns), sum(1 for a in turns if a.missing)
            )

    for chunk in _chunks(todo, CHUNK):
        sessions = list(store.iter_sessions(SessionFilter(session_ids=chunk)))
        tasks = [asyncio.create_task(one(s)) for s in sessions]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = [t for t in done if not t.cancelled() and t.exception() is not None]
        if failed:
            # Stop at the first failure: sessions not started stay unannotated for the next run.
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            exc = failed[0].exception()
            assert exc is not None
            raise exc
    summary.wall_s = time.perf_counter() - t0
    return summary


def _record(store: Store, summary: AnnotateSummary, anns: list[Annotation]) -> None:
    store.put_annotations(anns)  # one transaction: the session is annotated or it is not
    summary.annotated += 1
    for a in anns:
        if a.turn_idx is None:
            if a.usage is not None:
                summary.usage = summary.usage + a.usage
            continue
        summary.turns += 1
        summary.missing_turns += int(a.missing)
