"""Export a study's data (sessions with every turn, then the questionnaires) as simgap JSONL.

Works from the database alone (no config, no τ² data loaded), so the person analysing the study
needs only the store URL. The output is what `simgap import` and `simgap score` read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select

from simgap.models import Annotation, Feedback, Session, write_jsonl
from simgap.store import SessionFilter, Store
from simgap.study import tables as st


def study_names(store: Store) -> list[str]:
    store.ensure_tables(st.metadata)
    a = st.assignments
    with store.engine.connect() as conn:
        return sorted(str(r[0]) for r in conn.execute(select(a.c.study).distinct()))


def study_session_ids(store: Store, study: str | None = None) -> list[str]:
    """Ids of the sessions people started (assigned but never started ones have none)."""
    store.ensure_tables(st.metadata)
    a = st.assignments
    q = select(a.c.session_id).order_by(a.c.id)
    if study is not None:
        q = q.where(a.c.study == study)
    with store.engine.connect() as conn:
        ids = [str(r[0]) for r in conn.execute(q)]
    stored = store.statuses(ids)
    return [i for i in ids if i in stored]


def iter_study_records(
    store: Store, study: str | None = None
) -> Iterator[Session | Feedback | Annotation]:
    ids = study_session_ids(store, study)
    if ids:
        yield from store.export_records(SessionFilter(session_ids=ids))


def export_study(store: Store, out: str | Path, study: str | None = None) -> int:
    """Write the JSONL file atomically; returns the number of records."""
    return write_jsonl(out, iter_study_records(store, study))
