"""The faster environment constructor gives databases identical to τ²'s own, independent per
environment, and τ²'s evaluator scores the same on it."""

from __future__ import annotations

import pytest

from simgap.domains import DomainEnvironment, load_tasks, tau2_runtime
from simgap.domains.fast_env import PREFIX, env_domain_name


@pytest.mark.parametrize("domain", ["airline", "retail", "mock", "telecom"])
def test_same_database_as_tau2(domain: str) -> None:
    reg = tau2_runtime.registry()
    fast = reg.get_env_constructor(env_domain_name(domain))()
    plain = reg.get_env_constructor(domain)()
    assert env_domain_name(domain) == PREFIX + domain
    assert fast.get_db_hash() == plain.get_db_hash()
    assert fast.get_user_db_hash() == plain.get_user_db_hash()
    assert fast.get_policy() == plain.get_policy()
    assert [t.name for t in fast.get_tools()] == [t.name for t in plain.get_tools()]


def test_environments_do_not_share_state() -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    a, b = DomainEnvironment(task), DomainEnvironment(task)
    before = b._env.get_db_hash()
    a._env.make_tool_call("cancel_reservation", requestor="assistant", reservation_id="Z7GOZK")
    assert a._env.get_db_hash() != before
    assert b._env.get_db_hash() == before
    assert DomainEnvironment(task)._env.get_db_hash() == before


def test_telecom_environments_do_not_share_the_phone() -> None:
    task = load_tasks("telecom", limit=1)[0]
    a, b = DomainEnvironment(task), DomainEnvironment(task)
    before = b._env.get_user_db_hash()
    a._env.user_tools.db.surroundings.phone_number = "000"
    assert a._env.get_user_db_hash() != before
    assert b._env.get_user_db_hash() == before


def test_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMGAP_FAST_ENV", "0")
    assert env_domain_name("airline") == "airline"


@pytest.mark.parametrize("domain", ["airline", "telecom"])
def test_tool_schemas_cached_equal_tau2s_and_independent(domain: str) -> None:
    task = load_tasks(domain, limit=1)[0]
    env = DomainEnvironment(task)
    own = [t.openai_schema for t in env._env.get_tools()]
    assert env.agent_tools() == own
    first = env.agent_tools()
    first[0]["function"]["name"] = "changed"
    assert DomainEnvironment(task).agent_tools() == own
    if domain == "telecom":
        assert env.user_tools() == [t.openai_schema for t in env._env.get_user_tools()]
