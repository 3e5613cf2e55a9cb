"""The SQLAlchemy store on SQLite: per-turn writes, filters, upserts, all-or-nothing import."""

from __future__ import annotations

from pathlib import Path

import pytest

from simgap.models import (
    Annotation,
    Feedback,
    Reward,
    Role,
    Session,
    SessionStatus,
    Turn,
    UserKind,
)
from simgap.store import SessionFilter, Store, StoreError, database_url


def _s(
    sid: str,
    *,
    user: str = "local",
    kind: UserKind = UserKind.SIMULATOR,
    batch: str = "default",
    task: str = "0",
) -> Session:
    return Session(
        session_id=sid, task_id=task, domain="airline", user_kind=kind, user_id=user, batch=batch
    )


def test_database_url_forms(tmp_path: Path) -> None:
    assert database_url(tmp_path / "a.db") == f"sqlite:///{tmp_path / 'a.db'}"
    assert (
        database_url("postgresql+psycopg://u@127.0.0.1/db") == "postgresql+psycopg://u@127.0.0.1/db"
    )


def test_turns_append_in_order_and_duplicates_are_refused(tmp_path: Path) -> None:
    st = Store(tmp_path / "r.db")
    assert st.start_session(_s("a"))
    assert not st.start_session(_s("a"))  # second start is a no-op, not a duplicate row
    st.append_turn("a", Turn(idx=0, role=Role.AGENT, content="hi"))
    st.append_turn("a", Turn(idx=1, role=Role.USER, content="yo"))
    with pytest.raises(StoreError, match="turn 1 already stored"):
        st.append_turn("a", Turn(idx=1, role=Role.USER, content="again"))
    got = st.get_session("a")
    assert got is not None and [t.content for t in got.turns] == ["hi", "yo"]
    st.truncate_turns("a", 1)
    got = st.get_session("a")
    assert got is not None and [t.content for t in got.turns] == ["hi"]


def test_update_and_filters(tmp_path: Path) -> None:
    st = Store(tmp_path / "r.db")
    for sid, user, kind, batch in [
        ("h1", "p1", UserKind.HUMAN, "b1"),
        ("h2", "p2", UserKind.HUMAN, "b2"),
        ("s1", "local", UserKind.SIMULATOR, "default"),
    ]:
        st.start_session(_s(sid, user=user, kind=kind, batch=batch))
    st.update_session("h1", status=SessionStatus.DONE, reward=Reward(value=1.0))
    assert st.count_sessions(SessionFilter(user_kind=UserKind.HUMAN)) == 2
    assert st.count_sessions(SessionFilter(batches=["b2"])) == 1
    assert st.count_sessions(SessionFilter(statuses=[SessionStatus.DONE])) == 1
    assert st.statuses() == {
        "h1": SessionStatus.DONE,
        "h2": SessionStatus.RUNNING,
        "s1": SessionStatus.RUNNING,
    }
    h1 = st.get_session("h1")
    assert h1 is not None and h1.reward is not None and h1.reward.success


def test_feedback_and_annotations_are_upserts(tmp_path: Path) -> None:
    st = Store(tmp_path / "r.db")
    st.start_session(_s("a"))
    fb = Feedback(
        session_id="a",
        respondent_kind=UserKind.SIMULATOR,
        respondent_id="local",
        answers={"efficiency": 3},
    )
    st.put_feedback(fb)
    st.put_feedback(fb.model_copy(update={"answers": {"efficiency": 5}}))
    assert [f.answers for f in st.get_feedback(["a"])] == [{"efficiency": 5}]
    ann = Annotation(
        session_id="a", turn_idx=None, annotator="rules", codebook_version="1", features={"x": 1.0}
    )
    st.put_annotations([ann, ann.model_copy(update={"turn_idx": 1})])
    st.put_annotations([ann.model_copy(update={"features": {"x": 2.0}})])
    got = st.get_annotations(["a"], annotator="rules")
    assert [(a.turn_idx, a.features["x"]) for a in got] == [(None, 2.0), (1, 1.0)]
    assert st.annotated_session_ids("rules", "1") == {"a"}


def test_import_is_all_or_nothing(tmp_path: Path) -> None:
    st = Store(tmp_path / "r.db")
    st.start_session(_s("exists"))
    bad_fb = Feedback(
        session_id="missing-session", respondent_kind=UserKind.HUMAN, respondent_id="p"
    )
    with pytest.raises(Exception):
        st.import_records([_s("new1"), bad_fb])  # FK violation on the feedback: nothing lands
    assert st.get_session("new1") is None
    counts = st.import_records([_s("new1"), _s("exists")])
    assert counts == {"sessions": 1, "feedback": 0, "annotations": 0, "skipped": 1}
    assert list(st.export_records(SessionFilter(session_ids=["new1"])))[0].session_id == "new1"


def test_unusable_target_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_text("this is not sqlite " * 100)
    with pytest.raises(StoreError) as e:
        Store(tmp_path / "not-a-db")
    assert "\n" not in str(e.value) and "not-a-db" in str(e.value)
