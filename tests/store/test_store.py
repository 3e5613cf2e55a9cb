"""The SQLAlchemy store, every test on both backends it supports: a SQLite file and a throwaway
PostgreSQL server (tests/fakes/postgres.py). Per-turn writes, filters, upserts, all-or-nothing
import, records that come back exactly as written, and one-line errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

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
from simgap.store import SessionFilter, Store, StoreError, database_url, tables
from tests.fakes.postgres import free_port, fresh_pg_store


@pytest.fixture(scope="module")
def pg_module_store(pg_server: str) -> Iterator[Store]:
    """One PostgreSQL database for this module, emptied before each test (`store`): creating
    a database per test costs about a second each."""
    with fresh_pg_store(pg_server) as st:
        yield st


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgres":
        st: Store = request.getfixturevalue("pg_module_store")
        names = ", ".join(tbl.name for tbl in tables.metadata.sorted_tables)
        with st.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} CASCADE"))
        yield st
        return
    st = Store(tmp_path / "r.db")
    yield st
    st.close()


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


def test_backend_is_the_one_asked_for(store: Store, request: pytest.FixtureRequest) -> None:
    backend = request.node.callspec.params["store"]
    assert store.url.startswith("postgresql" if backend == "postgres" else "sqlite")
    assert store.is_sqlite == (backend == "sqlite")


def test_turns_append_in_order_and_duplicates_are_refused(store: Store) -> None:
    st = store
    assert st.start_session(_s("a"))
    assert not st.start_session(_s("a"))  # second start is a no-op, not a duplicate row
    st.append_turn("a", Turn(idx=0, role=Role.AGENT, content="hi"))
    st.append_turn("a", Turn(idx=1, role=Role.USER, content="yo"))
    with pytest.raises(StoreError, match="turn 1 already stored"):
        st.append_turn("a", Turn(idx=1, role=Role.USER, content="again"))
    with pytest.raises(StoreError, match="session missing"):
        st.append_turn("nobody", Turn(idx=0, role=Role.USER, content="orphan"))
    got = st.get_session("a")
    assert got is not None and [t.content for t in got.turns] == ["hi", "yo"]
    assert st.count_turns() == 2
    st.truncate_turns("a", 1)
    got = st.get_session("a")
    assert got is not None and [t.content for t in got.turns] == ["hi"]
    assert st.count_turns() == 1


def test_update_and_filters(store: Store) -> None:
    st = store
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
    assert st.count_sessions(SessionFilter(user_ids=["p1", "local"])) == 2
    assert st.statuses() == {
        "h1": SessionStatus.DONE,
        "h2": SessionStatus.RUNNING,
        "s1": SessionStatus.RUNNING,
    }
    assert st.statuses(["h2", "nope"]) == {"h2": SessionStatus.RUNNING}
    h1 = st.get_session("h1")
    assert h1 is not None and h1.reward is not None and h1.reward.success


def _full_session() -> Session:
    """A session using every field, with text a backend could mangle (accents, emoji, quotes,
    newlines, JSON-looking strings) and microsecond, timezone-aware times."""
    t0 = datetime(2025, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
    usage = Usage(prompt_tokens=120, completion_tokens=7, calls=1, cost_usd=0.00012345)
    turns = [
        Turn(idx=0, role=Role.AGENT, content="Hi! How can I help you today?", timestamp=t0),
        Turn(
            idx=1,
            role=Role.USER,
            content="Ça va? I'd like to cancel 'Z7GOZK' — now 🙂\nsecond line {\"a\": 1}",
            timestamp=t0 + timedelta(seconds=1),
            usage=usage,
            meta={"persona": {"patience": 0.25, "tags": ["terse", "ünïcode"]}},
        ),
        Turn(
            idx=2,
            role=Role.AGENT,
            tool_calls=[
                ToolCall(
                    id="call_1", name="cancel_reservation", arguments={"reservation_id": "Z7GOZK"}
                ),
                ToolCall(id="call_2", name="x", arguments={}, raw_arguments='{"broken": '),
            ],
            timestamp=t0 + timedelta(seconds=2),
        ),
        Turn(
            idx=3,
            role=Role.TOOL,
            content='{"status": "cancelled"}',
            tool_call_id="call_1",
            requestor=Role.AGENT,
            timestamp=t0 + timedelta(seconds=3),
        ),
        Turn(
            idx=4,
            role=Role.TOOL,
            content="Error: not JSON",
            tool_call_id="call_2",
            tool_error=True,
            requestor=Role.AGENT,
            timestamp=t0 + timedelta(seconds=3, microseconds=1),
        ),
    ]
    return Session(
        session_id="full-1",
        task_id="19",
        domain="airline",
        user_kind=UserKind.SIMULATOR,
        user_id="gpt-4o",
        agent=AgentSpec(name="llm", model="openai/gpt-4.1", settings={"temperature": 0.0}),
        batch="b2",
        trial=3,
        seed=1234567,
        status=SessionStatus.DONE,
        termination=Termination.USER_STOP,
        reward=Reward(
            value=1.0,
            breakdown={"DB": 1.0, "COMMUNICATE": 1.0},
            basis=["DB", "COMMUNICATE"],
            info={"db_check": {"db_match": True}, "note": None},
        ),
        error=None,
        started_at=t0,
        ended_at=t0 + timedelta(minutes=2, microseconds=5),
        agent_usage=usage,
        user_usage=Usage(prompt_tokens=50, completion_tokens=5, calls=2),
        turns=turns,
        meta={"user_preset": {"name": "gpt-4o"}, "synthetic": False, "max_steps": 200},
    )


def test_records_come_back_exactly_as_written(store: Store) -> None:
    """Every field of a session, its turns, feedback and annotations survive the backend."""
    s = _full_session()
    store.save_session(s)
    assert store.get_session("full-1") == s
    assert store.get_session("full-1", with_turns=False) == s.model_copy(update={"turns": []})
    # turn by turn, as a sweep writes them
    store.start_session(s.model_copy(update={"session_id": "full-2", "turns": []}))
    for t in s.turns:
        store.append_turn("full-2", t)
    store.update_session(
        "full-2",
        status=s.status,
        termination=s.termination,
        reward=s.reward,
        ended_at=s.ended_at,
        agent_usage=s.agent_usage,
        user_usage=s.user_usage,
    )
    assert store.get_session("full-2") == s.model_copy(update={"session_id": "full-2"})
    fb = Feedback(
        session_id="full-1",
        respondent_kind=UserKind.HUMAN,
        respondent_id="p-ü",
        answers={"efficiency": 4, "reuse": "Yes, definitely", "human_like": 2},
        free_text="Quick — but it didn't 'listen'.\nTwo lines.",
        created_at=datetime(2025, 3, 4, 6, 0, 0, 1, tzinfo=UTC),
        usage=Usage(prompt_tokens=3, completion_tokens=4, calls=1),
        meta={"source": "study"},
    )
    store.put_feedback(fb)
    assert store.get_feedback(["full-1"]) == [fb]
    ann = Annotation(
        session_id="full-1",
        turn_idx=1,
        annotator="llm:openai/x",
        codebook_version="1",
        codes={"register": "casual", "politeness": False},
        features={"words": 12.0, "ratio": 0.125},
        missing=False,
        created_at=datetime(2025, 3, 4, 7, 0, tzinfo=UTC),
        meta={"attempts": 2},
    )
    store.put_annotations([ann])
    assert store.get_annotations(["full-1"]) == [ann]
    exported = list(store.export_records(SessionFilter(session_ids=["full-1"])))
    assert exported == [s, fb, ann]


def test_sessions_come_in_a_stable_order_in_chunks(store: Store) -> None:
    for i in (3, 1, 2, 10):
        for trial in (1, 0):
            s = _s(f"s{i}-{trial}", task=str(i)).model_copy(update={"trial": trial})
            store.start_session(s)
            store.append_turn(s.session_id, Turn(idx=0, role=Role.USER, content=f"{i}/{trial}"))
    got = list(store.iter_sessions(chunk=3))
    # ordered by task id as text, then trial: the same order on every backend
    assert [s.session_id for s in got] == [
        "s1-0", "s1-1", "s10-0", "s10-1", "s2-0", "s2-1", "s3-0", "s3-1",
    ]  # fmt: skip
    assert [s.turns[0].content for s in got][:2] == ["1/0", "1/1"]


def test_feedback_and_annotations_are_upserts(store: Store) -> None:
    st = store
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
    st.delete_session("a")
    assert st.get_session("a") is None and st.get_feedback(["a"]) == []
    assert st.get_annotations(["a"]) == []


def test_import_is_all_or_nothing(store: Store) -> None:
    st = store
    st.start_session(_s("exists"))
    bad_fb = Feedback(
        session_id="missing-session", respondent_kind=UserKind.HUMAN, respondent_id="p"
    )
    with pytest.raises(Exception):
        st.import_records([_s("new1"), bad_fb])  # FK violation on the feedback: nothing lands
    assert st.get_session("new1") is None
    assert st.count_sessions() == 1
    counts = st.import_records([_s("new1"), _s("exists")])
    assert counts == {"sessions": 1, "feedback": 0, "annotations": 0, "skipped": 1}
    assert list(st.export_records(SessionFilter(session_ids=["new1"])))[0].session_id == "new1"


def test_two_processes_worth_of_writers_lose_nothing(store: Store) -> None:
    """Two `Store` objects (two connection pools, as two processes of a sweep have) writing
    turns of their own sessions at once, and racing to start the same session."""
    other = Store(store.url)
    n_sessions, n_turns = 4, 15
    starts: list[bool] = []

    def writer(st: Store, prefix: str) -> None:
        starts.append(st.start_session(_s("shared")))
        for k in range(n_sessions):
            sid = f"{prefix}{k}"
            st.start_session(_s(sid))
            for i in range(n_turns):
                st.append_turn(sid, Turn(idx=i, role=Role.USER, content=f"{sid}:{i}"))

    threads = [
        threading.Thread(target=writer, args=(st, p)) for st, p in ((store, "a"), (other, "b"))
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    other.close()
    assert sorted(starts) == [False, True]  # exactly one of the racing starts inserted it
    assert store.count_sessions() == 2 * n_sessions + 1
    assert store.count_turns() == 2 * n_sessions * n_turns
    for s in store.iter_sessions(SessionFilter(session_ids=[f"a{k}" for k in range(4)])):
        assert [t.content for t in s.turns] == [f"{s.session_id}:{i}" for i in range(n_turns)]


def test_unusable_sqlite_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_text("this is not sqlite " * 100)
    with pytest.raises(StoreError) as e:
        Store(tmp_path / "not-a-db")
    assert "\n" not in str(e.value) and "not-a-db" in str(e.value)


def test_unreachable_postgres_is_a_one_line_error_without_the_password() -> None:
    url = f"postgresql+psycopg://simgap:s3cret-pw@127.0.0.1:{free_port()}/nowhere"
    with pytest.raises(StoreError) as e:
        Store(url)
    msg = str(e.value)
    assert "\n" not in msg and "127.0.0.1" in msg and "nowhere" in msg, msg
    assert "s3cret-pw" not in msg, msg


def test_a_nul_in_model_text_is_stored_on_both_backends(
    store: Store, request: pytest.FixtureRequest
) -> None:
    """A model's reply, an error or a free-text answer holding NUL: PostgreSQL cannot hold the
    character (an INSERT with one fails, which would fail the session), so it keeps U+FFFD in
    its place; SQLite keeps the text exactly. Nothing else in the record changes."""
    on_pg = "postgres" in request.node.callspec.id
    nul = "a\x00b"
    kept = "a\ufffdb" if on_pg else nul
    s = _s("nul-1")
    s.turns = [Turn(idx=0, role=Role.AGENT, content=f"reply {nul}")]
    s.error = f"error {nul}"
    store.save_session(s)
    store.start_session(_s("nul-2"))
    store.append_turn("nul-2", Turn(idx=0, role=Role.USER, content=nul))
    store.update_session("nul-2", error=nul)
    store.put_feedback(
        Feedback(
            session_id="nul-1", respondent_kind=UserKind.HUMAN, respondent_id="p", free_text=nul
        )
    )
    store.put_annotations(
        [Annotation(session_id="nul-1", annotator="x", codebook_version="1", error=nul)]
    )
    got = store.get_session("nul-1")
    assert got is not None and got.turns[0].content == f"reply {kept}"
    assert got.error == f"error {kept}"
    got2 = store.get_session("nul-2")
    assert got2 is not None and got2.turns[0].content == kept and got2.error == kept
    assert [f.free_text for f in store.get_feedback(["nul-1"])] == [kept]
    assert [a.error for a in store.get_annotations(["nul-1"])] == [kept]


def test_a_malformed_store_url_is_one_line_without_the_password() -> None:
    """A URL SQLAlchemy cannot use (here an unknown driver) is refused in one line that names
    the URL with its password masked: error messages end up in logs and CI output."""
    url = "postgresql+nosuchdriver://alice:s3cret-pw@127.0.0.1:1/db"
    with pytest.raises(StoreError) as e:
        Store(url)
    msg = str(e.value)
    assert "\n" not in msg and "s3cret-pw" not in msg
    assert "postgresql+nosuchdriver://alice:***@127.0.0.1:1/db" in msg


def test_store_urls_print_without_their_password() -> None:
    """One helper masks a store URL wherever simgap prints one (an error, `simgap run`'s
    summary): the password only, in URLs SQLAlchemy parses and in those it cannot."""
    from simgap.store.store import without_password

    assert without_password("postgresql+psycopg://bob:s3cret@db.local:5432/runs") == (
        "postgresql+psycopg://bob:***@db.local:5432/runs"
    )
    assert without_password("postgresql://bob:p@ss@h/db") == "postgresql://bob:***@h/db"
    assert (
        without_password("postgresql+nosuchdriver://a:b@/x") == "postgresql+nosuchdriver://a:***@/x"
    )
    for unchanged in ("runs.db", "sqlite:///runs.db", "postgresql://bob@h/db", "postgresql://h/db"):
        assert without_password(unchanged) == unchanged
