"""Copy-on-access session databases: same content and same τ² hash as a full copy, sessions
isolated from each other and from the pristine database."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simgap.domains import DomainEnvironment, load_tasks
from simgap.domains.cow_db import CowTable, cow_db_hash
from simgap.domains.fast_env import cow_environment, cow_pristine
from simgap.models import Role, ToolCall


def _env(domain: str = "airline") -> Any:
    env = cow_environment(domain)
    assert env is not None
    return env


def _hash_ok(env: Any, domain: str = "airline") -> None:
    p = cow_pristine(domain)
    assert p is not None
    assert cow_db_hash(env.tools.db, p) == env.get_db_hash()


def test_untouched_database_hashes_like_tau2() -> None:
    _hash_ok(_env())
    _hash_ok(_env("retail"), "retail")


def test_reads_writes_inserts_and_deletes_hash_like_tau2() -> None:
    env = _env()
    db = env.tools.db
    env.make_tool_call("get_reservation_details", reservation_id="Z7GOZK")
    _hash_ok(env)
    env.make_tool_call("cancel_reservation", reservation_id="Z7GOZK")
    _hash_ok(env)
    some = next(iter(db.reservations))
    rec = db.reservations.pop(some)
    _hash_ok(env)
    db.reservations["NEW001"] = rec.model_copy(update={"reservation_id": "NEW001"})
    _hash_ok(env)
    del db.users[next(iter(db.users))]
    _hash_ok(env)
    for f in db.flights.values():  # an iteration hands out copies of every record
        f.origin = f.origin
    _hash_ok(env)
    db.users.setdefault(next(iter(db.users)), None)
    db.users.update({})
    _hash_ok(env)


def test_sessions_never_change_the_pristine_database_or_each_other() -> None:
    a, b = _env(), _env()
    before = b.get_db_hash()
    a.make_tool_call("cancel_reservation", reservation_id="Z7GOZK")
    a.tools.db.users.clear()
    assert a.get_db_hash() != before
    assert b.get_db_hash() == before
    assert _env().get_db_hash() == before
    p = cow_pristine("airline")
    assert p is not None and p.db.reservations["Z7GOZK"].status != "cancelled"


def test_plain_dict_behaviour() -> None:
    t = CowTable({"a": [1], "b": [2]})
    assert t["a"] == [1] and t.get("x") is None and "b" in t and len(t) == 2
    t["a"].append(9)
    assert t["a"] == [1, 9] and t.owned == {"a"}
    assert sorted(t) == ["a", "b"] and dict(t.items()) == {"a": [1, 9], "b": [2]}
    with pytest.raises(KeyError):
        t["missing"]
    with pytest.raises(KeyError):
        t.pop("missing")
    assert t.pop("missing", 0) == 0
    assert t.popitem() == ("b", [2])
    assert t.copy() == {"a": [1, 9]}


def test_shape_it_does_not_know_falls_back() -> None:
    p = cow_pristine("airline")
    assert p is not None
    assert cow_db_hash(object(), p) is None
    eager = p.db.model_copy(deep=True)  # plain dicts, not CowTables
    assert cow_db_hash(eager, p) is None


def test_session_environment_is_copy_on_access_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    env = DomainEnvironment(task)
    assert type(env._env.tools.db.reservations) is CowTable
    env.call(
        ToolCall(id="c", name="cancel_reservation", arguments={"reservation_id": "Z7GOZK"}),
        requestor=Role.AGENT,
        idx=0,
    )
    _hash_ok(env._env)
    monkeypatch.setenv("SIMGAP_COW_DB", "0")
    assert type(DomainEnvironment(task)._env.tools.db.reservations) is dict


def test_initialization_data_gets_a_full_copy() -> None:
    task = load_tasks("mock", task_ids=["update_task_with_initialization_data"])[0]
    env = DomainEnvironment(task)
    assert type(env._env.tools.db.tasks) is dict


def test_swapped_records_at_the_edges_hash_like_tau2() -> None:
    """The fast path (same key set, pristine text with reached records swapped) at the first
    and last record in sorted order, and a record deleted and put back under its own key."""
    env = _env()
    res = env.tools.db.reservations
    keys = sorted(res)
    first, last = keys[0], keys[-1]
    res[first].status = "cancelled"
    res[last].flights = []
    _hash_ok(env)
    rec = res.pop(keys[len(keys) // 2])
    res[keys[len(keys) // 2]] = rec  # same key set again, record now owned
    _hash_ok(env)
    p = cow_pristine("airline")
    assert p is not None
    res[first] = "not a reservation"  # a record of another type: the caller hashes τ²'s way
    assert cow_db_hash(env.tools.db, p) is None


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["read", "write", "pop", "put_back", "add", "replace"]),
        st.integers(min_value=0, max_value=10**6),
    ),
    max_size=8,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_OPS)
def test_any_sequence_of_table_edits_hashes_like_tau2(ops: list[tuple[str, int]]) -> None:
    """Property: whatever a session does to a table (reach, change, delete, re-insert under the
    same or a new key), the copy-on-access hash is τ²'s `get_db_hash` of the same database."""
    env = _env()
    res = env.tools.db.reservations
    popped: list[tuple[str, Any]] = []
    for op, n in ops:
        keys = sorted(res)
        key = keys[n % len(keys)]
        if op == "read":
            res.get(key)
        elif op == "write":
            res[key].status = "cancelled" if n % 2 else "active"
        elif op == "pop":
            popped.append((key, res.pop(key)))
        elif op == "put_back" and popped:
            k, rec = popped.pop()
            res[k] = rec
        elif op == "add":
            new = f"NEW{n:07d}"
            res[new] = res[key].model_copy(update={"reservation_id": new})
        elif op == "replace":
            res[key] = res[key].model_copy(update={"payment_history": []})
    _hash_ok(env)
