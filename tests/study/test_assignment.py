"""Balanced assignment: targets per (task, batch), no task twice, safe under concurrent arrivals,
abandoned assignments released (and their sessions never scored)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import update

from simgap.models import AgentSpec, Session, SessionStatus, Termination, UserKind, utcnow
from simgap.store import Store
from simgap.study import tables as st
from simgap.study.assignment import Assigner, AssignmentState
from simgap.study.config import StudyConfig


def assigner(store: Store, tasks: list[str], targets: dict[str, int], **kw: object) -> Assigner:
    return Assigner(store, "s", tasks, targets, **kw)  # type: ignore[arg-type]


def run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    """Run each target in its own thread; the exceptions they raised (a thread's exception is
    otherwise only printed, and the test would pass on whatever the other threads did)."""
    errors: list[BaseException] = []
    lock = threading.Lock()

    def guarded(fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as e:
            with lock:
                errors.append(e)

    threads = [threading.Thread(target=guarded, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


def test_cell_targets_spread_people_over_batches() -> None:
    assert StudyConfig(people_per_task=3, batches=["a", "b", "c"]).cell_targets() == {
        "a": 1,
        "b": 1,
        "c": 1,
    }
    assert StudyConfig(people_per_task=5, batches=["a", "b", "c"]).cell_targets() == {
        "a": 2,
        "b": 2,
        "c": 1,
    }


def test_balanced_fill_then_full(any_store: Store) -> None:
    a = assigner(any_store, ["t1", "t2", "t3"], {"b1": 1, "b2": 1, "b3": 1})
    got = []
    for i in range(9):
        x = a.assign(f"p{i}")
        assert x is not None
        got.append((x.task_id, x.batch))
        # a participant asking again gets the same assignment, not a second one
        assert a.assign(f"p{i}") == x
    assert sorted(got) == sorted((t, b) for t in ["t1", "t2", "t3"] for b in ["b1", "b2", "b3"])
    # the first three spread over the tasks before any task gets a second person
    assert {t for t, _ in got[:3]} == {"t1", "t2", "t3"}
    assert a.assign("p-late") is None
    assert all(c.in_progress == 1 and c.remaining == 0 for c in a.progress())


def test_nobody_gets_the_same_task_twice(any_store: Store) -> None:
    a = assigner(any_store, ["t1", "t2", "t3"], {"b1": 5})
    seen = []
    for _ in range(3):
        x = a.assign("p1", max_tasks=3)
        assert x is not None
        seen.append(x.task_id)
        assert a.set_state(x.id, AssignmentState.COMPLETE)
    assert sorted(seen) == ["t1", "t2", "t3"]
    assert a.assign("p1", max_tasks=10) is None  # every task done already
    assert a.assign("p1", max_tasks=3) is None
    # an abandoned task is not offered again either
    x = a.assign("p2", max_tasks=3)
    assert x is not None
    a.set_state(x.id, AssignmentState.RELEASED)
    y = a.assign("p2", max_tasks=3)
    assert y is not None and y.task_id != x.task_id


def test_concurrent_arrivals_never_overfill(any_store: Store) -> None:
    a = assigner(any_store, ["t1", "t2"], {"b1": 2, "b2": 1})  # 6 places
    results: dict[str, object] = {}
    barrier = threading.Barrier(16)

    def arrive(pid: str) -> None:
        barrier.wait()
        results[pid] = a.assign(pid)

    errors = run_threads([lambda i=i: arrive(f"p{i}") for i in range(16)])  # type: ignore[misc]
    assert errors == [] and len(results) == 16, errors
    placed = [x for x in results.values() if x is not None]
    assert len(placed) == 6
    cells = Counter((x.task_id, x.batch) for x in placed)  # type: ignore[attr-defined]
    assert cells == {("t1", "b1"): 2, ("t2", "b1"): 2, ("t1", "b2"): 1, ("t2", "b2"): 1}


def test_one_person_never_holds_two_assignments(any_store: Store) -> None:
    a = assigner(any_store, ["t1", "t2", "t3", "t4"], {"b1": 5})
    barrier = threading.Barrier(8)
    out = []

    def go() -> None:
        barrier.wait()
        out.append(a.assign("same", max_tasks=4))

    errors = run_threads([go] * 8)
    assert errors == [] and len(out) == 8, errors
    assert len({x.id for x in out if x is not None}) == 1
    assert len(a.history("same")) == 1


def test_abandoned_assignment_is_released_and_never_scored(any_store: Store) -> None:
    a = assigner(any_store, ["t1"], {"b1": 1}, abandon_after=timedelta(minutes=30))
    x = a.assign("p1")
    assert x is not None and a.assign("p2") is None  # the only place is taken
    any_store.start_session(
        Session(
            session_id=x.session_id,
            task_id="t1",
            domain="airline",
            user_kind=UserKind.HUMAN,
            user_id="p1",
            agent=AgentSpec(),
            batch="b1",
            started_at=utcnow(),
        )
    )
    a.set_state(x.id, AssignmentState.CHATTING)
    assert a.release_abandoned() == []  # still fresh
    with any_store.engine.begin() as conn:
        conn.execute(
            update(st.assignments)
            .where(st.assignments.c.id == x.id)
            .values(last_seen_at=utcnow() - timedelta(minutes=31))
        )
    released = a.release_abandoned()
    assert [r.id for r in released] == [x.id]
    s = any_store.get_session(x.session_id)
    assert s is not None
    assert s.status == SessionStatus.FAILED and s.termination == Termination.ABANDONED
    assert s.meta["abandoned_at_stage"] == "chatting"
    got = a.get(x.id)
    assert got is not None and got.state == AssignmentState.RELEASED and got.slot is None
    # the place is free again for someone else; p1 never gets t1 again
    y = a.assign("p2")
    assert y is not None and y.task_id == "t1"
    assert a.assign("p1") is None
    cell = a.progress()[0]
    assert (cell.in_progress, cell.released, cell.complete) == (1, 1, 0)
    # a touch keeps an assignment alive
    a.touch(y.id)
    assert a.release_abandoned(utcnow() + timedelta(minutes=29)) == []
